package mm

import "specvma/vfs"

// Mremap is mremap(2): shrink a mapping in place, grow it in place when the
// pages after it are free, or (with MREMAP_MAYMOVE) move it; MREMAP_FIXED
// names the destination, replacing what was there, and MREMAP_DONTUNMAP
// leaves the old range mapped (but empty). Failed calls change nothing,
// except where Linux itself has already unmapped the MREMAP_FIXED
// destination or the shrunk tail before it fails.
func (as *AddressSpace) Mremap(addr, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error) {
	if err := as.checkMremap(addr, &oldLen, &newLen, flags, newAddr); err != nil {
		return 0, err
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	v := as.vmaAt(addr)
	if v == nil {
		return 0, efault
	}
	if flags&MremapFixed != 0 && oldLen == newLen {
		return as.remapMove(addr, oldLen, newAddr, flags)
	}
	if v.Flags()&VMHugeTLB != 0 {
		if v.Flags()&VMSealed != 0 {
			return 0, eperm
		}
		if err := hugeRemapAlign(addr, &oldLen, &newLen, newAddr); err != nil {
			return 0, err
		}
	}
	if flags&(MremapFixed|MremapDontUnmap) != 0 {
		return as.mremapTo(addr, oldLen, newAddr, newLen, flags)
	}
	if oldLen >= newLen {
		if oldLen > newLen {
			if err := as.shrinkTail(addr, oldLen, newLen); err != nil {
				return 0, err
			}
		}
		return addr, nil
	}
	v, err := as.vmaToResize(addr, oldLen, newLen, flags)
	if err != nil {
		return 0, err
	}
	if oldLen == v.End()-addr && as.expandable(v, newLen-oldLen) {
		if err := as.chargeRemap(v, oldLen, newLen, flags); err != nil {
			return 0, err
		}
		p := proposeFrom(v, v.End(), v.End()+newLen-oldLen)
		p.pgoff = v.Pgoff() + v.pages()
		w := as.mergeNew(&p)
		if w == nil {
			return 0, enomem
		}
		as.probeMapped(w) // vma_complete's uprobe_mmap on the grown VMA
		return addr, nil
	}
	if flags&MremapMayMove == 0 {
		return 0, enomem
	}
	dst, err := as.getUnmappedArea(v.File(), 0, newLen, v.Pgoff()+(addr-v.Start())>>PageShift, remapMapFlags(v, 0))
	if err != nil {
		return 0, err
	}
	if err := as.chargeRemap(v, oldLen, newLen, flags); err != nil {
		return 0, err
	}
	return as.moveVMA(v, addr, oldLen, newLen, dst, flags)
}

// checkMremap validates the arguments before any lock is taken
// (check_mremap_params); it page-aligns the lengths in place.
func (as *AddressSpace) checkMremap(addr uint64, oldLen, newLen *uint64, flags int, newAddr uint64) error {
	if flags&^(MremapMayMove|MremapFixed|MremapDontUnmap) != 0 || !pageAligned(addr) {
		return einval
	}
	*oldLen, _ = pageAlign(*oldLen)
	*newLen, _ = pageAlign(*newLen)
	// The old length is not checked here: with nothing at addr the call is
	// EFAULT, and a shrink's unmap of a tail beyond the limit is EINVAL.
	if *newLen == 0 || *newLen > TaskSize {
		return einval
	}
	if flags&(MremapFixed|MremapDontUnmap) == 0 {
		return nil
	}
	switch {
	case newAddr > TaskSize-*newLen, !pageAligned(newAddr), flags&MremapMayMove == 0:
		return einval
	case flags&MremapDontUnmap != 0 && *oldLen != *newLen:
		return einval
	case addr+*oldLen > newAddr && newAddr+*newLen > addr:
		return einval // source and destination overlap
	case as.MapCount()+2 >= as.cfg.MaxMapCount-3:
		return enomem
	}
	return nil
}

// remapMapFlags are the mmap flags mremap's get_unmapped_area is given.
func remapMapFlags(v *VMA, flags int) int {
	if v.Flags()&VMMayShare != 0 {
		return flags | MapShared
	}
	return flags | MapPrivate
}

// remapMove moves every VMA of [addr, addr+length) to newAddr, keeping the
// gaps between them (Linux 6.17+: a pure MREMAP_FIXED move may span several
// VMAs). The range must start inside a VMA; each piece is moved on its own,
// so a failure leaves the pieces moved so far where they went.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) remapMove(addr, length, newAddr uint64, flags int) (uint64, error) {
	end := addr + length
	target, lastEnd := newAddr, uint64(0)
	res, seen := uint64(0), false
	for pos := addr; pos < end; {
		v := as.findVMA(pos)
		if v == nil || v.Start() >= end {
			break
		}
		if !seen && v.Start() > addr {
			return 0, efault // no gap allowed at the start
		}
		if seen {
			target += v.Start() - lastEnd
		}
		lastEnd = v.End()
		multi := multiMovable(v)
		if !multi && (seen || v.End() < end) {
			return 0, efault
		}
		from := max(v.Start(), addr)
		n := min(end, v.End()) - from
		oldN, newN := n, n
		if v.Flags()&VMHugeTLB != 0 {
			if v.Flags()&VMSealed != 0 {
				return 0, eperm
			}
			if err := hugeRemapAlign(from, &oldN, &newN, target); err != nil {
				return 0, err
			}
		}
		got, err := as.mremapTo(from, oldN, target, newN, flags)
		if err != nil {
			return 0, err
		}
		if !seen {
			res, seen = got, true
		}
		target = got + newN
		pos = from + n
	}
	if !seen {
		return 0, efault
	}
	return res, nil
}

