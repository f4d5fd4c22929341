package mm

import "specvma/vfs"

// Merging and splitting, as Linux 6.x's mm/vma.c does them.
//
// Two ranges merge only when they are adjacent and have the same flags
// (VM_SOFTDIRTY aside, and VM_ACCOUNT included though maps does not print
// it), the same open file description (not merely the same inode), file
// offsets that continue each other (anonymous memory has offsets too: the
// page number of the address it was first mapped at), anon_vmas that do not
// conflict (at most one of them set, or both the same), and the same
// anonymous name. VM_SPECIAL mappings never merge. Every VMA a helper changes
// is write-locked first; callers hold the mmap write lock.

// proposal describes the range a caller wants to create or change to.
type proposal struct {
	start, end uint64
	pgoff      uint64
	flags      VMFlags
	file       *vfs.File
	anon       *AnonVMA
	name       *string
}

func (p *proposal) pages() uint64 { return (p.end - p.start) >> PageShift }

func nameEq(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// anonCompatible is is_mergeable_anon_vma for VMAs never forked (every
// anon_vma_chain here is singular).
func anonCompatible(a, b *AnonVMA) bool { return a == nil || b == nil || a == b }

// sameKind is is_mergeable_vma: everything but position and anon_vma.
func (v *VMA) sameKind(p *proposal) bool {
	return (v.Flags()^p.flags)&^vmIgnoreMerge == 0 && p.flags&VMSpecial == 0 &&
		v.File() == p.file && nameEq(v.name.Load(), p.name) && v.special.Load() == nil
}

// canMergeAfter reports whether p may be appended to prev.
func canMergeAfter(prev *VMA, p *proposal) bool {
	return prev != nil && prev.End() == p.start && prev.sameKind(p) &&
		anonCompatible(prev.anon.Load(), p.anon) && prev.Pgoff()+prev.pages() == p.pgoff
}

// canMergeBefore reports whether p may be prepended to next.
func canMergeBefore(next *VMA, p *proposal) bool {
	return next != nil && next.Start() == p.end && next.sameKind(p) &&
		anonCompatible(next.anon.Load(), p.anon) && p.pgoff+p.pages() == next.Pgoff()
}

// adoptAnon gives dst src's anon_vma when dst has none (dup_anon_vma).
func adoptAnon(dst, src *VMA) {
	if dst.anon.Load() == nil {
		if a := src.anon.Load(); a != nil {
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
	left := canMergeAfter(prev, p)
	right := canMergeBefore(next, p) && (!left || anonCompatible(prev.anon.Load(), next.anon.Load()))
	switch {
	case left && right:
		as.vmaStartWrite(prev)
		as.vmaStartWrite(next)
		adoptAnon(prev, next)
		end := next.End()
		as.unlinkFree(next)
		as.setRange(prev, prev.Start(), end, prev.Pgoff())
		return prev
	case left:
		as.vmaStartWrite(prev)
		as.setRange(prev, prev.Start(), p.end, prev.Pgoff())
		return prev
	case right:
		as.vmaStartWrite(next)
		as.setRange(next, p.start, next.End(), p.pgoff)
		return next
	}
	return nil
}

// mergeExisting tries to give [p.start, p.end) of middle the attributes of p
// by merging it into a neighbour (vma_merge_existing_range). It returns the
// VMA now covering the range, or nil when no merge applies.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mergeExisting(middle *VMA, p *proposal) *VMA {
	leftSide, rightSide := p.start == middle.Start(), p.end == middle.End()
	if middle.Flags()&VMSpecial != 0 || (!leftSide && !rightSide) {
		return nil
	}
	prev, next := as.neighbours(middle.Start(), middle.End())
	left := leftSide && canMergeAfter(prev, p)
	right := rightSide && canMergeBefore(next, p) &&
		(!left || anonCompatible(prev.anon.Load(), next.anon.Load()))
	switch {
	case left && right:
		as.vmaStartWrite(prev)
		as.vmaStartWrite(middle)
		as.vmaStartWrite(next)
		adoptAnon(prev, middle)
		adoptAnon(prev, next)
		end := next.End()
		as.unlinkFree(middle)
		as.unlinkFree(next)
		as.setRange(prev, prev.Start(), end, prev.Pgoff())
		return prev
	case left:
		as.vmaStartWrite(prev)
		as.vmaStartWrite(middle)
		adoptAnon(prev, middle)
		if rightSide {
			as.unlinkFree(middle)
		} else {
			as.setRange(middle, p.end, middle.End(), middle.Pgoff()+p.pages())
		}
		as.setRange(prev, prev.Start(), p.end, prev.Pgoff())
		return prev
	case right:
		as.vmaStartWrite(next)
		as.vmaStartWrite(middle)
		adoptAnon(next, middle)
		if leftSide {
			as.unlinkFree(middle)
		} else {
			as.setRange(middle, middle.Start(), p.start, middle.Pgoff())
		}
		as.setRange(next, p.start, next.End(), p.pgoff)
		return next
	}
	return nil
}

// split cuts v at addr (split_vma). The VMA returned is the new one: the
// lower part when newBelow, else the upper part; v keeps the rest. It fails
// with ENOMEM at the map count limit.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) split(v *VMA, addr uint64, newBelow bool) (*VMA, error) {
	if as.MapCount() >= as.cfg.MaxMapCount {
		return nil, enomem
	}
	return as.splitUnchecked(v, addr, newBelow), nil
}

// splitUnchecked is __split_vma: split without the map count check, for
// callers that checked already.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) splitUnchecked(v *VMA, addr uint64, newBelow bool) *VMA {
	as.vmaStartWrite(v)
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
	n.anon.Store(v.anon.Load())
	n.name.Store(v.name.Load())
	n.special.Store(v.special.Load())
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
