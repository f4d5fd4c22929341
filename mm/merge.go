package mm

import "specvma/vfs"

// Merging and splitting, as Linux 6.x's mm/vma.c does them.
//
// Two ranges merge only when they are adjacent and have the same flags
// (VM_SOFTDIRTY aside, and VM_ACCOUNT included though maps does not print
// it), the same open file description (not merely the same inode), file
// offsets that continue each other (anonymous memory has offsets too: the
// page number of the address it was first mapped at), anon_vmas that do not
// conflict (anonMergeable: both the same, or at most one set and that one
// not inherited through fork), and the same anonymous name. VM_SPECIAL mappings never merge. Every VMA a helper changes
// is write-locked first; callers hold the mmap write lock.

// proposal describes the range a caller wants to create or change to.
type proposal struct {
	start, end uint64
	pgoff      uint64
	flags      VMFlags
	file       *vfs.File
	anon       *AnonVMA
	name       *string
	// copiedFrom is the VMA an mremap move copies (copy_vma's
	// vmg->copied_from), nil otherwise.
	copiedFrom *VMA
}

func (p *proposal) pages() uint64 { return (p.end - p.start) >> PageShift }

func nameEq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// isForkChild is vma_is_fork_child: v's anon_vma came through fork, so its
// anon_vma_chain also links the anon_vmas of its ancestors.
func isForkChild(v *VMA) bool { return v != nil && v.anon.Load() != nil && v.forkChild.Load() }

// anonMergeable is is_mergeable_anon_vma (Linux 6.18): can p, taken from
// middle (nil for a new range), join tgt, its neighbour, as far as
// anon_vmas go? Equal anon_vmas always can. When only p has one, tgt would
// take p's chain, which Linux refuses for a fork child's (middle's, or the
// VMA mremap copies from): merging would widen what the root anon_vma lock
// covers. When only tgt has one, p joins it unless tgt is a fork child.
// Never-forked VMAs (every chain singular) merge when at most one side has
// an anon_vma.
func anonMergeable(tgt, middle *VMA, p *proposal) bool {
	ta := tgt.anon.Load()
	switch {
	case ta == nil && p.anon != nil:
		return !isForkChild(middle) && !isForkChild(p.copiedFrom)
	case ta != nil && p.anon == nil:
		return !isForkChild(tgt)
	}
	return ta == p.anon
}

// sameKind is is_mergeable_vma: everything but position and anon_vma.
func (v *VMA) sameKind(p *proposal) bool {
	return (v.Flags()^p.flags)&^vmIgnoreMerge == 0 && p.flags&VMSpecial == 0 &&
		v.File() == p.file && nameEq(v.name.Load(), p.name) && v.special.Load() == nil
}

// The merge rules as a pure planner (Linux 6.12+'s vma_merge_struct and
// its predicates): planMerge decides from (prev, middle, next, proposal)
// which neighbours absorb the range and changes nothing; commitMerge then
// carries the plan out. mergeNew and mergeExisting are the two entry
// points, as vma_merge_new_range and vma_merge_existing_range are.

// mergeableWithPrev is can_vma_merge_after: p, taken from middle (nil for
// a new range), can be appended to prev.
func mergeableWithPrev(prev, middle *VMA, p *proposal) bool {
	return prev != nil && prev.End() == p.start && prev.sameKind(p) &&
		anonMergeable(prev, middle, p) && prev.Pgoff()+prev.pages() == p.pgoff
}

// mergeableWithNext is can_vma_merge_before: p, taken from middle, can be
// prepended to next.
func mergeableWithNext(next, middle *VMA, p *proposal) bool {
	return next != nil && next.Start() == p.end && next.sameKind(p) &&
		anonMergeable(next, middle, p) && p.pgoff+p.pages() == next.Pgoff()
}

