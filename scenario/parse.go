// Package scenario is the script language behind `specvma run`: a small,
// line-oriented language of address-space system calls (mmap, munmap,
// mprotect, mremap, ...), /proc/PID/maps dumps and uprobe events, run
// against a Backend — the specvma model, or the running Linux kernel — and
// printing strace-style results, so that one script can be checked against
// both.
//
// A script is parsed whole before anything runs: a malformed line anywhere
// stops the run before any output. docs/scenario.md is the reference.
package scenario

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"specvma/procfs"

	"specvma/mm"
)

// Error is a script error: a malformed line found by Parse, or a run that
// cannot go on (a backend refusing an address space, uprobes missing). It
// prints as FILE:LINE: message.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Op is a script command.
type Op int

// The commands, one per script keyword.
const (
	OpProcess     Op = iota + 1 // process NAME [fork]
	OpOpen                      // open NAME PATH
	OpClose                     // close NAME
	OpMmap                      // mmap ADDR LEN PROT FLAGS [FILE OFFSET]
	OpMunmap                    // munmap ADDR LEN
	OpMprotect                  // mprotect ADDR LEN PROT
	OpMremap                    // mremap OLD OLDLEN NEWLEN FLAGS [NEWADDR]
	OpAnonName                  // anon_name ADDR LEN NAME
	OpTouch                     // touch ADDR read|write
	OpMaps                      // maps [READER]
	OpProbe                     // probe SPEC
	OpHit                       // hit ADDR
	OpRet                       // ret
	OpBreakpoints               // breakpoints
	OpConfig                    // config KEY VALUE
	OpMadvise                   // madvise ADDR LEN ADVICE
	OpMlock                     // mlock ADDR LEN
	OpMlock2                    // mlock2 ADDR LEN FLAGS
	OpMunlock                   // munlock ADDR LEN
	OpMlockall                  // mlockall FLAGS
	OpMunlockall                // munlockall
	OpMseal                     // mseal ADDR LEN [FLAGS]
	OpBrk                       // brk ADDR
	OpQuery                     // query ADDR FLAGS
)

var opNames = map[Op]string{
	OpProcess: "process", OpOpen: "open", OpClose: "close", OpMmap: "mmap",
	OpMunmap: "munmap", OpMprotect: "mprotect", OpMremap: "mremap",
	OpAnonName: "anon_name", OpTouch: "touch", OpMaps: "maps", OpProbe: "probe",
	OpHit: "hit", OpRet: "ret", OpBreakpoints: "breakpoints", OpConfig: "config",
	OpMadvise: "madvise", OpMlock: "mlock", OpMlock2: "mlock2", OpMunlock: "munlock",
	OpMlockall: "mlockall", OpMunlockall: "munlockall", OpMseal: "mseal", OpBrk: "brk",
	OpQuery: "query",
}

var opByName = func() map[string]Op {
	m := make(map[string]Op, len(opNames))
	for op, n := range opNames {
		m[n] = op
	}
	return m
}()

// String returns the command's keyword.
func (op Op) String() string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return "Op(" + strconv.Itoa(int(op)) + ")"
}

// Command is one parsed script line. Which fields mean something depends
// on Op; the others are zero.
type Command struct {
	Line int // 1-based line number in the script
	Op   Op

	// Name is the NAME of process, open and close; the FILE of mmap (a
	// NAME from open or a PATH); the NAME of anon_name (unless Clear); the
	// KEY of config (whose VALUE is Len).
	Name string
	// Path is open's PATH.
	Path string
	// HasFile reports that mmap was given FILE and OFFSET.
	HasFile bool
	// Clear reports anon_name's "-": clear the name.
	Clear bool
	// Fork reports process's "fork": NAME is a new address space, a fork
	// of the current one.
	Fork bool

	Addr   uint64 // ADDR; mremap's OLD
	Len    uint64 // LEN; mremap's OLDLEN
	NewLen uint64 // mremap's NEWLEN
	Off    uint64 // mmap's OFFSET

	// NewAddr is mremap's NEWADDR; HasNewAddr reports it was given.
	NewAddr    uint64
	HasNewAddr bool

	Prot  int // PROT_* bits
	Flags int // MAP_*, MREMAP_*, MLOCK_*, MCL_* bits, mseal's flags; madvise's MADV_* advice

	Write bool   // touch: write rather than read
	Spec  string // probe's SPEC
}

