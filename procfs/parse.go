package procfs

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"

	"specvma/mm"
	"specvma/vfs"
)

// Perms is the permission column of a maps line.
type Perms uint8

// Permission bits.
const (
	PermRead   Perms = 1 << iota // 'r'
	PermWrite                    // 'w'
	PermExec                     // 'x'
	PermShared                   // 's' (VM_MAYSHARE), else 'p'
)

// Read reports 'r'.
func (p Perms) Read() bool { return p&PermRead != 0 }

// Write reports 'w'.
func (p Perms) Write() bool { return p&PermWrite != 0 }

// Exec reports 'x'.
func (p Perms) Exec() bool { return p&PermExec != 0 }

// Shared reports 's' (a shared mapping) rather than 'p'.
func (p Perms) Shared() bool { return p&PermShared != 0 }

// String returns the four characters maps prints, such as "r-xp".
func (p Perms) String() string { return string(p.appendTo(make([]byte, 0, 4))) }

func (p Perms) appendTo(dst []byte) []byte {
	c := [4]byte{'-', '-', '-', 'p'}
	if p.Read() {
		c[0] = 'r'
	}
	if p.Write() {
		c[1] = 'w'
	}
	if p.Exec() {
		c[2] = 'x'
	}
	if p.Shared() {
		c[3] = 's'
	}
	return append(dst, c[:]...)
}

// ParsePerms parses a permission column such as "rw-p".
func ParsePerms(s string) (Perms, error) {
	if len(s) != 4 {
		return 0, errors.New("permissions must be 4 characters")
	}
	var p Perms
	for i, bit := range [3]Perms{PermRead, PermWrite, PermExec} {
		switch s[i] {
		case "rwx"[i]:
			p |= bit
		case '-':
		default:
			return 0, errors.New("bad permission character " + strconv.QuoteRune(rune(s[i])))
		}
	}
	switch s[3] {
	case 's':
		p |= PermShared
	case 'p':
	default:
		return 0, errors.New("bad sharing character " + strconv.QuoteRune(rune(s[3])) + ", want s or p")
	}
	return p, nil
}

// Entry is one line of /proc/PID/maps.
type Entry struct {
	Start, End uint64
	Perms      Perms
	Offset     uint64 // in bytes
	Dev        vfs.Dev
	Inode      uint64
	// Name is the name column exactly as printed ("" when the line has
	// none): a path (with " (deleted)" when unlinked, a newline as \012),
	// or a bracketed name such as [heap], [vdso] or [anon:NAME].
	Name string
	// Flags are the VMA's vm_flags from the VmFlags line of
	// /proc/PID/smaps (ParseSmaps), when HasFlags; maps lines have none.
	Flags    mm.VMFlags
	HasFlags bool
}

// Deleted reports a name with the " (deleted)" suffix of an unlinked file.
func (e Entry) Deleted() bool { return strings.HasSuffix(e.Name, deletedSuffix) }

// Path returns the file path of a name: the name without " (deleted)",
// with the kernel's \012 escapes turned back into newlines. It is only
// meaningful for file-backed entries (see FileBacked).
func (e Entry) Path() string {
	p := strings.TrimSuffix(e.Name, deletedSuffix)
	return strings.ReplaceAll(p, `\012`, "\n")
}

// FileBacked reports whether the line names a file mapping: the kernel
// prints a device, an inode and an offset only for those.
func (e Entry) FileBacked() bool {
	return e.Dev != (vfs.Dev{}) || e.Inode != 0 || e.Offset != 0
}

// AnonName returns NAME for a name [anon:NAME] or [anon_shmem:NAME].
func (e Entry) AnonName() (string, bool) {
	for _, prefix := range [...]string{anonPrefix, anonShmemPrefix} {
		if strings.HasPrefix(e.Name, prefix) && strings.HasSuffix(e.Name, "]") &&
			len(e.Name) > len(prefix)+1 {
			return e.Name[len(prefix) : len(e.Name)-1], true
		}
	}
	return "", false
}

