package procfs

import (
	"errors"
	"strings"
	"testing"

	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/vfs"
)

func mustParse(t *testing.T, text string) []Entry {
	t.Helper()
	entries, err := ParseString(text)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestLoadFromSample(t *testing.T) {
	as, err := LoadFrom(mustParse(t, sampleMaps))
	if err != nil {
		t.Fatal(err)
	}
	if got := Maps(as); got != sampleMaps {
		t.Fatalf("Maps differs:\n%s", got)
	}
	vmas, l := as.Snapshot()
	if want := (mm.Layout{StartBrk: 0x560bc8596000, Brk: 0x560bc85b7000, StartStack: 0x7ffe632a6fff, Gate: true}); l != want {
		t.Errorf("layout %+v, want %+v", l, want)
	}
	at := func(addr uint64) mm.Info {
		t.Helper()
		in, ok := as.Lookup(addr)
		if !ok {
			t.Fatalf("nothing at %#x", addr)
		}
		return in
	}
	may := mm.VMMayRead | mm.VMMayWrite | mm.VMMayExec

	libc := at(0x7f49f4465000)
	if libc.File == nil || libc.File.Path() != "/usr/lib/x86_64-linux-gnu/libc.so.6" || libc.Pgoff != 0x26 ||
		libc.Flags != mm.VMRead|mm.VMExec|may || libc.Inode.ID() != (vfs.InodeID{Dev: vfs.Dev{Major: 0xfe}, Ino: 326269}) {
		t.Errorf("libc text: %+v", libc)
	}
	if other := at(0x7f49f4612000); other.File != libc.File {
		t.Error("the mappings of one path and inode do not share a File")
	}
	if libc.File.Flags()&vfs.OAccmode != vfs.ORdonly {
		t.Errorf("libc opened with flags %#x", libc.File.Flags())
	}

	shm := at(0x7f49f4621000)
	if shm.File == nil || shm.File.Path() != "/dev/zero" || shm.Inode.ID().Dev != vfs.ShmemDev || !shm.Inode.Deleted() ||
		shm.Flags != mm.VMRead|mm.VMWrite|mm.VMShared|mm.VMMayShare|may {
		t.Errorf("shared anonymous: %+v", shm)
	}
	if shm.File.Flags()&vfs.OAccmode != vfs.ORdwr {
		t.Errorf("shared writable file opened with flags %#x", shm.File.Flags())
	}
	named := at(0x7f49f443a000)
	if named.File == nil || named.AnonName != "shared one" || named.Inode.ID() != (vfs.InodeID{Dev: vfs.ShmemDev, Ino: 33}) {
		t.Errorf("anon_shmem: %+v", named)
	}
	if gone := at(0x7f49f4624000); gone.File.Path() != "/tmp/ct/d/gone.bin" || !gone.Inode.Deleted() {
		t.Errorf("deleted file: %+v", gone)
	}
	if nl := at(0x7f49f4626000); nl.File.Path() != "/tmp/ct/d/new\nline" {
		t.Errorf("newline path %q", nl.File.Path())
	}
	if anon := at(0x7f49f4436000); anon.File != nil || anon.AnonName != "specvma test" || anon.Special != "" {
		t.Errorf("anon name: %+v", anon)
	}
	if vdso := at(0x7f49f4632000); vdso.Special != "[vdso]" || vdso.File != nil || vdso.Flags&mm.VMDontExpand == 0 {
		t.Errorf("vdso: %+v", vdso)
	}
	if stack := at(0x7ffe63286000); stack.Flags&mm.VMGrowsDown == 0 || stack.File != nil {
		t.Errorf("stack: %+v", stack)
	}
	if heap := at(0x560bc8596000); heap.File != nil || heap.Special != "" || heap.AnonName != "" {
		t.Errorf("heap: %+v", heap)
	}
	if n := strings.Count(sampleMaps, "\n") - 1; len(vmas) != n {
		t.Errorf("%d VMAs, want %d", len(vmas), n)
	}
}

func TestLoadFromEdges(t *testing.T) {
	for _, text := range []string{
		"",
		// Two [stack] lines sharing start_stack at their boundary.
		"7ffe63286000-7ffe63290000 rw-p 00000000 00:00 0                          [stack]\n" +
			"7ffe63290000-7ffe632a7000 r--p 00000000 00:00 0                          [stack]\n",
		// A heap split in two, a named VMA beyond it, a special mapping and
		// a file inside the brk range.
		"00600000-00610000 rw-p 00000000 00:00 0                                  [heap]\n" +
			"00610000-00611000 r--p 00000000 00:00 0                                  [uprobes]\n" +
			"00611000-00612000 r--p 00000000 08:01 77                                 /x\n" +
			"00612000-00620000 r--p 00000000 00:00 0                                  [heap]\n" +
			"00620000-00621000 rw-p 00000000 00:00 0                                  [anon:after]\n",
		// A path that looks like a special name on a device, and a
		// bracketed name that is not an anon name.
		"00600000-00610000 rw-p 00000000 00:0e 9                                  [heap]\n" +
			"00610000-00611000 r--p 00000000 00:00 0                                  [anon:]\n" +
			"00611000-00612000 r--p 00000000 00:00 0                                  [weird\n" +
			"00612000-00613000 r--p 00000000 00:00 0                                  relative\n",
	} {
		as, err := LoadFrom(mustParse(t, text))
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		if got := Maps(as); got != text {
			t.Errorf("got\n%s\nwant\n%s", got, text)
		}
	}
}

func TestLoadFromErrors(t *testing.T) {
	const (
		a = "00400000-00401000 r--p 00000000 00:00 0 \n"
		b = "00401000-00402000 rw-p 00000000 00:00 0 \n"
	)
	for _, tt := range []struct{ text, msg string }{
		{b + a, "line 2: range 00400000-00401000 overlaps or precedes line 1"},
		{"00400000-00402000 r--p 00000000 00:00 0 \n" + b, "line 2: range 00401000-00402000 overlaps"},
		{"00400001-00401000 r--p 00000000 00:00 0 \n", "line 1: range 00400001-00401000 is not page aligned"},
		{a + "00401000-00402000 r--p 00000010 08:01 4                                  /x\n", "line 2: offset 10 is not page aligned"},
		{"00400000-00401000 r--p 00001000 00:00 0 \n", "line 1: a file mapping without a name"},
		{a + "ffffffffff600000-ffffffffff601000 r-xp 00000000 00:00 0                  [vsyscall]\n",
			"line 2: the model prints only the x86-64 gate line ffffffffff600000-ffffffffff601000 --xp"},
		{"800000000000-800000001000 r--p 00000000 00:00 0 \n", "line 1: cannot install 800000000000-800000001000: "},
		{"00400000-00401000 rw-p 00000000 00:00 0                                  [stack]\n" +
			"00402000-00403000 rw-p 00000000 00:00 0                                  [stack]\n", "line 2: a second [stack] not adjacent"},
		{"00400000-00401000 rw-p 00000000 00:00 0                                  [stack]\n" +
			"00401000-00402000 rw-p 00000000 00:00 0                                  [stack]\n" +
			"00402000-00403000 rw-p 00000000 00:00 0                                  [stack]\n", "line 3: more than two [stack] lines"},
		// The kernel never names a VMA between two heap VMAs otherwise.
		{"00400000-00401000 rw-p 00000000 00:00 0                                  [heap]\n" + b +
			"00402000-00403000 rw-p 00000000 00:00 0                                  [heap]\n",
			`line 2: the model prints "00401000-00402000 rw-p 00000000 00:00 0                                  [heap]" for "00401000-00402000 rw-p 00000000 00:00 0 "`},
		// One inode both deleted and not: the model keeps it on the inode.
		{"00400000-00401000 r--p 00000000 08:01 4242                               /x\n" +
			"00401000-00402000 r--p 00000000 08:01 4242                               /y (deleted)\n",
			`line 1: the model prints "00400000-00401000 r--p 00000000 08:01 4242                               /x (deleted)"`},
	} {
		_, err := LoadFrom(mustParse(t, tt.text))
		var le *LoadError
		if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("%s:\n got %v\nwant %s...", tt.text, err, tt.msg)
		}
	}
}

// TestLoadFromReleases checks that a failed load gives back its VMAs and
// files.
func TestLoadFromReleases(t *testing.T) {
	bad := mustParse(t, sampleMaps)
	bad = append(bad[:len(bad)-1], Entry{Start: 0x7fff00000000, End: 0x7fff00001000, Perms: PermRead, Dev: vfs.Dev{Major: 8, Minor: 1}, Inode: 4, Name: "/y"},
		Entry{Start: 0x7fff00000000, End: 0x7fff00001000, Perms: PermRead})
	base := testsupport.TakeBaseline(testsupport.Cache{Name: "VMAs", Stats: mm.LiveVMAs},
		testsupport.Cache{Name: "Files", Stats: vfs.LiveFiles})
	if _, err := LoadFrom(bad); err == nil {
		t.Fatal("an overlapping load succeeded")
	}
	base.CheckCaches(t)
}