// prevNextCompatible is the extra condition for merging on both sides: prev
// and next must also be compatible with each other. Each was compared with
// the proposal alone, and anon_vma compatibility is not transitive: a range
// without an anon_vma is compatible with a prev whose anon_vma is A and a
// next whose anon_vma is B, but the one VMA that a three-way merge leaves
// has one anon_vma, and the pages of prev and next cannot both be reached
// through it. (Flags, file and offsets are transitive: equal to p's on both
// sides means equal to each other.)
func prevNextCompatible(prev, next *VMA) bool {
	a, b := prev.anon.Load(), next.anon.Load()
	return a == nil || b == nil || a == b
}

// mergePlan is what planMerge decided: which neighbours absorb p.
type mergePlan struct {
	prev, middle, next *VMA // middle is nil when p's range is unmapped (a new mapping)
	p                  *proposal
	left, right        bool // p joins prev; p joins next
}

// planMerge decides how p merges; it reads the VMAs and changes nothing.
// prev must end where middle (or, with no middle, p) starts and next start
// where middle (or p) ends; either may be nil. With a middle, p is a range
// of it: the range can join prev only if it starts where middle starts, and
// next only if it ends where middle ends. A VM_SPECIAL middle never merges.
func planMerge(prev, middle, next *VMA, p *proposal) mergePlan {
	m := mergePlan{prev: prev, middle: middle, next: next, p: p}
	if middle != nil && middle.Flags()&VMSpecial != 0 {
		return m
	}
	atStart := middle == nil || p.start == middle.Start()
	atEnd := middle == nil || p.end == middle.End()
	m.left = atStart && mergeableWithPrev(prev, middle, p)
	m.right = atEnd && mergeableWithNext(next, middle, p)
	if m.left && m.right && !prevNextCompatible(prev, next) {
		m.right = false // as the kernel does: merge with prev only
	}
	return m
}

// merges reports whether the plan changes anything.
func (m *mergePlan) merges() bool { return m.left || m.right }

// commitMerge carries out a plan that merges and returns the VMA now
// covering p's range: prev when p joins it, else next.
//
// The order is fixed: every VMA the plan touches is write-locked before any
// of them changes; the surviving VMA adopts the anon_vma of the VMAs it
// absorbs; then the VMAs that lose range are published (middle removed or
// shrunk, next removed when prev absorbs it) and only then the survivor's
// grown range. Shrinking before growing means no published tree version
// has two entries covering one address: a lockless walker sees at worst a
// hole, which sends it to the locked path, where the writer is waited for.
//
// Preconditions: the mmap write lock is held; m.merges().
func (as *AddressSpace) commitMerge(m mergePlan) *VMA {
	p, middle := m.p, m.middle
	survivor := m.next
	if m.left {
		survivor = m.prev
	}
	absorbNext := m.left && m.right
	as.beginStore() // the survivor stored over what it absorbs, in one version
	defer as.endStore()
	as.vmaStartWrite(survivor)
	if middle != nil {
		as.vmaStartWrite(middle)
	}
	if absorbNext {
		as.vmaStartWrite(m.next)
	}
	if middle != nil {
		adoptAnon(survivor, middle)
	}
	if absorbNext {
		adoptAnon(survivor, m.next)
	}
	// Shrink: what leaves middle and next.
	if middle != nil {
		switch {
		case m.left && m.right, m.left && p.end == middle.End(), m.right && p.start == middle.Start():
			as.unlinkFree(middle)
		case m.left: // middle keeps [p.end, end)
			as.setRange(middle, p.end, middle.End(), middle.Pgoff()+p.pages())
		default: // middle keeps [start, p.start)
			as.setRange(middle, middle.Start(), p.start, middle.Pgoff())
		}
	}
	end := p.end
	if absorbNext {
		end = m.next.End()
		as.unlinkFree(m.next)
	}
	// Grow: the survivor, last.
	if m.left {
		as.setRange(survivor, survivor.Start(), end, survivor.Pgoff())
	} else {
		as.setRange(survivor, p.start, survivor.End(), p.pgoff)
	}
	return survivor
}

// adoptAnon gives dst src's anon_vma, and with it src's chain, when dst has
// none (dup_anon_vma).
func adoptAnon(dst, src *VMA) {
	if dst.anon.Load() == nil {
		if a := src.anon.Load(); a != nil {
			dst.forkChild.Store(src.forkChild.Load())
			dst.anon.Store(a)
		}
	}
}

