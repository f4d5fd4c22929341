package scenario

import (
	"strings"
	"testing"

	"specvma/errno"
	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/vfs"
)

// TestModelFileReferences checks that the runner and the model together
// leave no open file description behind: PATH files are closed after their
// mmap, names left open are closed at the end, and unmapping drops the
// mappings' references.
func TestModelFileReferences(t *testing.T) {
	base := testsupport.TakeBaseline(testsupport.Cache{Name: "Files", Stats: vfs.LiveFiles})
	b := NewModel(mm.Config{})
	script := `open a /etc/passwd
open b /etc/passwd
mmap 0x200000000000 0x1000 r-- MAP_PRIVATE a 0
mmap 0x200000001000 0x1000 r-- MAP_PRIVATE /etc/passwd 0x1000
mmap 0x200000002000 0x1000 r-- MAP_PRIVATE b 0x2000
close a
mprotect 0x200000000000 0x3000 ---
munmap 0x200000000000 0x3000
open b /etc/passwd
`
	var out strings.Builder
	if err := Run("refs.vma", strings.NewReader(script), b, &out); err != nil {
		t.Fatal(err)
	}
	if want := "= 0\n= 0\n= 0x200000000000\n= 0x200000001000\n= 0x200000002000\n= 0\n= 0\n= 0\n= 0\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	base.CheckCaches(t)
}

func TestModelBackend(t *testing.T) {
	m := NewModel(mm.Config{})
	if err := m.Close("not a file"); err != errno.EBADF {
		t.Errorf("Close(non-file) = %v, want EBADF", err)
	}
	if _, err := m.Open("/nonexistent/specvma"); err != errno.ENOENT {
		t.Errorf("Open(missing) = %v, want ENOENT", err)
	}
	sp, err := m.Space("main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Mmap(0x200000000000, 0x1000, mm.ProtRead, mm.MapPrivate, "not a file", 0); err == nil {
		t.Error("Mmap with a foreign FileRef succeeded")
	}
	if _, err := m.Space("other"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Names(), ","); got != "main,other" {
		t.Errorf("Names() = %q", got)
	}
	if m.AddressSpace("main") != m.AddressSpace("main") {
		t.Error("AddressSpace is not stable")
	}
	if _, err := sp.Mmap(0x200000000000, 0x1000, mm.ProtRead, mm.MapPrivate|mm.MapAnonymous, nil, 0); err != nil {
		t.Fatal(err)
	}
	if m.AddressSpace("main").MapCount() != 1 || m.AddressSpace("other").MapCount() != 0 {
		t.Error("the mapping is not in main alone")
	}
	text, err := sp.Maps()
	if err != nil || text != "200000000000-200000001000 r--p 00000000 00:00 0 \n" {
		t.Errorf("Maps() = %q, %v", text, err)
	}
}

// TestModelFork runs fork through the script language: the child is
// current after the fork and prints its copy, the parent keeps its own
// address space, the echo form shows the result, and a fork refused by
// the commit limit prints -ENOMEM and leaves the parent current.
func TestModelFork(t *testing.T) {
	script := `mmap 0x200000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS
process c fork
munmap 0x200000000000 0x1000
maps
process main
maps
`
	var out strings.Builder
	s, err := ParseString("f.vma", script)
	if err != nil {
		t.Fatal(err)
	}
	s.Echo = true
	if err := s.Run(NewModel(mm.Config{}), &out); err != nil {
		t.Fatal(err)
	}
	want := `mmap 0x200000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS = 0x200000000000
process c fork = 0
munmap 0x200000000000 0x1000 = 0
maps
200000001000-200000002000 rw-p 00000000 00:00 0 
process main
maps
200000000000-200000002000 rw-p 00000000 00:00 0 
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	m := NewModel(mm.Config{Overcommit: mm.OvercommitNever, CommitLimit: 0x3000})
	if err := Run("f.vma", strings.NewReader(`mmap 0x200000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS
process c fork
maps
`), m, &out); err != nil {
		t.Fatal(err)
	}
	if want := "= 0x200000000000\n= -ENOMEM\n200000000000-200000002000 rw-p 00000000 00:00 0 \n"; out.String() != want {
		t.Errorf("refused fork: got\n%s\nwant\n%s", out.String(), want)
	}
}

// TestModelForkReturn: a fork between a hit on a return probe and its ret
// leaves both processes inside the function: each ret fires the probe.
func TestModelForkReturn(t *testing.T) {
	var out strings.Builder
	if err := Run("r.vma", strings.NewReader(`probe r:demo/exit /bin/true:0x1000
mmap 0x200000000000 0x4000 r-x MAP_PRIVATE /bin/true 0
hit 0x200000001000
process c fork
ret
ret
process main
ret
`), NewModel(mm.Config{}), &out); err != nil {
		t.Fatal(err)
	}
	if want := "= 0\n= 0x200000000000\n-\n= 0\ndemo/exit\n-\ndemo/exit\n"; out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