// String formats the command as a script line (without its number), in a
// canonical form that parses back to the same command.
func (c Command) String() string {
	h := func(x uint64) string { return "0x" + strconv.FormatUint(x, 16) }
	switch c.Op {
	case OpProcess, OpClose:
		if c.Fork {
			return "process " + c.Name + " fork"
		}
		return c.Op.String() + " " + c.Name
	case OpOpen:
		return "open " + c.Name + " " + c.Path
	case OpMmap:
		s := fmt.Sprintf("mmap %s %s %s %s", h(c.Addr), h(c.Len), FormatProt(c.Prot), FormatMmapFlags(c.Flags))
		if c.HasFile {
			s += " " + c.Name + " " + h(c.Off)
		}
		return s
	case OpMunmap:
		return fmt.Sprintf("munmap %s %s", h(c.Addr), h(c.Len))
	case OpMprotect:
		return fmt.Sprintf("mprotect %s %s %s", h(c.Addr), h(c.Len), FormatProt(c.Prot))
	case OpMremap:
		s := fmt.Sprintf("mremap %s %s %s %s", h(c.Addr), h(c.Len), h(c.NewLen), FormatMremapFlags(c.Flags))
		if c.HasNewAddr {
			s += " " + h(c.NewAddr)
		}
		return s
	case OpAnonName:
		n := c.Name
		if c.Clear {
			n = "-"
		}
		return fmt.Sprintf("anon_name %s %s %s", h(c.Addr), h(c.Len), n)
	case OpTouch:
		a := "read"
		if c.Write {
			a = "write"
		}
		return fmt.Sprintf("touch %s %s", h(c.Addr), a)
	case OpHit, OpBrk:
		return c.Op.String() + " " + h(c.Addr)
	case OpConfig:
		return "config " + c.Name + " " + h(c.Len)
	case OpMadvise:
		return fmt.Sprintf("madvise %s %s %s", h(c.Addr), h(c.Len), FormatAdvice(c.Flags))
	case OpMlock, OpMunlock:
		return fmt.Sprintf("%s %s %s", c.Op, h(c.Addr), h(c.Len))
	case OpMlock2:
		return fmt.Sprintf("mlock2 %s %s %s", h(c.Addr), h(c.Len), formatFlags(c.Flags, mlock2FlagNames, "0"))
	case OpMlockall:
		return "mlockall " + formatFlags(c.Flags, mlockallFlagNames, "0")
	case OpMseal:
		return fmt.Sprintf("mseal %s %s %s", h(c.Addr), h(c.Len), h(uint64(c.Flags)))
	case OpProbe:
		return "probe " + c.Spec
	case OpMaps:
		if c.Name != "" {
			return "maps " + c.Name
		}
		return "maps"
	case OpQuery:
		return "query " + h(c.Addr) + " " + procfs.FormatQueryFlags(uint64(c.Flags))
	case OpRet, OpBreakpoints, OpMunlockall:
		return c.Op.String()
	}
	return c.Op.String()
}

// Script is a parsed script.
type Script struct {
	Name     string // the file name errors are reported against
	Commands []Command
	// Echo makes Run print a transcript, as strace does: each command in
	// canonical form (Command.String) followed by its output, below it for
	// maps and breakpoints, on the same line after a space otherwise.
	Echo bool
}

// Parse reads and parses a whole script. name is the file name used in
// errors. The error, if any, is an *Error naming the first bad line.
//
// A "#" anywhere starts a comment, so names, paths and probe specs cannot
// contain one. anon_name's NAME and probe's SPEC are the rest of the line
// (Linux allows spaces in both); every other argument is one word.
func Parse(name string, r io.Reader) (*Script, error) {
	s := &Script{Name: name}
	spaces := map[string]bool{"main": true} // names a process line has used
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Line: n, Msg: "read error: " + err.Error()}
		}
		if line != "" || err == nil {
			c, ok, perr := parseLine(line)
			if perr != "" {
				return nil, &Error{File: name, Line: n, Msg: perr}
			}
			if ok && c.Op == OpProcess {
				if c.Fork && spaces[c.Name] {
					return nil, &Error{File: name, Line: n, Msg: fmt.Sprintf("process: NAME: %q exists already: fork needs a new name", c.Name)}
				}
				spaces[c.Name] = true
			}
			if ok {
				c.Line = n
				s.Commands = append(s.Commands, c)
			}
		}
		if err != nil {
			return s, nil
		}
	}
}

// ParseString parses a script held in a string.
func ParseString(name, script string) (*Script, error) {
	return Parse(name, strings.NewReader(script))
}