// neighbours returns the VMAs that end exactly at start and begin exactly at end.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) neighbours(start, end uint64) (prev, next *VMA) {
	if p := as.prevVMA(start); p != nil && p.End() == start {
		prev = p
	}
	if n := as.nextVMA(end); n != nil && n.Start() == end {
		next = n
	}
	return prev, next
}

// mergeNew tries to cover the unmapped range p by extending its neighbours
// (vma_merge_new_range). It returns the VMA now covering p, or nil.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mergeNew(p *proposal) *VMA {
	prev, next := as.neighbours(p.start, p.end)
	if m := planMerge(prev, nil, next, p); m.merges() {
		return as.commitMerge(m)
	}
	return nil
}

// mergeExisting tries to give [p.start, p.end) of middle the attributes of p
// by merging it into a neighbour (vma_merge_existing_range). It returns the
// VMA now covering the range, or nil when no merge applies.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mergeExisting(middle *VMA, p *proposal) *VMA {
	prev, next := as.neighbours(middle.Start(), middle.End())
	if m := planMerge(prev, middle, next, p); m.merges() {
		return as.commitMerge(m)
	}
	return nil
}

// split cuts v at addr (split_vma). The VMA returned is the new one: the
// lower part when newBelow, else the upper part; v keeps the rest. It fails
// with ENOMEM at the map count limit.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) split(v *VMA, addr uint64, newBelow bool) (*VMA, error) {
	if as.mapCount() >= as.cfg.MaxMapCount {
		return nil, enomem
	}
	if err := maySplit(v, addr); err != nil {
		return nil, err
	}
	return as.splitUnchecked(v, addr, newBelow), nil
}

// splitUnchecked is __split_vma: split without the map count check, for
// callers that checked already.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) splitUnchecked(v *VMA, addr uint64, newBelow bool) *VMA {
	as.vmaStartWrite(v)
	as.beginStore() // the new part stored over v's old range, in one version
	defer as.endStore()
	start, end, pgoff := v.Start(), v.End(), v.Pgoff()
	mid := pgoff + (addr-start)>>PageShift
	var n *VMA
	if newBelow {
		n = as.cloneVMA(v, start, addr, pgoff)
		as.setRange(v, addr, end, mid)
	} else {
		n = as.cloneVMA(v, addr, end, mid)
		as.setRange(v, start, addr, pgoff)
	}
	as.link(n)
	return n
}

// cloneVMA makes a detached copy of v's attributes over a new range (vm_area_dup).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) cloneVMA(v *VMA, start, end, pgoff uint64) *VMA {
	f := v.File()
	if f != nil {
		f.Get()
	}
	n := as.newVMA(start, end, pgoff, v.Flags(), f)
	n.anon.Store(v.anon.Load()) // anon_vma_clone: the same anon_vma and chain
	n.forkChild.Store(v.forkChild.Load())
	n.name.Store(v.name.Load())
	n.special.Store(v.special.Load())
	n.huge.Store(v.huge.Load())
	return n
}

// isolate returns the VMA covering exactly [start, end) of v with p's
// attributes applied by merging if possible, else by splitting v
// (vma_modify). The caller then changes the returned VMA's attributes.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) isolate(v *VMA, p *proposal) (vma *VMA, merged bool, err error) {
	if m := as.mergeExisting(v, p); m != nil {
		return m, true, nil
	}
	if p.start > v.Start() {
		if _, err := as.split(v, p.start, true); err != nil {
			return nil, false, err
		}
	}
	if p.end < v.End() {
		if _, err := as.split(v, p.end, false); err != nil {
			return nil, false, err
		}
	}
	as.vmaStartWrite(v)
	return v, false, nil
}

// proposeFrom describes [start, end) of v with v's attributes.
func proposeFrom(v *VMA, start, end uint64) proposal {
	return proposal{
		start: start, end: end,
		pgoff: v.Pgoff() + (start-v.Start())>>PageShift,
		flags: v.Flags(), file: v.File(), anon: v.anon.Load(), name: v.name.Load(),
	}
}
