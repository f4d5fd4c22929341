package mm

import (
	"sync"
	"testing"

	"specvma/errno"
	"specvma/vfs"
)

// forkFixture maps, in the parent, one VMA of each kind fork treats
// differently, 16 pages apart: written anonymous memory (A), never
// touched anonymous memory (U), MADV_DONTFORK (D), MADV_WIPEONFORK
// written (W), mlocked (L), sealed (S) and a private file mapping (F).
const (
	fkBase = 0x200000000000
	fkA    = fkBase
	fkU    = fkBase + 0x10000
	fkD    = fkBase + 0x20000
	fkW    = fkBase + 0x30000
	fkL    = fkBase + 0x40000
	fkS    = fkBase + 0x50000
	fkF    = fkBase + 0x60000
)

func forkFixture(t *testing.T) (*AddressSpace, *vfs.File) {
	t.Helper()
	as := New(Config{IPCLock: true})
	for _, a := range []uint64{fkA, fkU, fkD, fkW, fkL, fkS} {
		mustMap(t, as, a, 0x2000)
	}
	f := vfs.NewFile("/fixture", vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: 0x79}, Ino: 4242}), vfs.ORdwr)
	vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: 0x79}, Ino: 4242}).SetSize(0x10000)
	t.Cleanup(f.Put)
	if _, err := as.Mmap(fkF, 0x2000, ProtRead|ProtExec, MapPrivate|MapFixed, f, 0); err != nil {
		t.Fatal(err)
	}
	for _, a := range []uint64{fkA, fkD, fkW, fkL, fkS} {
		if err := as.Fault(a, true); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(as.Madvise(fkD, 0x2000, MadvDontFork))
	must(as.Madvise(fkW, 0x2000, MadvWipeOnFork))
	must(as.Mlock(fkL, 0x2000))
	must(as.Mseal(fkS, 0x2000, 0))
	as.SetLayout(Layout{StartBrk: 0x100000, Brk: 0x123000, StartStack: 0x7ff000000000})
	return as, f
}

// TestForkCopies checks what dup_mmap copies: every VMA but the
// MADV_DONTFORK one, with its flags less VM_LOCKED, its file shared (one
// more reference to the same open file description), a new anon_vma whose
// parent is the parent VMA's where the parent has one and the VMA is not
// VM_WIPEONFORK, the seal, and the layout.
func TestForkCopies(t *testing.T) {
	parent, f := forkFixture(t)
	refs := f.Refs()
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Refs(); got != refs+1 {
		t.Errorf("file references after fork: %d, want %d", got, refs+1)
	}
	pv := map[uint64]Info{}
	for _, in := range parent.VMAs() {
		pv[in.Start] = in
	}
	cv := map[uint64]Info{}
	for _, in := range child.VMAs() {
		cv[in.Start] = in
	}
	if _, ok := cv[fkD]; ok {
		t.Errorf("the MADV_DONTFORK VMA was copied")
	}
	if len(cv) != len(pv)-1 {
		t.Errorf("child has %d VMAs, parent %d: want one fewer", len(cv), len(pv))
	}
	for start, c := range cv {
		p := pv[start]
		if c.End != p.End || c.Pgoff != p.Pgoff || c.File != p.File {
			t.Errorf("%#x: child %+v, parent %+v", start, c, p)
		}
		if c.Flags != p.Flags&^vmLockedMask {
			t.Errorf("%#x: child flags %#x, want the parent's %#x less VM_LOCKED", start, c.Flags, p.Flags)
		}
		switch {
		case start == fkW || p.AnonVMA == nil:
			if c.AnonVMA != nil {
				t.Errorf("%#x: the child has an anon_vma (the parent's is %v, flags %#x)", start, p.AnonVMA, p.Flags)
			}
		case c.AnonVMA == nil || c.AnonVMA == p.AnonVMA || c.AnonVMA.Parent() != p.AnonVMA:
			t.Errorf("%#x: child anon_vma %v, want a new one whose parent is %v", start, c.AnonVMA, p.AnonVMA)
		}
	}
	if pv[fkL].Flags&VMLocked == 0 {
		t.Errorf("the parent lost VM_LOCKED")
	}
	if err := child.Munmap(fkS, 0x1000); err != errno.EPERM {
		t.Errorf("munmap of sealed memory in the child: %v, want EPERM", err)
	}
	if _, l := child.Snapshot(); l.StartBrk != 0x100000 || l.Brk != 0x123000 || l.StartStack != 0x7ff000000000 {
		t.Errorf("child layout %+v", l)
	}
	if got := child.Brk(0); got != 0x123000 {
		t.Errorf("child's brk: %#x", got)
	}
	child.Exit()
	if got := f.Refs(); got != refs {
		t.Errorf("file references after the child's exit: %d, want %d", got, refs)
	}
	if len(child.VMAs()) != 0 {
		t.Errorf("the child's exit left VMAs (sealed ones too must go)")
	}
}

