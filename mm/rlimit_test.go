package mm

import (
	"testing"

	"specvma/errno"
)

// TestASRlimit: RLIMIT_AS counts every VMA against the limit and refuses
// with ENOMEM each call that would pass it (mmap, counting what MAP_FIXED
// replaces; mremap growth; MREMAP_DONTUNMAP; brk; a stack's growth, which
// faults but leaves the stack its anon_vma), never mprotect. The kernel
// side is testdata/rlimit_as.vma of difftest/kerneltest.
func TestASRlimit(t *testing.T) {
	const base = 0x200000000000
	as := New(Config{ASRlimit: 8 * PageSize})
	as.SetLayout(Layout{StartBrk: base + 0x100000, Brk: base + 0x100000})
	anon := MapPrivate | MapAnonymous | MapFixed
	mmap := func(addr, n uint64, prot, flags int) error {
		_, err := as.Mmap(addr, n*PageSize, prot, flags, nil, 0)
		return err
	}
	for _, c := range []struct {
		addr, pages uint64
		prot, flags int
		want        error
	}{
		{base, 3, ProtRead | ProtWrite, anon, nil},
		{base + 0x10000, 2, ProtNone, anon | MapNoReserve, nil},
		{base + 0x20000, 3, ProtRead, MapShared | MapAnonymous | MapFixed, nil}, // 8 pages
		{base + 0x30000, 1, ProtRead, anon, errno.ENOMEM},
		{base + 0x2000, 2, ProtRead, anon, errno.ENOMEM}, // replaces 1: 8 + 1
		{base, 3, ProtRead, anon, nil},                   // replaces all 3
	} {
		if err := mmap(c.addr, c.pages, c.prot, c.flags); err != c.want {
			t.Fatalf("mmap %#x %d pages: %v, want %v", c.addr, c.pages, err, c.want)
		}
	}
	if err := as.Mprotect(base+0x10000, 2*PageSize, ProtRead|ProtWrite); err != nil {
		t.Errorf("mprotect at the limit: %v, want success", err)
	}
	if err := as.Munmap(base+0x20000, PageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := as.Mremap(base, 3*PageSize, 5*PageSize, 0, 0); err != errno.ENOMEM {
		t.Errorf("mremap growing by 2 at 7 of 8 pages: %v, want ENOMEM", err)
	}
	if _, err := as.Mremap(base, 3*PageSize, 3*PageSize, MremapMayMove|MremapDontUnmap|MremapFixed, base+0x40000); err != errno.ENOMEM {
		t.Errorf("MREMAP_DONTUNMAP of 3 pages at 7 of 8: %v, want ENOMEM", err)
	}
	if _, err := as.Mremap(base, 3*PageSize, 4*PageSize, 0, 0); err != nil {
		t.Errorf("mremap growing to the limit: %v", err)
	}
	if got := as.Brk(base + 0x101000); got != base+0x100000 {
		t.Errorf("brk past the limit moved the break to %#x", got)
	}
	// A stack (away from the guard gap of the others) cannot grow past the limit.
	if err := as.Munmap(base, 4*PageSize); err != nil {
		t.Fatal(err)
	}
	if err := mmap(base+0x402000, 2, ProtRead|ProtWrite, anon|MapGrowsDown); err != nil {
		t.Fatal(err)
	}
	if got := as.Brk(base + 0x101000); got != base+0x101000 {
		t.Errorf("brk within the limit: %#x", got)
	}
	if err := as.Fault(base+0x400000, true); err != errno.EFAULT {
		t.Errorf("a stack growing past the limit: %v, want EFAULT", err)
	}
	v, _ := as.Lookup(base + 0x402000)
	if v.Start != base+0x402000 || v.AnonVMA == nil {
		t.Errorf("after the refused growth the stack is %#x-%#x with anon_vma %v; want unchanged, with one", v.Start, v.End, v.AnonVMA)
	}
	if err := as.Fault(base+0x401000, true); err != nil {
		t.Errorf("a stack growing to the limit: %v", err)
	}
}
