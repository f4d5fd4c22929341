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
	if start >= end {
		return nil // mremap's "duplicate" (old_len 0) unmaps nothing
	}
	vmas := as.overlapping(start, end)
	if len(vmas) == 0 {
		return nil
	}
	as.beginStore() // nothing stored over the whole range, in one version
	defer as.endStore()
	// vms_gather_munmap_vmas's order: the VMA straddling the start is
	// split first (unless it is sealed); then each VMA is checked in turn (a sealed one stops
	// the unmap with EPERM, nothing removed but that split kept) and the
	// one straddling the end is split when reached.
	if first := vmas[0]; first.Start() < start {
		if first.Flags()&VMSealed != 0 {
			return eperm // checked before the split
		}
		if end < first.End() && as.mapCount() >= as.cfg.MaxMapCount {
			return enomem
		}
		as.splitUnchecked(first, start, true)
	}
	for _, v := range vmas {
		if v.Flags()&VMSealed != 0 {
			return eperm
		}
		if v.End() > end {
			as.splitUnchecked(v, end, false)
		}
	}
	for _, v := range vmas {
		as.vmaStartWrite(v)
		as.unlinkFree(v)
	}
	as.dropBreakpoints(start, end)
	as.dropRefCtrs(start, end)
	return nil
}

// splitAt splits the VMA that straddles addr, if any, at addr.
func (as *AddressSpace) splitAt(addr uint64) {
	if v := as.vmaAt(addr); v != nil && v.Start() < addr && as.mapCount() < as.cfg.MaxMapCount {
		as.splitUnchecked(v, addr, true)
	}
}