// multiMovable is vma_multi_allowed: a file whose driver places its own
// mappings (a get_unmapped_area other than the generic ones: here
// /dev/zero) moves only alone. ext4 and xfs files, whose
// thp_get_unmapped_area is generic, shmem and hugetlb VMAs move with
// others (checked against the kernel: mremap_multi_vma_move.vma, and the
// random sequences for hugetlb).
func multiMovable(v *VMA) bool {
	f := v.File()
	return f == nil || f.Inode().MmapOps() != vfs.MmapZero
}

// mremapTo moves to a caller-chosen place (mremap_to).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mremapTo(addr, oldLen, newAddr, newLen uint64, flags int) (uint64, error) {
	// Linux 6.18's order: the source is checked first (with the length it
	// will have after any shrink), so a failed check changes nothing; then
	// the MREMAP_FIXED destination is unmapped, which may take the source
	// with it when the two touch (old_len 0): that is EFAULT; then a move
	// that shrinks unmaps the tail, which fails (EINVAL, the destination
	// already gone) when the old length runs past the address limit.
	if _, err := as.vmaToResize(addr, min(oldLen, newLen), newLen, flags); err != nil {
		return 0, err
	}
	if flags&MremapFixed != 0 {
		if err := as.unmapRange(newAddr, newAddr+newLen); err != nil {
			return 0, err
		}
		if as.vmaAt(addr) == nil {
			return 0, efault
		}
	}
	origOld := oldLen
	if oldLen > newLen {
		if err := as.shrinkTail(addr, oldLen, newLen); err != nil {
			return 0, err
		}
		oldLen = newLen
	}
	v := as.vmaAt(addr) // the unmaps may have split it
	if v == nil {
		return 0, efault
	}
	if flags&MremapDontUnmap != 0 && !as.mayExpandVM(v.Flags(), oldLen>>PageShift) {
		return 0, enomem // the old range stays: the new one is all extra
	}
	mapFlags := 0
	if flags&MremapFixed != 0 {
		mapFlags = MapFixed
	}
	dst, err := as.getUnmappedArea(v.File(), newAddr, newLen, v.Pgoff()+(addr-v.Start())>>PageShift, remapMapFlags(v, mapFlags))
	if err != nil {
		return 0, err
	}
	if as.mapCount() >= as.cfg.MaxMapCount-3 {
		return 0, enomem
	}
	// Charged with the lengths the call was given: a move that shrank is
	// charged what it shrank by (vrm_calc_charge sees the original delta).
	if err := as.chargeRemap(v, origOld, newLen, flags); err != nil {
		return 0, err
	}
	return as.moveVMA(v, addr, oldLen, newLen, dst, flags)
}