// parseLine parses one line; ok is false for a blank or comment line, and
// msg is non-empty for a malformed one.
func parseLine(line string) (c Command, ok bool, msg string) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return c, false, ""
	}
	word, rest := splitWord(line)
	op, known := opByName[word]
	if !known {
		return c, false, fmt.Sprintf("unknown command %q", word)
	}
	c.Op = op
	args := strings.Fields(rest)
	p := argParser{op: op}
	switch op {
	case OpProcess:
		if p.count(args, 1, 2, "NAME [fork]") {
			c.Name = args[0]
			if len(args) == 2 {
				if args[1] != "fork" {
					p.fail(fmt.Sprintf("unknown word %q: want NAME or NAME fork", args[1]))
				}
				c.Fork = true
			}
		}
	case OpClose:
		if p.count(args, 1, 1, "NAME") {
			c.Name = args[0]
		}
	case OpOpen:
		if p.count(args, 2, 2, "NAME PATH") {
			c.Name, c.Path = args[0], args[1]
		}
	case OpMmap:
		if p.count(args, 4, 6, "ADDR LEN PROT FLAGS [FILE OFFSET]") {
			if len(args) == 5 {
				p.fail("FILE needs an OFFSET: want ADDR LEN PROT FLAGS [FILE OFFSET]")
				break
			}
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
			c.Prot = p.prot(args[2])
			c.Flags = p.mmapFlags(args[3])
			if len(args) == 6 {
				c.HasFile = true
				c.Name = args[4]
				c.Off = p.num(args[5], "OFFSET")
			}
		}
	case OpMunmap:
		if p.count(args, 2, 2, "ADDR LEN") {
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
		}
	case OpMprotect:
		if p.count(args, 3, 3, "ADDR LEN PROT") {
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
			c.Prot = p.prot(args[2])
		}
	case OpMremap:
		if p.count(args, 4, 5, "OLD OLDLEN NEWLEN FLAGS [NEWADDR]") {
			c.Addr = p.num(args[0], "OLD")
			c.Len = p.num(args[1], "OLDLEN")
			c.NewLen = p.num(args[2], "NEWLEN")
			c.Flags = p.mremapFlags(args[3])
			if len(args) == 5 {
				c.HasNewAddr = true
				c.NewAddr = p.num(args[4], "NEWADDR")
			}
		}
	case OpAnonName:
		// NAME is the rest of the line: Linux allows spaces in VMA names.
		a, rest := splitWord(rest)
		l, name := splitWord(rest)
		switch {
		case a == "" || l == "" || name == "":
			p.fail("want ADDR LEN NAME")
		default:
			c.Addr = p.num(a, "ADDR")
			c.Len = p.num(l, "LEN")
			if name == "-" {
				c.Clear = true
			} else {
				c.Name = name
			}
		}
	case OpTouch:
		if p.count(args, 2, 2, "ADDR read|write") {
			c.Addr = p.num(args[0], "ADDR")
			switch args[1] {
			case "read":
			case "write":
				c.Write = true
			default:
				p.fail(fmt.Sprintf("access %q: want read or write", args[1]))
			}
		}
	case OpHit, OpBrk:
		if p.count(args, 1, 1, "ADDR") {
			c.Addr = p.num(args[0], "ADDR")
		}
	case OpMadvise:
		if p.count(args, 3, 3, "ADDR LEN ADVICE") {
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
			v, err := ParseAdvice(args[2])
			if err != nil {
				p.fail("ADVICE: " + err.Error())
			}
			c.Flags = v
		}
	case OpMlock, OpMunlock:
		if p.count(args, 2, 2, "ADDR LEN") {
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
		}
	case OpMlock2:
		if p.count(args, 3, 3, "ADDR LEN FLAGS") {
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
			c.Flags = p.flagSet(args[2], mlock2FlagNames)
		}
	case OpMlockall:
		if p.count(args, 1, 1, "FLAGS") {
			c.Flags = p.flagSet(args[0], mlockallFlagNames)
		}
	case OpMseal:
		if p.count(args, 2, 3, "ADDR LEN [FLAGS]") {
			c.Addr = p.num(args[0], "ADDR")
			c.Len = p.num(args[1], "LEN")
			if len(args) == 3 {
				c.Flags = int(p.num(args[2], "FLAGS"))
			}
		}
	case OpMunlockall:
		p.count(args, 0, 0, "no arguments")
	case OpConfig:
		if p.count(args, 2, 2, "KEY VALUE") {
			c.Name = args[0]
			c.Len = p.num(args[1], "VALUE")
			if p.msg == "" {
				var scratch mm.Config
				if err := SetConfig(&scratch, c.Name, c.Len); err != nil {
					p.fail(err.Error())
				}
			}
		}
	case OpProbe:
		// SPEC is the rest of the line: tracefs syntax has spaces in it.
		if rest == "" {
			p.fail("want SPEC")
		}
		c.Spec = rest
	case OpMaps:
		if p.count(args, 0, 1, "[READER]") && len(args) == 1 {
			if _, ok := procfs.ParseReader(args[0]); !ok {
				p.fail(fmt.Sprintf("unknown maps reader %q: want locked, snapshot or vmalock", args[0]))
			}
			c.Name = args[0]
		}
	case OpQuery:
		if p.count(args, 2, 2, "ADDR FLAGS") {
			c.Addr = p.num(args[0], "ADDR")
			if f, ok := procfs.ParseQueryFlags(args[1]); ok {
				c.Flags = int(f)
			} else {
				p.fail(fmt.Sprintf("bad FLAGS %q: want PROCMAP_QUERY_* names joined by | or a number", args[1]))
			}
		}
	case OpRet, OpBreakpoints:
		p.count(args, 0, 0, "no arguments")
	}
	if p.msg != "" {
		return Command{}, false, p.msg
	}
	return c, true, ""
}