// IsGate reports the x86-64 [vsyscall] gate line.
func (e Entry) IsGate() bool {
	return e.Name == gateName && e.Start == GateStart && e.End == GateEnd &&
		e.Perms == PermExec && e.Offset == 0 && e.Dev == (vfs.Dev{}) && e.Inode == 0
}

// String returns the line as the kernel prints it, without the newline.
func (e Entry) String() string {
	b := AppendEntry(make([]byte, 0, 128), e)
	return string(b[:len(b)-1])
}

// AppendEntry appends e's line, newline included, in the kernel's format.
func AppendEntry(dst []byte, e Entry) []byte {
	lineStart := len(dst)
	dst = appendHeader(dst, e.Start, e.End, e.Perms, e.Offset, e.Dev, e.Inode)
	if e.Name != "" {
		dst = pad(dst, lineStart)
		dst = append(dst, e.Name...)
	}
	return append(dst, '\n')
}

// Format returns entries as the kernel prints them.
func Format(entries []Entry) string {
	var b []byte
	for _, e := range entries {
		b = AppendEntry(b, e)
	}
	return string(b)
}

// SyntaxError is a maps line that does not parse.
type SyntaxError struct {
	Line int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Msg }

// Parse reads a whole maps text. The last line may lack its newline; an
// empty text has no entries. Errors are *SyntaxError, "line N: ...".
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	err := eachLine(r, func(line string) string {
		e, msg := parseLine(line)
		if msg == "" {
			out = append(out, e)
		}
		return msg
	})
	return out, err
}

