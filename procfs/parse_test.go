package procfs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"specvma/vfs"
)

// sampleMaps is maps text as Linux 6.18 printed it for a small C program,
// with [anon:...] and [anon_shmem:...] lines (from a kernel with
// CONFIG_ANON_VMA_NAME) added.
const sampleMaps = `560bbf71b000-560bbf71c000 r--p 00000000 fe:00 9981233                    /tmp/ct/child
560bbf71c000-560bbf71d000 r-xp 00001000 fe:00 9981233                    /tmp/ct/child
560bbf71d000-560bbf71e000 r--p 00002000 fe:00 9981233                    /tmp/ct/child
560bbf71e000-560bbf71f000 r--p 00002000 fe:00 9981233                    /tmp/ct/child
560bbf71f000-560bbf720000 rw-p 00003000 fe:00 9981233                    /tmp/ct/child
560bc8596000-560bc85b7000 rw-p 00000000 00:00 0                          [heap]
7f49f4435000-7f49f4436000 r--s 00000000 00:01 34                         /memfd:specvma memfd (deleted)
7f49f4436000-7f49f4438000 rw-p 00000000 00:00 0                          [anon:specvma test]
7f49f4438000-7f49f4439000 rw-p 00000000 00:00 0 
7f49f4439000-7f49f443a000 r--p 00000000 00:00 0 
7f49f443a000-7f49f443c000 rw-s 00000000 00:01 33                         [anon_shmem:shared one]
7f49f443c000-7f49f443f000 rw-p 00000000 00:00 0 
7f49f443f000-7f49f4465000 r--p 00000000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f49f4465000-7f49f45bb000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f49f45bb000-7f49f460e000 r--p 0017c000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f49f460e000-7f49f4612000 r--p 001cf000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f49f4612000-7f49f4614000 rw-p 001d3000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
7f49f4614000-7f49f4621000 rw-p 00000000 00:00 0 
7f49f4621000-7f49f4624000 rw-s 00000000 00:01 32                         /dev/zero (deleted)
7f49f4624000-7f49f4626000 r-xp 00000000 fe:00 9981217                    /tmp/ct/d/gone.bin (deleted)
7f49f4626000-7f49f4627000 r--p 00000000 fe:00 9981211                    /tmp/ct/d/new\012line
7f49f4627000-7f49f4628000 rw-s 00000000 fe:00 9981199                    /tmp/ct/d/with space.bin
7f49f4628000-7f49f462a000 r--s 00001000 fe:00 9981199                    /tmp/ct/d/with space.bin
7f49f462a000-7f49f462c000 rw-p 00000000 00:00 0 
7f49f462c000-7f49f4630000 r--p 00000000 00:00 0                          [vvar]
7f49f4630000-7f49f4632000 r--p 00000000 00:00 0                          [vvar_vclock]
7f49f4632000-7f49f4634000 r-xp 00000000 00:00 0                          [vdso]
7f49f4634000-7f49f4635000 r--p 00000000 fe:00 325835                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7f49f4635000-7f49f465b000 r-xp 00001000 fe:00 325835                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7f49f465b000-7f49f4665000 r--p 00027000 fe:00 325835                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7f49f4665000-7f49f4667000 r--p 00031000 fe:00 325835                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7f49f4667000-7f49f4669000 rw-p 00033000 fe:00 325835                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
7ffe63286000-7ffe632a7000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`

