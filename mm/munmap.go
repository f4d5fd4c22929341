package mm

// Munmap is munmap(2): it removes every page of [addr, addr+length) from the
// address space, splitting the VMAs that straddle its ends. Unmapping a range
// with nothing mapped succeeds.
func (as *AddressSpace) Munmap(addr, length uint64) error {
	if !pageAligned(addr) || addr > TaskSize || length > TaskSize-addr {
		return einval
	}
	length, _ = pageAlign(length)
	if length == 0 {
		return einval
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	return as.unmapRange(addr, addr+length)
}

// unmapRange removes [start, end), all or nothing (do_vmi_align_munmap).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) unmapRange(start, end uint64) error {
	vmas, err := as.gatherUnmap(start, end)
	if err != nil {
		return err
	}
	as.removeGathered(vmas, start, end)
	return nil
}

// gatherUnmap splits the VMAs straddling the ends of [start, end) and
// returns the VMAs inside it, removing nothing (vms_gather_munmap_vmas).
// Its order: the VMA straddling the start is split first (unless it is
// sealed, or may not be split there: a hugetlb VMA splits only at a huge
// page boundary); then each VMA is checked in turn (a sealed one stops the
// unmap with EPERM, nothing removed but that split kept) and the one
// straddling the end is split when reached.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) gatherUnmap(start, end uint64) ([]*VMA, error) {
	if start >= end {
		return nil, nil // mremap's "duplicate" (old_len 0) unmaps nothing
	}
	vmas := as.overlapping(start, end)
	if len(vmas) == 0 {
		return nil, nil
	}
	if first := vmas[0]; first.Start() < start {
		if end < first.End() && as.mapCount() >= as.cfg.MaxMapCount {
			return nil, enomem
		}
		if first.Flags()&VMSealed != 0 {
			return nil, eperm // checked before the split
		}
		if err := maySplit(first, start); err != nil {
			return nil, err
		}
		as.splitUnchecked(first, start, true)
	}
	for _, v := range vmas {
		if v.Flags()&VMSealed != 0 {
			return nil, eperm
		}
		if v.End() > end {
			if err := maySplit(v, end); err != nil {
				return nil, err
			}
			as.splitUnchecked(v, end, false)
		}
	}
	return vmas, nil
}

// removeGathered removes the VMAs gatherUnmap returned for [start, end).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) removeGathered(vmas []*VMA, start, end uint64) {
	if len(vmas) == 0 {
		return
	}
	as.beginStore() // nothing stored over the whole range, in one version
	for _, v := range vmas {
		as.vmaStartWrite(v)
		as.unlinkFree(v)
	}
	as.endStore()
	as.dropBreakpoints(start, end)
	as.dropRefCtrs(start, end)
}

// splitAt splits the VMA that straddles addr, if any, at addr.
func (as *AddressSpace) splitAt(addr uint64) {
	if v := as.vmaAt(addr); v != nil && v.Start() < addr && as.mapCount() < as.cfg.MaxMapCount {
		as.splitUnchecked(v, addr, true)
	}
}
