package mm

import (
	"fmt"
	"testing"
)

// validate checks an address space's invariants (validate_mm): the tree's
// shape (ordering, non-overlap, node bounds, size), the map count limit,
// and for every entry: page alignment and the address limit, the VMA's own
// range equal to the entry's, the VMA in the tree once, belonging to this
// address space, attached (a reference count of at least one, no detach in
// progress, no writer draining readers), and its File still open; and every
// breakpoint inside a mapped page. Readers may hold VMA read locks, and the
// VMAs of the write section may be write-locked: it holds at the end of
// every write section, which is where the tests run it (debugValidate).
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) validate() error {
	t := as.index.Load()
	if err := checkTreeShape(t); err != nil {
		return err
	}
	if t.size > as.cfg.MaxMapCount {
		return fmt.Errorf("%d VMAs, max_map_count %d", t.size, as.cfg.MaxMapCount)
	}
	seen := map[*VMA]bool{}
	for _, e := range treeForward(t) {
		v := e.vma
		ref := v.refcnt.Load()
		switch {
		case seen[v]:
			return fmt.Errorf("VMA %p in the tree twice", v)
		case !pageAligned(e.start) || !pageAligned(e.end):
			return fmt.Errorf("unaligned VMA [%#x, %#x)", e.start, e.end)
		case e.end > TaskSize:
			return fmt.Errorf("VMA [%#x, %#x) beyond the address limit", e.start, e.end)
		case v.Start() != e.start || v.End() != e.end:
			return fmt.Errorf("entry [%#x, %#x) names a VMA with range [%#x, %#x)", e.start, e.end, v.Start(), v.End())
		case v.mm.Load() != as:
			return fmt.Errorf("VMA [%#x, %#x) belongs to another address space", e.start, e.end)
		case ref == 0 || ref&(detachFlag|excludeFlag) != 0:
			return fmt.Errorf("VMA [%#x, %#x) in the tree with refcnt %#x (detached or draining)", e.start, e.end, ref)
		}
		if f := v.File(); f != nil && f.Refs() < 1 {
			return fmt.Errorf("VMA [%#x, %#x) maps a closed File", e.start, e.end)
		}
		seen[v] = true
	}
	for a := range as.bpTable() {
		if e, ok := t.lookup(a); !ok || !probeEligible(e.vma.Flags(), e.vma.File() != nil, false) {
			return fmt.Errorf("breakpoint at %#x outside an eligible mapping", a)
		}
	}
	return nil
}

// unmergedNeighbours reports two adjacent VMAs that the merge rules would
// have merged (had one been created or changed next to the other), except
// where exempt says either side may legitimately stay apart. Every sequence
// of mmap, mprotect, munmap and mremap calls leaves no such pair, with one
// exception the kernel shares: the source of an MREMAP_DONTUNMAP move loses
// its anon_vma and VM_LOCKED in place, without a merge attempt, so it can
// become mergeable with a neighbour it does not join (callers exempt it).
// Install builds other states on purpose.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) unmergedNeighbours(exempt func(start, end uint64) bool) error {
	var prev *VMA
	for _, e := range treeForward(as.index.Load()) {
		p := proposeFrom(e.vma, e.start, e.end)
		if prev != nil && mergeableWithPrev(prev, e.vma, &p) && e.vma.special.Load() == nil &&
			(exempt == nil || !exempt(prev.Start(), prev.End()) && !exempt(e.start, e.end)) {
			return fmt.Errorf("VMAs [%#x, %#x) and [%#x, %#x) could merge but did not",
				prev.Start(), prev.End(), e.start, e.end)
		}
		prev = e.vma
	}
	return nil
}

// Every write section of this package's tests ends with validate, and
// every tree version a writer publishes passes checkTreeShape: a writer
// that published two entries covering one address (growing a VMA before
// its neighbour shrank) fails the test that made it do so.
func init() {
	debugValidate = (*AddressSpace).validate
	debugPublish = checkTreeShape
}

// TestValidateCatches shows that validate and unmergedNeighbours report the
// states they exist to catch, so their silence elsewhere means something.
func TestValidateCatches(t *testing.T) {
	as, _ := diagSetup(t, "AABB")
	defer as.Exit()
	as.lock.ReadLock()
	if err := as.validate(); err != nil {
		t.Errorf("validate on a sound space: %v", err)
	}
	if err := as.unmergedNeighbours(nil); err == nil {
		t.Error("unmergedNeighbours missed two installed neighbours that would merge")
	}
	as.lock.ReadUnlock()

	corrupt := []struct {
		name  string
		apply func(v *VMA) (undo func())
	}{
		{"range", func(v *VMA) func() {
			old := v.end.Load()
			v.end.Store(old + PageSize)
			return func() { v.end.Store(old) }
		}},
		{"detached", func(v *VMA) func() {
			old := v.refcnt.Load()
			v.refcnt.Store(0)
			return func() { v.refcnt.Store(old) }
		}},
		{"draining", func(v *VMA) func() {
			v.refcnt.Add(excludeFlag)
			return func() { v.refcnt.Add(^uint32(excludeFlag - 1)) }
		}},
		{"owner", func(v *VMA) func() {
			old := v.mm.Load()
			v.mm.Store(New(Config{}))
			return func() { v.mm.Store(old) }
		}},
	}
	for _, c := range corrupt {
		as.lock.ReadLock()
		undo := c.apply(as.vmaAt(diagBase))
		if err := as.validate(); err == nil {
			t.Errorf("%s: validate found nothing wrong", c.name)
		}
		undo()
		as.lock.ReadUnlock()
	}
	bad := (&tree{}).insert(entry{diagBase, diagBase + 2*PageSize, nil}).insert(entry{diagBase + PageSize, diagBase + 3*PageSize, nil})
	if err := checkTreeShape(bad); err == nil {
		t.Error("checkTreeShape accepted overlapping entries")
	}
}
