package procfs

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"specvma/mm"
	"specvma/vfs"
)

const rw = mm.VMRead | mm.VMWrite | mm.VMMayRead | mm.VMMayWrite | mm.VMMayExec

// testFile opens a File on a fresh inode identity; the test owns the
// returned reference.
func testFile(t *testing.T, path string, dev vfs.Dev, ino uint64, deleted bool) *vfs.File {
	t.Helper()
	inode := vfs.InodeFor(vfs.InodeID{Dev: dev, Ino: ino})
	inode.SetDeleted(deleted)
	f := vfs.NewFile(path, inode, vfs.ORdonly)
	t.Cleanup(f.Put)
	return f
}

func renderOne(v mm.Info, l mm.Layout) string {
	return strings.TrimSuffix(string(AppendVMA(nil, &v, &l)), "\n")
}

// TestRenderLines checks each kind of line against lines written out by
// hand (most are lines the kernel printed).
func TestRenderLines(t *testing.T) {
	// Identities below are unlikely to collide with real files that other
	// tests in this package load.
	fe := vfs.Dev{Major: 0xfe, Minor: 0x7e}
	libc := testFile(t, "/usr/lib/x86_64-linux-gnu/libc.so.6", fe, 326269, false)
	space := testFile(t, "/tmp/ct/d/with space.bin", fe, 9981199, false)
	gone := testFile(t, "/tmp/ct/d/gone.bin", fe, 9981217, true)
	newline := testFile(t, "/tmp/ct/d/new\nline", fe, 9981211, false)
	truebin := testFile(t, "/usr/bin/true", vfs.Dev{Major: 8, Minor: 1}, 1234, false)
	shm := testFile(t, "/dev/zero", vfs.ShmemDev, 1<<40+33, true)
	big := testFile(t, "/big", vfs.Dev{Major: 0x103, Minor: 0x1ab}, 18446744073709551615, false)

	heap := mm.Layout{StartBrk: 0x563cb8897000, Brk: 0x563cb88b7123}
	stack := mm.Layout{StartStack: 0x7fff968f8e31}
	tests := []struct {
		name string
		v    mm.Info
		l    mm.Layout
		want string
	}{
		{"anon unnamed", mm.Info{Start: 0x400000, End: 0x401000, Flags: rw}, mm.Layout{},
			"00400000-00401000 rw-p 00000000 00:00 0 "},
		{"file 8 digits", mm.Info{Start: 0x400000, End: 0x401000, Pgoff: 1, Flags: mm.VMRead | mm.VMExec, File: truebin}, mm.Layout{},
			"00400000-00401000 r-xp 00001000 08:01 1234                               /usr/bin/true"},
		{"file", mm.Info{Start: 0x7f828f244000, End: 0x7f828f39a000, Pgoff: 0x26, Flags: mm.VMRead | mm.VMExec, File: libc}, mm.Layout{},
			"7f828f244000-7f828f39a000 r-xp 00026000 fe:7e 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6"},
		{"shared, space in path", mm.Info{Start: 0x7f49f4628000, End: 0x7f49f462a000, Pgoff: 1, Flags: mm.VMRead | mm.VMMayShare, File: space}, mm.Layout{},
			"7f49f4628000-7f49f462a000 r--s 00001000 fe:7e 9981199                    /tmp/ct/d/with space.bin"},
		{"deleted", mm.Info{Start: 0x7f49f4624000, End: 0x7f49f4626000, Flags: mm.VMRead | mm.VMExec, File: gone}, mm.Layout{},
			"7f49f4624000-7f49f4626000 r-xp 00000000 fe:7e 9981217                    /tmp/ct/d/gone.bin (deleted)"},
		{"newline escaped", mm.Info{Start: 0x7f49f4626000, End: 0x7f49f4627000, Flags: mm.VMRead, File: newline}, mm.Layout{},
			`7f49f4626000-7f49f4627000 r--p 00000000 fe:7e 9981211                    /tmp/ct/d/new\012line`},
		{"shared anonymous", mm.Info{Start: 0x7f49f443a000, End: 0x7f49f443c000, Flags: rw | mm.VMShared | mm.VMMayShare, File: shm}, mm.Layout{},
			"7f49f443a000-7f49f443c000 rw-s 00000000 00:01 1099511627809              /dev/zero (deleted)"},
		{"anon_shmem name", mm.Info{Start: 0x7f49f4621000, End: 0x7f49f4624000, Flags: rw | mm.VMShared | mm.VMMayShare, File: shm, AnonName: "shared one"}, mm.Layout{},
			"7f49f4621000-7f49f4624000 rw-s 00000000 00:01 1099511627809              [anon_shmem:shared one]"},
		{"anon name", mm.Info{Start: 0x7f49f4436000, End: 0x7f49f4439000, Flags: rw, AnonName: "specvma test"}, mm.Layout{},
			"7f49f4436000-7f49f4439000 rw-p 00000000 00:00 0                          [anon:specvma test]"},
		{"special", mm.Info{Start: 0x7f828f40b000, End: 0x7f828f40f000, Flags: mm.VMRead, Special: "[vvar]"}, mm.Layout{},
			"7f828f40b000-7f828f40f000 r--p 00000000 00:00 0                          [vvar]"},
		{"heap", mm.Info{Start: 0x563cb8897000, End: 0x563cb88b8000, Flags: rw}, heap,
			"563cb8897000-563cb88b8000 rw-p 00000000 00:00 0                          [heap]"},
		{"heap beats anon name", mm.Info{Start: 0x563cb88a0000, End: 0x563cb88a1000, Flags: rw, AnonName: "x"}, heap,
			"563cb88a0000-563cb88a1000 rw-p 00000000 00:00 0                          [heap]"},
		{"special beats heap", mm.Info{Start: 0x563cb88a0000, End: 0x563cb88a1000, Flags: rw, Special: "[uprobes]"}, heap,
			"563cb88a0000-563cb88a1000 rw-p 00000000 00:00 0                          [uprobes]"},
		{"file beats heap", mm.Info{Start: 0x563cb88a0000, End: 0x563cb88a1000, Flags: mm.VMRead | mm.VMExec, File: truebin}, heap,
			"563cb88a0000-563cb88a1000 r-xp 00000000 08:01 1234                       /usr/bin/true"},
		{"touching heap from below", mm.Info{Start: 0x563cb8896000, End: 0x563cb8897000, Flags: rw}, heap,
			"563cb8896000-563cb8897000 rw-p 00000000 00:00 0 "},
		{"touching brk from above", mm.Info{Start: 0x563cb88b8000, End: 0x563cb88b9000, Flags: rw}, mm.Layout{StartBrk: 0x563cb8897000, Brk: 0x563cb88b8000},
			"563cb88b8000-563cb88b9000 rw-p 00000000 00:00 0 "},
		{"empty heap", mm.Info{Start: 0x563cb8897000, End: 0x563cb8898000, Flags: rw}, mm.Layout{StartBrk: 0x563cb8897000, Brk: 0x563cb8897000},
			"563cb8897000-563cb8898000 rw-p 00000000 00:00 0 "},
		{"stack", mm.Info{Start: 0x7fff968d8000, End: 0x7fff968f9000, Flags: rw | mm.VMGrowsDown}, stack,
			"7fff968d8000-7fff968f9000 rw-p 00000000 00:00 0                          [stack]"},
		{"stack test is inclusive at the end", mm.Info{Start: 0x7fff968d7000, End: 0x7fff968d8000, Flags: rw}, mm.Layout{StartStack: 0x7fff968d8000},
			"7fff968d7000-7fff968d8000 rw-p 00000000 00:00 0                          [stack]"},
		{"heap beats stack", mm.Info{Start: 0x7fff968d8000, End: 0x7fff968f9000, Flags: rw}, mm.Layout{StartBrk: 0x7fff968d8000, Brk: 0x7fff968d9000, StartStack: 0x7fff968f8e31},
			"7fff968d8000-7fff968f9000 rw-p 00000000 00:00 0                          [heap]"},
		{"stack beats anon name", mm.Info{Start: 0x7fff968d8000, End: 0x7fff968f9000, Flags: rw, AnonName: "x"}, stack,
			"7fff968d8000-7fff968f9000 rw-p 00000000 00:00 0                          [stack]"},
		{"wide fields", mm.Info{Start: 0xffff800000000000, End: 0xffff800000001000, Pgoff: 0x123456789, Flags: rw | mm.VMExec | mm.VMShared | mm.VMMayShare, File: big}, mm.Layout{},
			"ffff800000000000-ffff800000001000 rwxs 123456789000 103:1ab 18446744073709551615  /big"},
		{"no access", mm.Info{Start: 0x10000, End: 0x20000, Flags: mm.VMMayRead}, mm.Layout{},
			"00010000-00020000 ---p 00000000 00:00 0 "},
	}
	for _, tt := range tests {
		if got := renderOne(tt.v, tt.l); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// TestRenderPadding checks the name column around the pad width: a header
// of 71 columns gets one pad space, 72 and more none, each then one space.
func TestRenderPadding(t *testing.T) {
	dev := vfs.Dev{Major: 8, Minor: 1}
	for _, tt := range []struct {
		ino  uint64
		want string
	}{
		{1111111111111111, "ffff800000000000-ffff800000001000 r--p 00000000 08:01 1111111111111111   /x"},
		{11111111111111111, "ffff800000000000-ffff800000001000 r--p 00000000 08:01 11111111111111111  /x"},
		{111111111111111111, "ffff800000000000-ffff800000001000 r--p 00000000 08:01 111111111111111111  /x"},
	} {
		f := testFile(t, "/x", dev, tt.ino, false)
		v := mm.Info{Start: 0xffff800000000000, End: 0xffff800000001000, Flags: mm.VMRead, File: f}
		if got := renderOne(v, mm.Layout{}); got != tt.want {
			t.Errorf("inode %d:\n got %q\nwant %q", tt.ino, got, tt.want)
		}
	}
}

func TestRenderGate(t *testing.T) {
	const gate = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	var b bytes.Buffer
	if err := Render(&b, nil, mm.Layout{Gate: true}); err != nil {
		t.Fatal(err)
	}
	if b.String() != gate {
		t.Errorf("gate alone: %q", b.String())
	}
	b.Reset()
	vmas := []mm.Info{{Start: 0x400000, End: 0x401000, Flags: rw}}
	if err := Render(&b, vmas, mm.Layout{Gate: true}); err != nil {
		t.Fatal(err)
	}
	if want := "00400000-00401000 rw-p 00000000 00:00 0 \n" + gate; b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if err := Render(&b, nil, mm.Layout{}); err != nil || b.Len() != 0 {
		t.Errorf("empty: %q, %v", b.String(), err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

// TestRenderChunks renders more than one chunk and checks the text against
// AppendMaps and a write error.
func TestRenderChunks(t *testing.T) {
	var vmas []mm.Info
	for i := range uint64(2000) {
		vmas = append(vmas, mm.Info{Start: 0x10000 + 2*i*mm.PageSize, End: 0x11000 + 2*i*mm.PageSize, Flags: rw, AnonName: "n"})
	}
	l := mm.Layout{Gate: true}
	var b bytes.Buffer
	if err := Render(&b, vmas, l); err != nil {
		t.Fatal(err)
	}
	if want := string(AppendMaps(nil, vmas, l)); b.String() != want {
		t.Fatal("Render and AppendMaps differ")
	}
	if n := strings.Count(b.String(), "\n"); n != 2001 {
		t.Fatalf("%d lines", n)
	}
	for _, n := range []int{0, 1} {
		if err := Render(&failWriter{n: n}, vmas, l); err == nil || err.Error() != "disk full" {
			t.Errorf("after %d writes: err = %v", n, err)
		}
	}
}

// TestMapsAddressSpace renders an address space built with Install.
func TestMapsAddressSpace(t *testing.T) {
	as := mm.New(mm.Config{})
	f := testFile(t, "/usr/bin/true", vfs.Dev{Major: 8, Minor: 1}, 1234, false)
	for _, in := range []mm.Info{
		{Start: 0x400000, End: 0x402000, Pgoff: 0, Flags: mm.VMRead | mm.VMExec, File: f},
		{Start: 0x600000, End: 0x621000, Flags: rw},
		{Start: 0x7ffff7ff0000, End: 0x7ffff7ff2000, Flags: mm.VMRead | mm.VMExec, Special: "[vdso]"},
		{Start: 0x7ffffffde000, End: 0x7ffffffff000, Flags: rw | mm.VMGrowsDown},
	} {
		if err := as.Install(in); err != nil {
			t.Fatal(err)
		}
	}
	as.SetLayout(mm.Layout{StartBrk: 0x600000, Brk: 0x620010, StartStack: 0x7fffffffe3a0, Gate: true})
	want := "" +
		"00400000-00402000 r-xp 00000000 08:01 1234                               /usr/bin/true\n" +
		"00600000-00621000 rw-p 00000000 00:00 0                                  [heap]\n" +
		"7ffff7ff0000-7ffff7ff2000 r-xp 00000000 00:00 0                          [vdso]\n" +
		"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n" +
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	if got := Maps(as); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderAllocs(t *testing.T) {
	f := testFile(t, "/usr/bin/true", vfs.Dev{Major: 8, Minor: 1}, 1234, false)
	vmas := []mm.Info{
		{Start: 0x400000, End: 0x402000, Flags: mm.VMRead | mm.VMExec, File: f},
		{Start: 0x600000, End: 0x621000, Flags: rw, AnonName: "a"},
	}
	l := mm.Layout{Gate: true}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendMaps(buf[:0], vmas, l) }); n != 0 {
		t.Errorf("AppendMaps allocates %v times", n)
	}
}

func BenchmarkAppendMaps(b *testing.B) {
	inode := vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: 8, Minor: 1}, Ino: 1234})
	f := vfs.NewFile("/usr/lib/x86_64-linux-gnu/libc.so.6", inode, vfs.ORdonly)
	defer f.Put()
	var vmas []mm.Info
	for i := range uint64(64) {
		in := mm.Info{Start: 0x7f0000000000 + 2*i*mm.PageSize, End: 0x7f0000001000 + 2*i*mm.PageSize, Flags: rw}
		if i%2 == 0 {
			in.File = f
		}
		vmas = append(vmas, in)
	}
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMaps(buf[:0], vmas, mm.Layout{Gate: true})
	}
}