// splitWord splits off the first whitespace-separated word of s; rest has
// no leading or trailing space.
func splitWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// argParser collects the first error of a line's arguments.
type argParser struct {
	op  Op
	msg string
}

func (p *argParser) fail(msg string) {
	if p.msg == "" {
		p.msg = p.op.String() + ": " + msg
	}
}

func (p *argParser) count(args []string, lo, hi int, want string) bool {
	if len(args) >= lo && len(args) <= hi {
		return true
	}
	if hi == 0 {
		p.fail(fmt.Sprintf("takes no arguments, got %d", len(args)))
	} else {
		p.fail(fmt.Sprintf("got %d arguments, want %s", len(args), want))
	}
	return false
}

func (p *argParser) num(s, what string) uint64 {
	v, err := ParseNumber(s)
	if err != nil {
		p.fail(fmt.Sprintf("%s: %v", what, err))
	}
	return v
}

func (p *argParser) prot(s string) int {
	v, err := ParseProt(s)
	if err != nil {
		p.fail("PROT: " + err.Error())
	}
	return v
}

func (p *argParser) mmapFlags(s string) int {
	v, err := ParseMmapFlags(s)
	if err != nil {
		p.fail("FLAGS: " + err.Error())
	}
	return v
}

func (p *argParser) mremapFlags(s string) int {
	v, err := ParseMremapFlags(s)
	if err != nil {
		p.fail("FLAGS: " + err.Error())
	}
	return v
}

// ParseNumber parses a Go unsigned integer literal: 4096, 0x1000, 0o17,
// 0b101, 1_000.
func ParseNumber(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("number %q out of range", s)
		}
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return v, nil
}

// ParseProt parses the three-letter protection in maps order: "r-x".
func ParseProt(s string) (int, error) {
	if len(s) != 3 {
		return 0, fmt.Errorf("invalid protection %q: want three letters like r-x", s)
	}
	prot := 0
	for i, bit := range [3]struct {
		c    byte
		prot int
	}{{'r', mm.ProtRead}, {'w', mm.ProtWrite}, {'x', mm.ProtExec}} {
		switch s[i] {
		case bit.c:
			prot |= bit.prot
		case '-':
		default:
			return 0, fmt.Errorf("invalid protection %q: want three letters like r-x", s)
		}
	}
	return prot, nil
}

