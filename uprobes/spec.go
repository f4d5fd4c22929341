package uprobes

// Invariants (spec.go):
//   - ParseSpec accepts what Linux's uprobe_events accepts (kernel/trace/
//     trace_uprobe.c, trace_probe.c), plus PATH:SYMBOL[+OFF]; every error
//     wraps an errno (EINVAL, or ERANGE for a number that overflows, as
//     kstrtoul reports) and no input panics.
//   - A parsed probe (p/r) always has a Group; it has an Event unless it names
//     a SYMBOL and no event, in which case Resolve generates it from the
//     resolved offset, as Linux would have had the user written the offset.
//   - ParseSpec(s.String()) describes the same probe as s.

import (
	"fmt"
	"strconv"
	"strings"

	"specvma/errno"
)

// Kind is what an uprobe_events line does.
type Kind int

// The kinds of uprobe_events lines.
const (
	Entry  Kind = iota // p: a uprobe
	Return             // r: a uretprobe
	Delete             // -: remove an event
)

func (k Kind) String() string {
	switch k {
	case Entry:
		return "p"
	case Return:
		return "r"
	case Delete:
		return "-"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// DefaultGroup is the group of events created without one (UPROBE_EVENT_SYSTEM).
const DefaultGroup = "uprobes"

// maxEventNameLen is MAX_EVENT_NAME_LEN: names are shorter than this.
const maxEventNameLen = 64

// Spec is one parsed uprobe_events line.
type Spec struct {
	Kind         Kind
	Group        string // DefaultGroup when not given; "" in a Delete means any group
	Event        string // "" in a Delete means every event of Group
	Path         string
	Offset       uint64 // file offset (after Resolve when Symbol is set)
	Symbol       string // PATH:SYMBOL[+OFF] form, "" otherwise
	SymOff       uint64
	RefCtrOffset uint64
	HasRefCtr    bool
	Args         []string // FETCHARGS, opaque; for a Delete, the probe to match
}

// SpecError is a malformed uprobe_events line.
type SpecError struct {
	Line  string
	Msg   string
	Errno errno.Errno
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("uprobe_events %q: %s", e.Line, e.Msg)
}

// Unwrap gives the errno Linux would return for the write.
func (e *SpecError) Unwrap() error { return e.Errno }

// Name is the event as GRP/EVENT.
func (s Spec) Name() string { return s.Group + "/" + s.Event }

// DefaultEventName is the name Linux gives a probe created without one: "p_",
// the file's base name cut at its first '.', '-' or '_', "_0x" and the offset
// in hex ("p_bash_0x4245c0"). Linux uses "p_" for return probes too.
func DefaultEventName(path string, offset uint64) string {
	tail := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.IndexAny(tail, ".-_"); i >= 0 {
		tail = tail[:i]
	}
	name := "p_" + tail + "_0x" + strconv.FormatUint(offset, 16)
	if len(name) >= maxEventNameLen { // snprintf into a MAX_EVENT_NAME_LEN buffer
		name = name[:maxEventNameLen-1]
	}
	return name
}

// ParseSpec parses one uprobe_events line:
//
//	p[:[GRP/][EVENT]] PATH:OFFSET[%return][(REF_CTR_OFFSET)] [FETCHARGS]
//	r[:[GRP/][EVENT]] PATH:OFFSET[(REF_CTR_OFFSET)] [FETCHARGS]
//	-:[GRP/][EVENT] [PATH:OFFSET ...]
//
// GRP.EVENT is accepted for GRP/EVENT, as Linux does (checked on 6.18).
// OFFSET may also be SYMBOL[+OFF], resolved later by Resolve. Numbers follow
// kstrtoul(s, 0): decimal, 0x hex or 0 octal, with an optional '+'. A '#'
// starts a comment.
func ParseSpec(line string) (Spec, error) {
	p := parser{line: line}
	text := line
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	f := strings.Fields(text)
	if len(f) == 0 {
		return Spec{}, p.fail("empty command")
	}
	switch f[0][0] {
	case 'p', 'r':
		return p.probe(f)
	case '-':
		return p.delete(f)
	}
	return Spec{}, p.fail("unknown command %q (want p, r or -)", f[0])
}

type parser struct{ line string }

func (p parser) fail(format string, a ...any) error {
	return &SpecError{Line: p.line, Msg: fmt.Sprintf(format, a...), Errno: errno.EINVAL}
}

func (p parser) failErrno(e errno.Errno, format string, a ...any) error {
	return &SpecError{Line: p.line, Msg: fmt.Sprintf(format, a...), Errno: e}
}

func (p parser) probe(f []string) (Spec, error) {
	s := Spec{Kind: Entry, Group: DefaultGroup}
	if f[0][0] == 'r' {
		s.Kind = Return
	}
	if err := p.probeHead(f[0], &s); err != nil {
		return Spec{}, err
	}
	if len(f) < 2 {
		return Spec{}, p.fail("missing PATH:OFFSET")
	}
	if err := p.target(f[1], &s); err != nil {
		return Spec{}, err
	}
	if len(f) > 2 {
		s.Args = append([]string(nil), f[2:]...)
	}
	if err := p.checkFetchArgs(s.Args, s.Kind == Return); err != nil {
		return Spec{}, err
	}
	if s.Event == "" && s.Symbol == "" {
		s.Event = DefaultEventName(s.Path, s.Offset)
	}
	return s, nil
}

// probeHead parses "p", "r", "p:[GRP/][EVENT]" or "r:[GRP/][EVENT]".
func (p parser) probeHead(head string, s *Spec) error {
	if len(head) == 1 || head[1] != ':' {
		return nil // Linux reads only the first two bytes: "px" is "p"
	}
	name := head[2:]
	slash := strings.IndexByte(name, '/')
	if slash < 0 {
		slash = strings.IndexByte(name, '.') // GRP.EVENT also separates
	}
	if slash >= 0 {
		if err := p.checkGroup(name[:slash]); err != nil {
			return err
		}
		s.Group, name = name[:slash], name[slash+1:]
	}
	if name == "" && slash < 0 {
		return p.fail("no event name after %q", head[:2])
	}
	if name != "" {
		if err := p.checkEvent(name); err != nil {
			return err
		}
	}
	s.Event = name
	return nil
}

func (p parser) checkGroup(g string) error {
	switch {
	case g == "":
		return p.fail("empty group name")
	case len(g) >= maxEventNameLen:
		return p.fail("group name %q too long (max %d)", g, maxEventNameLen-1)
	case !goodName(g, true):
		return p.fail("bad group name %q (letters, digits, '_' and '-'; not a digit first)", g)
	}
	return nil
}

func (p parser) checkEvent(e string) error {
	switch {
	case len(e) >= maxEventNameLen:
		return p.fail("event name %q too long (max %d)", e, maxEventNameLen-1)
	case !goodName(e, false):
		return p.fail("bad event name %q (letters, digits and '_'; not a digit first)", e)
	}
	return nil
}

// goodName is the kernel's is_good_name (is_good_system_name with dash).
func goodName(s string, dash bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := isAlpha(c) || c == '_' || (dash && c == '-') || (i > 0 && isDigit(c))
		if !ok {
			return false
		}
	}
	return s != ""
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// target parses PATH:OFFSET[%return][(REF)] or PATH:SYMBOL[+OFF][%return][(REF)].
func (p parser) target(arg string, s *Spec) error {
	colon := strings.LastIndexByte(arg, ':')
	if colon < 0 {
		return p.fail("%q: want PATH:OFFSET", arg)
	}
	s.Path = arg[:colon]
	if !strings.Contains(s.Path, "/") {
		return p.fail("path %q must contain '/'", s.Path)
	}
	rest, err := p.refCtr(arg[colon+1:], s)
	if err != nil {
		return err
	}
	if rest, err = p.returnSuffix(rest, s); err != nil {
		return err
	}
	if rest != "" && isDigit(rest[0]) {
		s.Offset, err = p.number(rest, "offset")
		return err
	}
	return p.symbol(rest, s)
}

// refCtr strips and parses a trailing "(REF_CTR_OFFSET)".
func (p parser) refCtr(rest string, s *Spec) (string, error) {
	open := strings.IndexByte(rest, '(')
	if open < 0 {
		return rest, nil
	}
	inner := rest[open+1:]
	end := strings.IndexByte(inner, ')')
	switch {
	case end < 0:
		return "", p.fail("reference counter offset %q: missing ')'", rest[open:])
	case end != len(inner)-1:
		return "", p.fail("reference counter offset: junk %q after ')'", inner[end+1:])
	}
	v, err := p.number(inner[:end], "reference counter offset")
	s.RefCtrOffset, s.HasRefCtr = v, true
	return rest[:open], err
}

// returnSuffix strips a "%return" suffix, which makes the probe a return probe.
func (p parser) returnSuffix(rest string, s *Spec) (string, error) {
	pct := strings.IndexByte(rest, '%')
	if pct < 0 {
		return rest, nil
	}
	if rest[pct:] != "%return" {
		return "", p.fail("bad suffix %q (only %%return)", rest[pct:])
	}
	s.Kind = Return
	return rest[:pct], nil
}

// symbol parses SYMBOL[+OFF].
func (p parser) symbol(rest string, s *Spec) error {
	name, off, hasOff := strings.Cut(rest, "+")
	if name == "" {
		return p.fail("missing offset or symbol after ':'")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlpha(c) && !isDigit(c) && !strings.ContainsRune("_.$@", rune(c)) {
			return p.fail("bad symbol name %q", name)
		}
	}
	s.Symbol = name
	if !hasOff {
		return nil
	}
	var err error
	s.SymOff, err = p.number(off, "symbol offset")
	return err
}

func (p parser) number(text, what string) (uint64, error) {
	v, e := kstrtoul(text)
	switch e {
	case 0:
		return v, nil
	case errno.ERANGE:
		return 0, p.failErrno(e, "%s %q out of range", what, text)
	}
	return 0, p.fail("bad %s %q", what, text)
}

// kstrtoul parses like the kernel's kstrtoul(s, 0, &v): an optional '+',
// then 0x hex, 0 octal or decimal, and nothing after the digits.
func kstrtoul(s string) (uint64, errno.Errno) {
	s = strings.TrimPrefix(s, "+")
	base := uint64(10)
	switch {
	case len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x' && digitVal(s[2]) < 16:
		base, s = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	if s == "" {
		return 0, errno.EINVAL
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			return 0, errno.EINVAL
		}
		if v > (^uint64(0)-d)/base {
			return 0, errno.ERANGE
		}
		v = v*base + d
	}
	return v, 0
}

func digitVal(c byte) uint64 {
	switch {
	case isDigit(c):
		return uint64(c - '0')
	case isAlpha(c):
		return uint64(c|0x20-'a') + 10
	}
	return 36
}

func (p parser) delete(f []string) (Spec, error) {
	head := f[0]
	if len(head) < 2 || head[1] != ':' {
		return Spec{}, p.fail("want -:[GRP/]EVENT, got %q", head)
	}
	s := Spec{Kind: Delete, Event: head[2:]}
	if g, e, ok := strings.Cut(s.Event, "/"); ok {
		if g == "" { // Linux compares with an empty group: nothing matches
			return Spec{}, p.failErrno(errno.ENOENT, "empty group name matches no event")
		}
		s.Group, s.Event = g, e
	}
	if s.Group == "" && s.Event == "" {
		return Spec{}, p.fail("no event name after \"-:\"")
	}
	if len(f) > 1 {
		s.Args = append([]string(nil), f[1:]...)
	}
	return s, nil
}

// String renders s in the form Linux lists in uprobe_events
// ("p:uprobes/p_bash_0x4245c0 /bin/bash:0x00000000004245c0"); a spec with an
// unresolved symbol keeps SYMBOL[+0xOFF] for OFFSET.
func (s Spec) String() string {
	var b strings.Builder
	if s.Kind == Delete {
		b.WriteString("-:")
		if s.Group != "" {
			b.WriteString(s.Group + "/")
		}
		b.WriteString(s.Event)
		s.writeArgs(&b)
		return b.String()
	}
	fmt.Fprintf(&b, "%s:%s/%s %s:", s.Kind, s.Group, s.Event, s.Path)
	if s.Symbol != "" {
		b.WriteString(s.Symbol)
		if s.SymOff != 0 {
			fmt.Fprintf(&b, "+%#x", s.SymOff)
		}
	} else {
		fmt.Fprintf(&b, "0x%016x", s.Offset)
	}
	if s.RefCtrOffset != 0 {
		fmt.Fprintf(&b, "(%#x)", s.RefCtrOffset)
	}
	s.writeArgs(&b)
	return b.String()
}

// writeArgs appends the arguments; a probe's unnamed argument is listed as
// argN=..., as Linux names it.
func (s Spec) writeArgs(b *strings.Builder) {
	for i, a := range s.Args {
		if s.Kind != Delete && !strings.Contains(a, "=") {
			a = "arg" + strconv.Itoa(i+1) + "=" + a
		}
		b.WriteString(" " + a)
	}
}

// Resolve returns s with a SYMBOL[+OFF] turned into a file offset through
// the ELF file at s.Path, and the default event name filled in if s had
// none. A spec without a symbol is returned as it is.
func (s Spec) Resolve() (Spec, error) {
	if s.Kind == Delete || s.Symbol == "" {
		return s, nil
	}
	fs, err := lookupSymbolFile(s.Path, s.Symbol)
	if err != nil {
		return s, err
	}
	if fs.size > 0 && s.SymOff >= fs.size {
		return s, fmt.Errorf("uprobes: offset %#x is beyond %s (size %#x): %w",
			s.SymOff, s.Symbol, fs.size, errno.EINVAL)
	}
	if fs.off+s.SymOff < fs.off {
		return s, fmt.Errorf("uprobes: %s+%#x overflows: %w", s.Symbol, s.SymOff, errno.ERANGE)
	}
	s.Offset = fs.off + s.SymOff
	s.Symbol, s.SymOff = "", 0
	if s.Event == "" {
		s.Event = DefaultEventName(s.Path, s.Offset)
	}
	return s, nil
}
