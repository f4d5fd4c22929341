//go:build linux

package procfs

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"specvma/mm"
)

// TestLoadLiveSmaps: a process loaded with Smaps has, on a page it marked
// MADV_DONTFORK and one it marked MADV_WIPEONFORK, VM_DONTCOPY and
// VM_WIPEONFORK; loaded from maps it has neither. Smaps with Query is
// refused.
func TestLoadLiveSmaps(t *testing.T) {
	p, err := unix.Mmap(-1, 0, 3*unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(p)
	pg := unix.Getpagesize()
	if err := unix.Madvise(p[:pg], unix.MADV_DONTFORK); err != nil {
		t.Fatal(err)
	}
	if err := unix.Madvise(p[2*pg:], unix.MADV_WIPEONFORK); err != nil {
		t.Fatal(err)
	}
	base := uint64(uintptr(unsafe.Pointer(&p[0])))
	want := map[uint64]mm.VMFlags{base: mm.VMDontCopy, base + uint64(2*pg): mm.VMWipeOnFork}
	for _, smaps := range []bool{true, false} {
		as, _, err := LoadLive(0, LoadOptions{Smaps: smaps})
		if err != nil {
			t.Fatal(err)
		}
		for addr, f := range want {
			v, ok := as.Lookup(addr)
			if got := ok && v.Flags&f != 0; got != smaps {
				t.Errorf("smaps %v: the VMA at %#x has flags %#x; want %#x set: %v", smaps, addr, v.Flags, f, smaps)
			}
		}
		release(as)
	}
	es, _, err := LiveEntries(0, LoadOptions{Smaps: true, ExecOnly: true})
	if err != nil || len(es) == 0 {
		t.Fatalf("executable mappings from smaps: %d, %v", len(es), err)
	}
	for _, e := range es {
		if !isExecFile(e) || !e.HasFlags || e.Flags&mm.VMExec == 0 {
			t.Errorf("ExecOnly from smaps gave %v (flags %#x, %v)", e, e.Flags, e.HasFlags)
		}
	}
	if _, _, err := LoadLive(0, LoadOptions{Smaps: true, Query: true}); err == nil {
		t.Error("Smaps with Query: no error")
	}
}