// FormatProt is ParseProt's inverse (for the PROT_READ, PROT_WRITE and
// PROT_EXEC bits).
func FormatProt(prot int) string {
	b := []byte("---")
	if prot&mm.ProtRead != 0 {
		b[0] = 'r'
	}
	if prot&mm.ProtWrite != 0 {
		b[1] = 'w'
	}
	if prot&mm.ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

type flagName struct {
	name string
	bit  int
}

// The flags scripts may name, in the order FormatMmapFlags prints them.
var mmapFlagNames = []flagName{
	{"MAP_SHARED_VALIDATE", mm.MapSharedValidate},
	{"MAP_SHARED", mm.MapShared},
	{"MAP_PRIVATE", mm.MapPrivate},
	{"MAP_ANONYMOUS", mm.MapAnonymous},
	{"MAP_FIXED", mm.MapFixed},
	{"MAP_FIXED_NOREPLACE", mm.MapFixedNoReplace},
	{"MAP_GROWSDOWN", mm.MapGrowsDown},
	{"MAP_NORESERVE", mm.MapNoReserve},
	{"MAP_POPULATE", mm.MapPopulate},
	{"MAP_LOCKED", mm.MapLocked},
	{"MAP_HUGETLB", mm.MapHugeTLB},
	{"MAP_HUGE_1GB", mm.MapHuge1GB},
	{"MAP_HUGE_2MB", mm.MapHuge2MB},
}

var mremapFlagNames = []flagName{
	{"MREMAP_MAYMOVE", mm.MremapMayMove},
	{"MREMAP_FIXED", mm.MremapFixed},
	{"MREMAP_DONTUNMAP", mm.MremapDontUnmap},
}

var mlock2FlagNames = []flagName{{"MLOCK_ONFAULT", mm.MlockOnFault}}

var mlockallFlagNames = []flagName{
	{"MCL_CURRENT", mm.MclCurrent}, {"MCL_FUTURE", mm.MclFuture}, {"MCL_ONFAULT", mm.MclOnFault},
}

// The advice madvise scripts may name (what mm.Madvise models).
var adviceNames = []flagName{
	{"MADV_NORMAL", mm.MadvNormal}, {"MADV_RANDOM", mm.MadvRandom},
	{"MADV_SEQUENTIAL", mm.MadvSequential}, {"MADV_DONTNEED", mm.MadvDontNeed},
	{"MADV_FREE", mm.MadvFree}, {"MADV_DONTFORK", mm.MadvDontFork},
	{"MADV_DOFORK", mm.MadvDoFork}, {"MADV_MERGEABLE", mm.MadvMergeable},
	{"MADV_UNMERGEABLE", mm.MadvUnmergeable}, {"MADV_HUGEPAGE", mm.MadvHugePage},
	{"MADV_NOHUGEPAGE", mm.MadvNoHugePage}, {"MADV_DONTDUMP", mm.MadvDontDump},
	{"MADV_DODUMP", mm.MadvDoDump}, {"MADV_WIPEONFORK", mm.MadvWipeOnFork},
	{"MADV_KEEPONFORK", mm.MadvKeepOnFork},
}

// ParseAdvice parses one MADV_* name.
func ParseAdvice(s string) (int, error) {
	for _, a := range adviceNames {
		if a.name == s {
			return a.bit, nil
		}
	}
	return 0, fmt.Errorf("unknown advice %q", s)
}

// FormatAdvice is ParseAdvice's inverse.
func FormatAdvice(advice int) string {
	for _, a := range adviceNames {
		if a.bit == advice {
			return a.name
		}
	}
	return strconv.Itoa(advice)
}

// flagSet parses names joined by "|", or a number (for bits that have no
// name: invalid flags).
func (p *argParser) flagSet(s string, names []flagName) int {
	if n, err := ParseNumber(s); err == nil {
		return int(n)
	}
	v, err := parseFlags(s, names, true)
	if err != nil {
		p.fail("FLAGS: " + err.Error())
	}
	return v
}

// ParseMmapFlags parses MAP_* names joined by "|".
func ParseMmapFlags(s string) (int, error) { return parseFlags(s, mmapFlagNames, false) }

// ParseMremapFlags parses "0" or MREMAP_* names joined by "|".
func ParseMremapFlags(s string) (int, error) { return parseFlags(s, mremapFlagNames, true) }

func parseFlags(s string, names []flagName, zero bool) (int, error) {
	if zero && s == "0" {
		return 0, nil
	}
	flags := 0
	for part := range strings.SplitSeq(s, "|") {
		found := false
		for _, f := range names {
			if part == f.name {
				flags |= f.bit
				found = true
				break
			}
		}
		if !found {
			if part == "" {
				return 0, fmt.Errorf("empty flag name in %q", s)
			}
			return 0, fmt.Errorf("unknown flag %q", part)
		}
	}
	return flags, nil
}

// FormatMmapFlags is ParseMmapFlags's inverse: the nameable bits of flags
// as names joined by "|" (MAP_SHARED_VALIDATE for both type bits).
func FormatMmapFlags(flags int) string { return formatFlags(flags, mmapFlagNames, "") }

// FormatMremapFlags is ParseMremapFlags's inverse; no flags is "0".
func FormatMremapFlags(flags int) string { return formatFlags(flags, mremapFlagNames, "0") }

func formatFlags(flags int, names []flagName, none string) string {
	var parts []string
	left := flags
	for _, f := range names {
		if left&f.bit == f.bit && f.bit != 0 {
			parts = append(parts, f.name)
			left &^= f.bit
		}
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, "|")
}