// eachLine calls do with each line of r, without its newline (the last
// may lack one); a message from do, or a read error, stops it with a
// *SyntaxError for that line.
func eachLine(r io.Reader, do func(line string) string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return &SyntaxError{Line: n, Msg: "read: " + err.Error()}
		}
		if line == "" && err == io.EOF {
			return nil
		}
		if msg := do(strings.TrimSuffix(line, "\n")); msg != "" {
			return &SyntaxError{Line: n, Msg: msg}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// ParseString parses a maps text held in a string, as Parse does.
func ParseString(text string) ([]Entry, error) { return parseText(text, nil) }

// ParseBytes parses a maps text held in a byte slice, as Parse does.
func ParseBytes(text []byte) ([]Entry, error) { return parseText(string(text), nil) }

// parseText is Parse for a whole text in memory, keeping only the entries
// keep accepts (all with a nil keep). It sizes the result once (without a
// keep) and takes each line as a slice of text, so a large text costs one
// allocation for the entries rather than one per line and a growing copy.
// The names are copied: nothing returned refers to text, so a caller may
// pass a string that aliases a buffer it reuses.
func parseText(text string, keep func(Entry) bool) ([]Entry, error) {
	var out []Entry
	if keep == nil {
		out = make([]Entry, 0, strings.Count(text, "\n")+1)
	}
	for n := 1; text != ""; n++ {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		e, msg := parseLine(line)
		if msg != "" {
			return out, &SyntaxError{Line: n, Msg: msg}
		}
		if keep == nil || keep(e) {
			e.Name = strings.Clone(e.Name)
			out = append(out, e)
		}
	}
	return out, nil
}

// ParseLine parses one maps line, with or without its newline. Its errors
// are *SyntaxError for line 1.
func ParseLine(line string) (Entry, error) {
	e, msg := parseLine(strings.TrimSuffix(line, "\n"))
	if msg != "" {
		return Entry{}, &SyntaxError{Line: 1, Msg: msg}
	}
	return e, nil
}

// parseLine parses a line without its newline; a non-empty msg says why it
// does not parse.
//
// The header is read leniently (any number of hex digits, runs of spaces
// between fields). The name is read exactly where the kernel puts it, so
// that a name's own leading spaces survive; when the padding is not the
// kernel's, the name is what follows the spaces after the inode.
func parseLine(s string) (e Entry, msg string) {
	if s == "" {
		return e, "empty line"
	}
	if strings.IndexByte(s, '\n') >= 0 {
		return e, "newline inside a line"
	}
	p := lineParser{s: s}
	var ok bool
	if e.Start, ok = p.hex(64, "start address"); !ok {
		return e, p.msg
	}
	if !p.byte('-', "'-' after the start address") {
		return e, p.msg
	}
	if e.End, ok = p.hex(64, "end address"); !ok {
		return e, p.msg
	}
	if e.Start >= e.End {
		return e, "empty or reversed range " + s[:p.i]
	}
	if !p.spaces("permissions") {
		return e, p.msg
	}
	perm := p.field()
	var err error
	if e.Perms, err = ParsePerms(perm); err != nil {
		return e, err.Error() + " in " + strconv.Quote(perm)
	}
	if !p.spaces("offset") {
		return e, p.msg
	}
	if e.Offset, ok = p.hex(64, "offset"); !ok {
		return e, p.msg
	}
	if !p.spaces("device") {
		return e, p.msg
	}
	major, ok := p.hex(32, "device major")
	if !ok {
		return e, p.msg
	}
	if !p.byte(':', "':' in the device") {
		return e, p.msg
	}
	minor, ok := p.hex(32, "device minor")
	if !ok {
		return e, p.msg
	}
	e.Dev = vfs.Dev{Major: uint32(major), Minor: uint32(minor)}
	if !p.spaces("inode") {
		return e, p.msg
	}
	if e.Inode, ok = p.dec("inode"); !ok {
		return e, p.msg
	}
	rest := s[p.i:]
	if rest == "" || strings.TrimLeft(rest, " ") == "" {
		return e, "" // no name; the kernel leaves one trailing space
	}
	if rest[0] != ' ' {
		return e, "unexpected " + strconv.Quote(rest) + " after the inode"
	}
	// The kernel writes the header and a space (p.i+1 bytes), pads to
	// headerWidth and writes one more space before the name.
	at := max(p.i+1, headerWidth) + 1
	if at <= len(s) && strings.TrimLeft(s[p.i:at], " ") == "" {
		e.Name = s[at:]
	} else {
		e.Name = strings.TrimLeft(rest, " ")
	}
	return e, ""
}

// lineParser walks the header of a maps line.
type lineParser struct {
	s   string
	i   int
	msg string
}

func (p *lineParser) fail(msg string) bool {
	p.msg = msg
	if p.i < len(p.s) {
		p.msg += " at column " + strconv.Itoa(p.i+1)
	} else {
		p.msg += " at the end of the line"
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (p *lineParser) run(ok func(byte) bool) string {
	j := p.i
	for j < len(p.s) && ok(p.s[j]) {
		j++
	}
	tok := p.s[p.i:j]
	p.i = j
	return tok
}

func (p *lineParser) hex(bits int, what string) (uint64, bool) {
	tok := p.run(isHex)
	if tok == "" {
		return 0, p.fail("missing " + what)
	}
	v, err := strconv.ParseUint(tok, 16, bits)
	if err != nil {
		return 0, p.fail(what + " " + tok + " out of range")
	}
	return v, true
}

func (p *lineParser) dec(what string) (uint64, bool) {
	tok := p.run(func(c byte) bool { return '0' <= c && c <= '9' })
	if tok == "" {
		return 0, p.fail("missing " + what)
	}
	v, err := strconv.ParseUint(tok, 10, 64)
	if err != nil {
		return 0, p.fail(what + " " + tok + " out of range")
	}
	return v, true
}

func (p *lineParser) byte(c byte, what string) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return p.fail("missing " + what)
}

// spaces skips the spaces before the next field, of which there must be one.
func (p *lineParser) spaces(next string) bool {
	if p.run(func(c byte) bool { return c == ' ' }) == "" {
		return p.fail("missing space before the " + next)
	}
	if p.i == len(p.s) {
		return p.fail("missing " + next)
	}
	return true
}

// field takes the characters up to the next space.
func (p *lineParser) field() string { return p.run(func(c byte) bool { return c != ' ' }) }