func TestParseLine(t *testing.T) {
	fe := vfs.Dev{Major: 0xfe}
	for _, tt := range []struct {
		line string
		want Entry
	}{
		{"7f49f4438000-7f49f4439000 rw-p 00000000 00:00 0 ",
			Entry{Start: 0x7f49f4438000, End: 0x7f49f4439000, Perms: PermRead | PermWrite}},
		{"7f49f4465000-7f49f45bb000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6\n",
			Entry{Start: 0x7f49f4465000, End: 0x7f49f45bb000, Perms: PermRead | PermExec, Offset: 0x26000, Dev: fe, Inode: 326269, Name: "/usr/lib/x86_64-linux-gnu/libc.so.6"}},
		{"7f49f4628000-7f49f462a000 r--s 00001000 fe:00 9981199                    /tmp/ct/d/with space.bin",
			Entry{Start: 0x7f49f4628000, End: 0x7f49f462a000, Perms: PermRead | PermShared, Offset: 0x1000, Dev: fe, Inode: 9981199, Name: "/tmp/ct/d/with space.bin"}},
		{"7f49f4621000-7f49f4624000 rw-s 00000000 00:01 32                         /dev/zero (deleted)",
			Entry{Start: 0x7f49f4621000, End: 0x7f49f4624000, Perms: PermRead | PermWrite | PermShared, Dev: vfs.ShmemDev, Inode: 32, Name: "/dev/zero (deleted)"}},
		{"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
			Entry{Start: GateStart, End: GateEnd, Perms: PermExec, Name: "[vsyscall]"}},
		{"ffff800000000000-ffff800000001000 rwxs 123456789000 103:1ab 18446744073709551615  /big",
			Entry{Start: 0xffff800000000000, End: 0xffff800000001000, Perms: PermRead | PermWrite | PermExec | PermShared, Offset: 0x123456789000,
				Dev: vfs.Dev{Major: 0x103, Minor: 0x1ab}, Inode: 18446744073709551615, Name: "/big"}},
		// A name's own leading spaces survive where the kernel put the name.
		{"00400000-00401000 r--p 00000000 08:01 5" + strings.Repeat(" ", 1+32+1+2) + "two spaces",
			Entry{Start: 0x400000, End: 0x401000, Perms: PermRead, Dev: vfs.Dev{Major: 8, Minor: 1}, Inode: 5, Name: "  two spaces"}},
	} {
		got, err := ParseLine(tt.line)
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.line, got, tt.want)
		}
		if s := got.String(); s != strings.TrimSuffix(tt.line, "\n") {
			t.Errorf("String:\n got %q\nwant %q", s, tt.line)
		}
	}
}