// chargeRemap is vrm_calc_charge for an accounted VMA: the difference of
// the lengths (what it grows by, or for a move that shrinks, oddly, what it
// shrinks by), or with MREMAP_DONTUNMAP (the old range stays) the whole
// new length.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) chargeRemap(v *VMA, oldLen, newLen uint64, flags int) error {
	if v.Flags()&VMAccount == 0 {
		return nil
	}
	pages := uint64(0)
	switch {
	case flags&MremapDontUnmap != 0:
		pages = newLen >> PageShift
	case newLen > oldLen:
		pages = (newLen - oldLen) >> PageShift
	default:
		pages = (oldLen - newLen) >> PageShift
	}
	if pages == 0 {
		return nil
	}
	return as.enoughMemory(pages)
}

// shrinkTail unmaps [addr+newLen, addr+oldLen) as do_vmi_munmap would:
// a tail that runs past the address limit is EINVAL.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) shrinkTail(addr, oldLen, newLen uint64) error {
	start, n := addr+newLen, oldLen-newLen
	if start > TaskSize || n > TaskSize-start {
		return einval
	}
	return as.unmapRange(start, start+n)
}

// vmaToResize finds the VMA being remapped and checks the request against it.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) vmaToResize(addr, oldLen, newLen uint64, flags int) (*VMA, error) {
	v := as.vmaAt(addr)
	switch {
	case v == nil:
		return nil, efault
	case v.Flags()&VMSealed != 0:
		return nil, eperm
	case oldLen == 0 && v.Flags()&(VMShared|VMMayShare) == 0:
		return nil, einval // "duplicating" private memory makes no sense
	case flags&MremapDontUnmap != 0 && v.Flags()&(VMDontExpand|VMPFNMap) != 0:
		return nil, einval
	case oldLen > v.End()-addr:
		return nil, efault // the range crosses a VMA boundary
	case newLen == oldLen:
		return v, nil
	}
	pgoff := v.Pgoff() + (addr-v.Start())>>PageShift
	if pgoff+newLen>>PageShift < pgoff {
		return nil, einval
	}
	if v.Flags()&(VMDontExpand|VMPFNMap) != 0 {
		return nil, efault
	}
	// The limits are checked with the difference of the lengths, growing
	// or (for a move that shrinks) shrinking, as remap_is_valid does.
	delta := max(newLen, oldLen) - min(newLen, oldLen)
	if !as.mlockFutureOK(v.Flags(), delta) {
		return nil, eagain
	}
	if !as.mayExpandVM(v.Flags(), delta>>PageShift) {
		return nil, enomem
	}
	return v, nil
}

// expandable reports whether v can grow by delta bytes in place.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) expandable(v *VMA, delta uint64) bool {
	end := v.End() + delta
	if end < v.End() || end > TaskSize {
		return false
	}
	w := as.findVMA(v.End())
	return w == nil || w.Start() >= end
}

// moveVMA moves [old, old+oldLen) of v to dst, newLen bytes long (move_vma).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) moveVMA(v *VMA, old, oldLen, newLen, dst uint64, flags int) (uint64, error) {
	if as.mapCount() >= as.cfg.MaxMapCount-3 {
		return 0, enomem
	}
	p := proposeFrom(v, old, old+newLen) // attributes; the range is replaced below
	p.start, p.end = dst, dst+newLen
	if v.isAnon() && v.anon.Load() == nil {
		p.pgoff = dst >> PageShift // unfaulted: realign so it can merge at its new home
	}
	p.copiedFrom = v
	nv := as.mergeNew(&p)
	if nv == nil {
		nv = as.cloneVMA(v, p.start, p.end, p.pgoff)
		as.link(nv)
	}
	as.hugeMoved(v, nv, old, min(oldLen, newLen))
	as.moveBreakpoints(old, min(oldLen, newLen), dst)
	as.moveRefCtrs(old, min(oldLen, newLen), dst)
	if flags&MremapDontUnmap != 0 {
		// The old VMA, whole, stays mapped (and charged) but stops being
		// locked; being changed in place, it merges with nothing until a
		// later change (mremap_dontunmap_flags.vma).
		as.vmaStartWrite(v)
		v.flags.Store(uint64(v.Flags() &^ vmLockedMask))
		if nv != v && v.Start() == old && v.End() == old+oldLen {
			v.anon.Store(nil) // the pages moved; the old range keeps no rmap
		}
		return dst, nil
	}
	if err := as.unmapRange(old, old+oldLen); err != nil {
		return 0, err
	}
	return dst, nil
}
