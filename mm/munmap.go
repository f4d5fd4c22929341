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
	for _, v := range vmas {
		if v.Flags()&VMSealed != 0 {
			return eperm // mseal: nothing is unmapped
		}
	}
	first, last := vmas[0], vmas[len(vmas)-1]
	if first.Start() < start {
		if end < first.End() && as.MapCount() >= as.cfg.MaxMapCount {
			return enomem
		}
		as.splitUnchecked(first, start, true)
	}
	if last.End() > end {
		as.splitUnchecked(last, end, false)
	}
	for _, v := range vmas {
		as.vmaStartWrite(v)
		as.unlinkFree(v)
	}
	as.dropBreakpoints(start, end)
	as.dropRefCtrs(start, end)
	return nil
}
