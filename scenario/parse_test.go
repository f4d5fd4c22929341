package scenario

import (
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"specvma/mm"
)

func TestParseCommands(t *testing.T) {
	anon := mm.MapPrivate | mm.MapAnonymous
	tests := []struct {
		line string
		want Command
	}{
		{"process main", Command{Op: OpProcess, Name: "main"}},
		{"open a /etc/passwd", Command{Op: OpOpen, Name: "a", Path: "/etc/passwd"}},
		{"close a", Command{Op: OpClose, Name: "a"}},
		{"mmap 0 4096 rw- MAP_PRIVATE|MAP_ANONYMOUS",
			Command{Op: OpMmap, Len: 4096, Prot: mm.ProtRead | mm.ProtWrite, Flags: anon}},
		{"mmap 0x200000000000 0x1000 r-- MAP_SHARED a 0x2000",
			Command{Op: OpMmap, Addr: 0x200000000000, Len: 0x1000, Prot: mm.ProtRead, Flags: mm.MapShared,
				HasFile: true, Name: "a", Off: 0x2000}},
		{"mmap 0 1_000 --- MAP_PRIVATE /bin/true 0",
			Command{Op: OpMmap, Len: 1000, Flags: mm.MapPrivate, HasFile: true, Name: "/bin/true"}},
		{"munmap 0x1000 0o10", Command{Op: OpMunmap, Addr: 0x1000, Len: 8}},
		{"mprotect 4096 0b1 r-x", Command{Op: OpMprotect, Addr: 4096, Len: 1, Prot: mm.ProtRead | mm.ProtExec}},
		{"mremap 0x1000 0x1000 0x2000 0", Command{Op: OpMremap, Addr: 0x1000, Len: 0x1000, NewLen: 0x2000}},
		{"mremap 0x1000 0x1000 0x2000 MREMAP_MAYMOVE|MREMAP_FIXED 0x9000",
			Command{Op: OpMremap, Addr: 0x1000, Len: 0x1000, NewLen: 0x2000,
				Flags: mm.MremapMayMove | mm.MremapFixed, HasNewAddr: true, NewAddr: 0x9000}},
		{"anon_name 0x1000 4096 buffer", Command{Op: OpAnonName, Addr: 0x1000, Len: 4096, Name: "buffer"}},
		{"anon_name 0x1000 4096 my  ring buffer ", Command{Op: OpAnonName, Addr: 0x1000, Len: 4096, Name: "my  ring buffer"}},
		{"anon_name 0x1000 4096 -", Command{Op: OpAnonName, Addr: 0x1000, Len: 4096, Clear: true}},
		{"touch 0x1000 read", Command{Op: OpTouch, Addr: 0x1000}},
		{"touch 0x1000 write", Command{Op: OpTouch, Addr: 0x1000, Write: true}},
		{"maps", Command{Op: OpMaps}},
		{"probe p:grp/ev /bin/true:0x1234", Command{Op: OpProbe, Spec: "p:grp/ev /bin/true:0x1234"}},
		{"probe   r /bin/true:main+4  ", Command{Op: OpProbe, Spec: "r /bin/true:main+4"}},
		{"probe -:grp/ev", Command{Op: OpProbe, Spec: "-:grp/ev"}},
		{"hit 0x401000", Command{Op: OpHit, Addr: 0x401000}},
		{"ret", Command{Op: OpRet}},
		{"breakpoints", Command{Op: OpBreakpoints}},
		// Spacing, tabs, CRLF and trailing comments.
		{"\tmunmap\t0x1000   0x2000 # unmap it\r", Command{Op: OpMunmap, Addr: 0x1000, Len: 0x2000}},
		{"maps#now", Command{Op: OpMaps}},
	}
	for _, tt := range tests {
		s, err := ParseString("t.vma", tt.line)
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if len(s.Commands) != 1 {
			t.Errorf("%q: %d commands", tt.line, len(s.Commands))
			continue
		}
		want := tt.want
		want.Line = 1
		if got := s.Commands[0]; !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.line, got, want)
		}
	}
}

