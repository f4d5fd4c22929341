package litmus

import (
	"fmt"
	"strings"
)

// tokKind classifies tokens.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNum
	tPunct
)

type token struct {
	kind tokKind
	text string
	num  int64
	line int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// puncts lists multi-character punctuation first, so the lexer takes the
// longest match.
var puncts = []string{
	"/\\", "\\/", "==", "!=", "<=", ">=", "&&", "||", "++", "<<", ">>",
	"(", ")", "{", "}", "[", "]", ";", ",", "*", "&", "=", "<", ">",
	"+", "-", "/", "%", "^", "|", "~", "!", ":",
}

// lexError is a positioned lexing or parsing failure.
type lexError struct {
	line int
	msg  string
}

// lex splits src (the text after the "C NAME" line, which starts at line
// first) into tokens. Comments are // and /* */ everywhere, and (* *)
// outside braces, where C code never has "(*".
func lex(src string, first int) ([]token, *lexError) {
	var toks []token
	line := first
	depth := 0
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, &lexError{line, "unterminated /* comment"}
			}
			line += strings.Count(src[i:i+2+end+2], "\n")
			i += 2 + end + 2
		case depth == 0 && strings.HasPrefix(src[i:], "(*"):
			end := strings.Index(src[i+2:], "*)")
			if end < 0 {
				return nil, &lexError{line, "unterminated (* comment"}
			}
			line += strings.Count(src[i:i+2+end+2], "\n")
			i += 2 + end + 2
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], line: line})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdentChar(src[j])) {
				j++
			}
			n, err := parseNum(src[i:j])
			if err != nil {
				return nil, &lexError{line, fmt.Sprintf("bad number %q", src[i:j])}
			}
			toks = append(toks, token{kind: tNum, text: src[i:j], num: n, line: line})
			i = j
		default:
			found := ""
			for _, p := range puncts {
				if strings.HasPrefix(src[i:], p) {
					found = p
					break
				}
			}
			if found == "" {
				return nil, &lexError{line, fmt.Sprintf("unexpected character %q", c)}
			}
			switch found {
			case "{":
				depth++
			case "}":
				if depth > 0 {
					depth--
				}
			}
			toks = append(toks, token{kind: tPunct, text: found, line: line})
			i += len(found)
		}
	}
	toks = append(toks, token{kind: tEOF, line: line})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// parseNum reads a decimal or 0x hexadecimal constant that fits in 32 bits
// (litmus values are small; the bound keeps arithmetic far from overflow).
func parseNum(s string) (int64, error) {
	var n int64
	base := int64(10)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		base = 16
		s = s[2:]
		if s == "" {
			return 0, fmt.Errorf("empty")
		}
	}
	for _, c := range s {
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = int64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = int64(c-'A') + 10
		default:
			return 0, fmt.Errorf("bad digit")
		}
		if d >= base {
			return 0, fmt.Errorf("bad digit")
		}
		n = n*base + d
		if n > 1<<32 {
			return 0, fmt.Errorf("too large")
		}
	}
	return n, nil
}