// TestParseLenient reads lines that are not in the kernel's exact layout.
func TestParseLenient(t *testing.T) {
	want := Entry{Start: 0x400000, End: 0x401000, Perms: PermRead | PermExec, Offset: 0x1000, Dev: vfs.Dev{Major: 8, Minor: 1}, Inode: 1234, Name: "/usr/bin/true"}
	for _, line := range []string{
		"400000-401000 r-xp 1000 8:1 1234 /usr/bin/true",
		"00400000-00401000  r-xp  00001000  08:01  1234   /usr/bin/true",
		"00400000-00401000 r-xp 00001000 08:01 1234 /usr/bin/true",
		"00400000-00401000 r-xp 00001000 08:01 1234                               /usr/bin/true",
	} {
		got, err := ParseLine(line)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v", line, got, err)
		}
	}
	// Uppercase hex, no trailing space.
	got, err := ParseLine("7F49F4438000-7F49F4439000 rw-p 00000000 00:00 0")
	if err != nil || got != (Entry{Start: 0x7f49f4438000, End: 0x7f49f4439000, Perms: PermRead | PermWrite}) {
		t.Errorf("uppercase: %+v, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ line, msg string }{
		{"", "line 1: empty line"},
		{"x", "line 1: missing start address at column 1"},
		{"00400000", "line 1: missing '-' after the start address at the end of the line"},
		{"00400000-", "line 1: missing end address at the end of the line"},
		{"00401000-00400000 r--p 0 00:00 0", "line 1: empty or reversed range 00401000-00400000"},
		{"00400000-00400000 r--p 0 00:00 0", "line 1: empty or reversed range"},
		{"10000000000000000-20000000000000000 r--p 0 00:00 0", "line 1: start address 10000000000000000 out of range"},
		{"00400000-00401000", "line 1: missing space before the permissions"},
		{"00400000-00401000 ", "line 1: missing permissions"},
		{"00400000-00401000 r--", "line 1: permissions must be 4 characters"},
		{"00400000-00401000 rw-q 0 00:00 0", "line 1: bad sharing character 'q', want s or p"},
		{"00400000-00401000 xw-p 0 00:00 0", "line 1: bad permission character 'x'"},
		{"00400000-00401000 r--p", "line 1: missing space before the offset"},
		{"00400000-00401000 r--p zz", "line 1: missing offset at column 24"},
		{"00400000-00401000 r--p 0", "line 1: missing space before the device"},
		{"00400000-00401000 r--p 0 0800", "line 1: missing ':' in the device"},
		{"00400000-00401000 r--p 0 100000000:0 0", "line 1: device major 100000000 out of range"},
		{"00400000-00401000 r--p 0 08:", "line 1: missing device minor"},
		{"00400000-00401000 r--p 0 08:01", "line 1: missing space before the inode"},
		{"00400000-00401000 r--p 0 08:01 x", "line 1: missing inode"},
		{"00400000-00401000 r--p 0 08:01 99999999999999999999", "line 1: inode 99999999999999999999 out of range"},
		{"00400000-00401000 r--p 0 08:01 12x", `line 1: unexpected "x" after the inode`},
		{"00400000-00401000 r--p 0 08:01 12\n\n", "line 1: newline inside a line"},
	} {
		_, err := ParseLine(tt.line)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 1 {
			t.Errorf("%q: error %v is not a line-1 *SyntaxError", tt.line, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("%q:\n got %q\nwant %q...", tt.line, err, tt.msg)
		}
	}
}

func TestParseText(t *testing.T) {
	entries, err := Parse(strings.NewReader(sampleMaps))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(sampleMaps, "\n"); len(entries) != n {
		t.Fatalf("%d entries for %d lines", len(entries), n)
	}
	if got := Format(entries); got != sampleMaps {
		t.Errorf("Format(Parse(text)) differs:\n%s", got)
	}
	// One byte at a time, and without the last newline.
	entries2, err := Parse(iotest.OneByteReader(strings.NewReader(strings.TrimSuffix(sampleMaps, "\n"))))
	if err != nil || len(entries2) != len(entries) || entries2[len(entries2)-1] != entries[len(entries)-1] {
		t.Errorf("one byte at a time: %d entries, %v", len(entries2), err)
	}
	if entries, err := Parse(strings.NewReader("")); err != nil || len(entries) != 0 {
		t.Errorf("empty text: %v, %v", entries, err)
	}

	bad := strings.Replace(sampleMaps, "r--p 00002000 fe:00 9981233", "r--p 00002000 fe-00 9981233", 1)
	_, err = Parse(strings.NewReader(bad))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: missing ':' in the device") {
		t.Errorf("bad line 3: %v", err)
	}
	_, err = Parse(strings.NewReader(sampleMaps + "\n"))
	if n := strings.Count(sampleMaps, "\n") + 1; err == nil || err.(*SyntaxError).Line != n {
		t.Errorf("empty last line: %v", err)
	}
	_, err = Parse(iotest.ErrReader(errors.New("EIO")))
	if err == nil || err.Error() != "line 1: read: EIO" {
		t.Errorf("read error: %v", err)
	}
}