func TestParseProt(t *testing.T) {
	want := map[string]int{
		"---": 0, "r--": mm.ProtRead, "rw-": mm.ProtRead | mm.ProtWrite,
		"r-x": mm.ProtRead | mm.ProtExec, "rwx": mm.ProtRead | mm.ProtWrite | mm.ProtExec,
		"-w-": mm.ProtWrite, "--x": mm.ProtExec, "-wx": mm.ProtWrite | mm.ProtExec,
	}
	for s, p := range want {
		got, err := ParseProt(s)
		if err != nil || got != p {
			t.Errorf("ParseProt(%q) = %d, %v; want %d", s, got, err, p)
		}
		if f := FormatProt(p); f != s {
			t.Errorf("FormatProt(%d) = %q, want %q", p, f, s)
		}
	}
	for _, bad := range []string{"", "r", "rw", "rwxp", "wr-", "R--", "x--", "r-w", "7", "0x1", "rw_"} {
		if _, err := ParseProt(bad); err == nil {
			t.Errorf("ParseProt(%q) succeeded", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	mmapFlags := map[string]int{
		"MAP_SHARED": mm.MapShared, "MAP_PRIVATE": mm.MapPrivate,
		"MAP_SHARED_VALIDATE": mm.MapSharedValidate, "MAP_ANONYMOUS": mm.MapAnonymous,
		"MAP_FIXED": mm.MapFixed, "MAP_FIXED_NOREPLACE": mm.MapFixedNoReplace,
		"MAP_GROWSDOWN": mm.MapGrowsDown, "MAP_NORESERVE": mm.MapNoReserve,
		"MAP_POPULATE":                        mm.MapPopulate,
		"MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED": mm.MapPrivate | mm.MapAnonymous | mm.MapFixed,
		"MAP_SHARED|MAP_PRIVATE":              mm.MapShared | mm.MapPrivate,
		"MAP_FIXED|MAP_FIXED|MAP_PRIVATE":     mm.MapFixed | mm.MapPrivate,
	}
	for s, f := range mmapFlags {
		got, err := ParseMmapFlags(s)
		if err != nil || got != f {
			t.Errorf("ParseMmapFlags(%q) = %#x, %v; want %#x", s, got, err, f)
		}
		back, err := ParseMmapFlags(FormatMmapFlags(f))
		if err != nil || back != f {
			t.Errorf("FormatMmapFlags(%#x) = %q does not parse back", f, FormatMmapFlags(f))
		}
	}
	mremapFlags := map[string]int{
		"0": 0, "MREMAP_MAYMOVE": mm.MremapMayMove, "MREMAP_FIXED": mm.MremapFixed,
		"MREMAP_DONTUNMAP": mm.MremapDontUnmap,
		"MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP": mm.MremapMayMove | mm.MremapFixed | mm.MremapDontUnmap,
	}
	for s, f := range mremapFlags {
		got, err := ParseMremapFlags(s)
		if err != nil || got != f {
			t.Errorf("ParseMremapFlags(%q) = %#x, %v; want %#x", s, got, err, f)
		}
		if back := FormatMremapFlags(f); back != s {
			t.Errorf("FormatMremapFlags(%#x) = %q, want %q", f, back, s)
		}
	}
	for _, bad := range []string{"", "0", "|", "MAP_PRIVATE|", "|MAP_PRIVATE", "MAP_PRIVATE||MAP_FIXED",
		"map_private", "MAP_PRIVATE|0", "MREMAP_MAYMOVE", "0x22", "MAP_ANON", "MAP_PRIVATE MAP_FIXED"} {
		if _, err := ParseMmapFlags(bad); err == nil {
			t.Errorf("ParseMmapFlags(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"", "00", "0x0", "1", "MAP_FIXED", "MREMAP_MAYMOVE|0", "0|MREMAP_FIXED", "MREMAP_MAYMOVE|"} {
		if _, err := ParseMremapFlags(bad); err == nil {
			t.Errorf("ParseMremapFlags(%q) succeeded", bad)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	good := map[string]uint64{
		"0": 0, "4096": 4096, "0x1000": 0x1000, "0X1000": 0x1000, "1_000": 1000, "0o17": 15,
		"017": 15, "0b101": 5, "0xffffffffffffffff": 1<<64 - 1, "0x_1000": 0x1000,
	}
	for s, v := range good {
		if got, err := ParseNumber(s); err != nil || got != v {
			t.Errorf("ParseNumber(%q) = %d, %v; want %d", s, got, err, v)
		}
	}
	for _, bad := range []string{"", "-1", "+1", "0x", "x10", "1e3", "0x1g", "1__0", "_1", "1_",
		"0x10000000000000000", "18446744073709551616", "4k", "09"} {
		if _, err := ParseNumber(bad); err == nil {
			t.Errorf("ParseNumber(%q) succeeded", bad)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		script string
		line   int
		msg    string // a substring of the message
	}{
		{"frobnicate 1 2", 1, `unknown command "frobnicate"`},
		{"maps\n\n# fine\nMMAP 0 1 rw- MAP_PRIVATE", 4, `unknown command "MMAP"`},
		{"process", 1, "process: got 0 arguments, want NAME [fork]"},
		{"process a b c", 1, "process: got 3 arguments"},
		{"process a b", 1, `process: unknown word "b": want NAME or NAME fork`},
		{"process main fork", 1, `process: NAME: "main" exists already`},
		{"process a\nprocess main\nprocess a fork", 3, `process: NAME: "a" exists already`},
		{"process a fork\nprocess a fork", 2, `process: NAME: "a" exists already`},
		{"open a", 1, "open: got 1 arguments, want NAME PATH"},
		{"close", 1, "close: got 0 arguments"},
		{"mmap 0 4096 rw-", 1, "mmap: got 3 arguments"},
		{"mmap 0 4096 rw- MAP_PRIVATE f", 1, "mmap: FILE needs an OFFSET"},
		{"mmap 0 4096 rw- MAP_PRIVATE f 0 9", 1, "mmap: got 7 arguments"},
		{"mmap zero 4096 rw- MAP_PRIVATE", 1, `mmap: ADDR: invalid number "zero"`},
		{"mmap 0 -4096 rw- MAP_PRIVATE", 1, `mmap: LEN: invalid number "-4096"`},
		{"mmap 0 4096 rwx MAP_PRIVATE f x", 1, `mmap: OFFSET: invalid number "x"`},
		{"mmap 0 4096 7 MAP_PRIVATE", 1, `mmap: PROT: invalid protection "7"`},
		{"mmap 0 4096 rw- MAP_PRIVATE|MAP_BOGUS", 1, `mmap: FLAGS: unknown flag "MAP_BOGUS"`},
		{"mmap 0 4096 rw- 0", 1, `mmap: FLAGS: unknown flag "0"`},
		{"mmap 0 0x10000000000000000 rw- MAP_PRIVATE", 1, "mmap: LEN: number \"0x10000000000000000\" out of range"},
		{"munmap 0x1000", 1, "munmap: got 1 arguments, want ADDR LEN"},
		{"munmap 0x1000 0x1000 0x1000", 1, "munmap: got 3 arguments"},
		{"mprotect 0x1000 0x1000", 1, "mprotect: got 2 arguments"},
		{"mprotect 0x1000 0x1000 rw", 1, "mprotect: PROT"},
		{"mremap 0x1000 0x1000 0x2000", 1, "mremap: got 3 arguments"},
		{"mremap 0x1000 0x1000 0x2000 MAP_FIXED", 1, `mremap: FLAGS: unknown flag "MAP_FIXED"`},
		{"mremap 0x1000 0x1000 0x2000 0 0x3000 1", 1, "mremap: got 6 arguments"},
		{"mremap 0x1000 0x1000 0x2000 0 zz", 1, "mremap: NEWADDR"},
		{"anon_name 0x1000 4096", 1, "anon_name: want ADDR LEN NAME"},
		{"anon_name 0x1000 # name", 1, "anon_name: want ADDR LEN NAME"},
		{"anon_name x 4096 n", 1, "anon_name: ADDR"},
		{"touch 0x1000", 1, "touch: got 1 arguments"},
		{"touch 0x1000 exec", 1, `touch: access "exec": want read or write`},
		{"maps 1", 1, `maps: unknown maps reader "1"`},
		{"probe", 1, "probe: want SPEC"},
		{"probe # nothing", 1, "probe: want SPEC"},
		{"hit", 1, "hit: got 0 arguments"},
		{"hit main", 1, "hit: ADDR"},
		{"ret now", 1, "ret: takes no arguments"},
		{"breakpoints all", 1, "breakpoints: takes no arguments"},
		{"maps\nmaps\nmaps x\nbogus", 3, `maps: unknown maps reader "x"`},
	}
	for _, tt := range tests {
		_, err := ParseString("s.vma", tt.script)
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v is not an *Error", tt.script, err)
			continue
		}
		if se.File != "s.vma" || se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("%q: got %s:%d: %s; want s.vma:%d: ...%s...", tt.script, se.File, se.Line, se.Msg, tt.line, tt.msg)
		}
		if prefix := "s.vma:" + strconv.Itoa(tt.line) + ": "; !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("%q: %q lacks the prefix %q", tt.script, err.Error(), prefix)
		}
	}
}

func TestParseLinesAndComments(t *testing.T) {
	script := "# header\n\n   \nmaps # dump\n\t# indented comment\nprocess b\r\nmaps" // no final newline
	s, err := ParseString("c.vma", script)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, c := range s.Commands {
		got = append(got, c.Line)
	}
	if want := []int{4, 6, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if s.Name != "c.vma" {
		t.Errorf("name %q", s.Name)
	}
	if s, err := ParseString("e.vma", ""); err != nil || len(s.Commands) != 0 {
		t.Errorf("empty script: %v, %v", s, err)
	}
}

// TestCommandString checks that String gives a line that parses back to
// the same command.
func TestCommandString(t *testing.T) {
	script := `process p1
open f /etc/passwd
close f
mmap 0 4096 rwx MAP_SHARED_VALIDATE|MAP_FIXED|MAP_POPULATE
mmap 0x10 4096 --x MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE|MAP_GROWSDOWN|MAP_NORESERVE f 0x1000
munmap 1 2
mprotect 1 2 -wx
mremap 1 2 3 0
mremap 1 2 3 MREMAP_MAYMOVE|MREMAP_DONTUNMAP|MREMAP_FIXED 0
anon_name 1 2 a b
anon_name 1 2 -
touch 1 read
touch 1 write
maps
probe p:g/e /bin/true:0x10
hit 0x10
ret
breakpoints
`
	s, err := ParseString("rt.vma", script)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Commands {
		back, err := ParseString("rt.vma", c.String())
		if err != nil {
			t.Errorf("%q: %v", c.String(), err)
			continue
		}
		want := c
		want.Line = 1
		if got := back.Commands[0]; !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v want %+v", c.String(), got, want)
		}
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk on fire")
	}
	r.n--
	return copy(p, "maps\n"), nil
}

func TestParseReadError(t *testing.T) {
	_, err := Parse("r.vma", &failingReader{n: 2})
	var se *Error
	if !errors.As(err, &se) || se.Line != 3 || !strings.Contains(se.Msg, "disk on fire") {
		t.Errorf("got %v", err)
	}
}

var errPrefix = regexp.MustCompile(`^fuzz\.vma:[1-9][0-9]*: `)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "maps", "mmap 0x200000000000 0x4000 rw- MAP_PRIVATE|MAP_ANONYMOUS\n",
		"mmap 0 1 r-- MAP_SHARED f 0\nmremap 1 2 3 MREMAP_MAYMOVE 4\n# c\n",
		"anon_name 1 2 x y z\nprobe p:a/b /x:1\nhit 1\nret\nbreakpoints\n",
		"touch 0x1 write\r\nprocess a\nopen a b\nclose a\nmunmap 1 2\nmprotect 1 2 ---\n",
		"mmap 0 -1 rw- MAP_PRIVATE", "\x00\xff#", "mmap 0 1_000 rwx MAP_PRIVATE||",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		s, err := ParseString("fuzz.vma", script)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if se.Line < 1 || se.Msg == "" || !errPrefix.MatchString(err.Error()) {
				t.Fatalf("error %q lacks the FILE:LINE: prefix", err)
			}
			return
		}
		// Every parsed command prints as a line that parses back to it.
		for _, c := range s.Commands {
			if c.Line < 1 {
				t.Fatalf("line %d", c.Line)
			}
			back, err := ParseString("fuzz.vma", c.String())
			if err != nil {
				t.Fatalf("%q does not parse back: %v", c.String(), err)
			}
			want := c
			want.Line = 1
			if len(back.Commands) != 1 || !reflect.DeepEqual(back.Commands[0], want) {
				t.Fatalf("%q: round trip gave %+v, want %+v", c.String(), back.Commands, want)
			}
		}
	})
}