// TestForkMerges checks the anon_vma rule after fork, both ways round: a
// split made in the parent before fork merges back in the parent but not
// in the child (each child VMA has its own anon_vma); one made in the
// child after fork merges back there; a new mapping next to an inherited
// written VMA joins it in the parent but not in the child (a fork child's
// anon_vma is not shared with unfaulted neighbours, either way round); and
// a first fault next to an inherited VMA does not take its anon_vma.
func TestForkMerges(t *testing.T) {
	const b = 0x200000000000
	rw, r := ProtRead|ProtWrite, ProtRead
	parent := New(Config{})
	mustMap(t, parent, b, 0x4000)
	mustMap(t, parent, b+0x10000, 0x4000)
	for _, a := range []uint64{b, b + 0x10000} {
		if err := parent.Fault(a, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := parent.Mprotect(b+0x1000, 0x1000, r); err != nil {
		t.Fatal(err)
	}
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	count := func(as *AddressSpace) int { return len(as.VMAs()) }
	for _, as := range []*AddressSpace{parent, child} {
		if err := as.Mprotect(b+0x1000, 0x1000, rw); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(parent); n != 2 {
		t.Errorf("parent after mprotect back: %d VMAs, want 2 (merged)", n)
	}
	if n := count(child); n != 4 {
		t.Errorf("child after mprotect back: %d VMAs, want 4 (a parent's split stays)", n)
	}
	// A split made in the child merges back in the child.
	if err := child.Mprotect(b+0x11000, 0x1000, r); err != nil {
		t.Fatal(err)
	}
	if err := child.Mprotect(b+0x11000, 0x1000, rw); err != nil {
		t.Fatal(err)
	}
	if n := count(child); n != 4 {
		t.Errorf("child after its own split and mprotect back: %d VMAs, want 4", n)
	}
	// New anonymous memory right after an inherited written VMA.
	for _, as := range []*AddressSpace{parent, child} {
		mustMap(t, as, b+0x14000, 0x1000)
	}
	if n := count(parent); n != 2 {
		t.Errorf("parent after mmap next to its written VMA: %d VMAs, want 2", n)
	}
	if n := count(child); n != 5 {
		t.Errorf("child after mmap next to an inherited VMA: %d VMAs, want 5", n)
	}
	// Unfaulted memory before an inherited VMA, changed to match it.
	for _, as := range []*AddressSpace{parent, child} {
		if _, err := as.Mmap(b+0xf000, 0x1000, r, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
			t.Fatal(err)
		}
		if err := as.Mprotect(b+0xf000, 0x1000, rw); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(parent); n != 2 {
		t.Errorf("parent after mprotect of an unfaulted neighbour: %d VMAs, want 2", n)
	}
	if n := count(child); n != 6 {
		t.Errorf("child after mprotect of an unfaulted neighbour: %d VMAs, want 6", n)
	}
	// Its first fault does not reuse the fork child's anon_vma.
	if err := child.Fault(b+0xf000, true); err != nil {
		t.Fatal(err)
	}
	in, _ := child.Lookup(b + 0xf000)
	next, _ := child.Lookup(b + 0x10000)
	if in.AnonVMA == nil || in.AnonVMA == next.AnonVMA {
		t.Errorf("first fault next to a fork child: anon_vma %v, neighbour's %v: want a new one", in.AnonVMA, next.AnonVMA)
	}
}

// TestForkRefusedCharge checks that a fork whose commit charge is refused
// (overcommit mode 2: the parent's commitments and the child's together
// past the limit) fails with ENOMEM and leaves the parent as it was, and
// that one within the limit succeeds.
func TestForkRefusedCharge(t *testing.T) {
	as := New(Config{Overcommit: OvercommitNever, CommitLimit: 0x4000})
	mustMap(t, as, 0x200000000000, 0x2000)
	if c, err := as.Fork(); err != nil {
		t.Fatalf("fork committing 2 pages more, 4 in all, limit 4: %v", err)
	} else {
		c.Exit()
	}
	mustMap(t, as, 0x200000010000, 0x1000)
	before := len(as.VMAs())
	if _, err := as.Fork(); err != errno.ENOMEM {
		t.Fatalf("fork past the commit limit: %v, want ENOMEM", err)
	}
	if len(as.VMAs()) != before {
		t.Errorf("the parent changed")
	}
}

// TestForkConcurrent forks while other goroutines fault in and resolve in
// the parent, for the race detector and validate: fork holds the parent's
// write lock, so each child is one state of the parent.
func TestForkConcurrent(t *testing.T) {
	parent, _ := forkFixture(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a := uint64(fkU + (i%2)*0x1000)
			_ = parent.Fault(a, true)
			prot := ProtRead
			if i%2 == 0 {
				prot |= ProtWrite
			}
			_ = parent.Mprotect(fkU+0x1000, 0x1000, prot)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			Resolve(parent, fkF, MMSeq, func(Mapping) (int, bool) { return 0, true })
		}
	}()
	for range 50 {
		child, err := parent.Fork()
		if err != nil {
			t.Fatal(err)
		}
		if err := child.validate(); err != nil {
			t.Fatal(err)
		}
		child.Exit()
	}
	close(stop)
	wg.Wait()
}