// TestParseInMemory: ParseString and ParseBytes, which parse a text held
// in memory without reading it line by line, give what Parse gives, errors
// included; the text loader's filter keeps only the lines it accepts; and
// nothing parsed refers to the text, which the live loader reuses as a
// buffer (parseText copies the names).
func TestParseInMemory(t *testing.T) {
	bad := strings.Replace(sampleMaps, "r--p 00002000 fe:00 9981233", "r--p 00002000 fe-00 9981233", 1)
	for _, text := range []string{sampleMaps, strings.TrimSuffix(sampleMaps, "\n"), "", "\n", sampleMaps + "\n", bad} {
		want, wantErr := Parse(strings.NewReader(text))
		for name, parse := range map[string]func(string) ([]Entry, error){
			"ParseString": ParseString,
			"ParseBytes":  func(s string) ([]Entry, error) { return ParseBytes([]byte(s)) },
		} {
			got, err := parse(text)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !slices.Equal(got, want) {
				t.Errorf("%s(%.40q...): %d entries, %v; Parse: %d, %v", name, text, len(got), err, len(want), wantErr)
			}
		}
	}

	all, _ := ParseString(sampleMaps)
	var execs []Entry
	for _, e := range all {
		if isExecFile(e) {
			execs = append(execs, e)
		}
	}
	buf := []byte(sampleMaps)
	got, err := parseText(unsafe.String(unsafe.SliceData(buf), len(buf)), isExecFile)
	if err != nil || len(execs) == 0 || !slices.Equal(got, execs) {
		t.Fatalf("exec-only: %v, %v; want %v", got, err, execs)
	}
	gotAll, _ := parseText(unsafe.String(unsafe.SliceData(buf), len(buf)), nil)
	for i := range buf {
		buf[i] = 'X' // the buffer reused for the next reading
	}
	if !slices.Equal(got, execs) || !slices.Equal(gotAll, all) {
		t.Errorf("entries changed with the buffer they were parsed from:\n%v\n%v", got, gotAll)
	}
}

func TestEntryNames(t *testing.T) {
	entries, err := ParseString(sampleMaps)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	for _, tt := range []struct {
		name             string
		deleted, file    bool
		path, anon       string
		isAnonName, gate bool
	}{
		{name: "/tmp/ct/child", file: true, path: "/tmp/ct/child"},
		{name: "/dev/zero (deleted)", file: true, deleted: true, path: "/dev/zero"},
		{name: "/memfd:specvma memfd (deleted)", file: true, deleted: true, path: "/memfd:specvma memfd"},
		{name: `/tmp/ct/d/new\012line`, file: true, path: "/tmp/ct/d/new\nline"},
		{name: "/tmp/ct/d/with space.bin", file: true, path: "/tmp/ct/d/with space.bin"},
		{name: "[anon:specvma test]", path: "[anon:specvma test]", anon: "specvma test", isAnonName: true},
		{name: "[anon_shmem:shared one]", file: true, path: "[anon_shmem:shared one]", anon: "shared one", isAnonName: true},
		{name: "[heap]", path: "[heap]"},
		{name: "[vdso]", path: "[vdso]"},
		{name: "", path: ""},
		{name: "[vsyscall]", path: "[vsyscall]", gate: true},
	} {
		e, ok := byName[tt.name]
		if !ok {
			t.Fatalf("no line named %q", tt.name)
		}
		anon, isAnon := e.AnonName()
		if e.Deleted() != tt.deleted || e.FileBacked() != tt.file || e.Path() != tt.path ||
			anon != tt.anon || isAnon != tt.isAnonName || e.IsGate() != tt.gate {
			t.Errorf("%q: deleted %v file %v path %q anon %q,%v gate %v", tt.name,
				e.Deleted(), e.FileBacked(), e.Path(), anon, isAnon, e.IsGate())
		}
	}
	if _, ok := (Entry{Name: "[anon:]"}).AnonName(); ok {
		t.Error("[anon:] has a name")
	}
}

func TestPerms(t *testing.T) {
	for p := Perms(0); p < 16; p++ {
		s := p.String()
		q, err := ParsePerms(s)
		if err != nil || q != p {
			t.Errorf("%04b: %q -> %04b, %v", p, s, q, err)
		}
	}
	if s := (PermRead | PermExec | PermShared).String(); s != "r-xs" {
		t.Errorf("r-xs: %q", s)
	}
}
