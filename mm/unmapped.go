package mm

// Finding free address space (get_unmapped_area), x86-64 top-down layout.

const (
	pmdSize = 2 << 20
	// taskUnmappedBase is the bottom-up search's start (TASK_UNMAPPED_BASE).
	taskUnmappedBase = (TaskSize / 3) & PageMask
)

// vmStartGap is where the free space below v ends: a VM_GROWSDOWN VMA keeps
// the stack guard gap free below it (vm_start_gap).
func (as *AddressSpace) vmStartGap(v *VMA) uint64 {
	s := v.Start()
	if v.Flags()&VMGrowsDown != 0 {
		if s < as.cfg.StackGuardGap {
			return 0
		}
		return s - as.cfg.StackGuardGap
	}
	return s
}

// getUnmappedArea returns where a mapping of length bytes goes
// (__get_unmapped_area). addr is the caller's hint (already rounded by
// round_hint_to_min) or, with MAP_FIXED, the address itself.
func (as *AddressSpace) getUnmappedArea(addr, length, pgoff uint64, flags int, anonPrivate bool) (uint64, error) {
	if length > TaskSize {
		return 0, enomem
	}
	var err error
	switch {
	case flags&MapFixed != 0:
	case anonPrivate && addr == 0 && length%pmdSize == 0:
		addr, err = as.thpUnmappedArea(length, pgoff)
	default:
		addr, err = as.topDown(addr, length)
	}
	if err != nil {
		return 0, err
	}
	if addr > TaskSize-length {
		return 0, enomem
	}
	if !pageAligned(addr) {
		return 0, einval
	}
	if addr < as.cfg.MmapMinAddr && !as.cfg.Privileged {
		return 0, eperm
	}
	return addr, nil
}

// topDown honours a free, in-range hint, else takes the highest free gap
// below the mmap base (arch_get_unmapped_area_topdown).
func (as *AddressSpace) topDown(hint, length uint64) (uint64, error) {
	if hint != 0 {
		hint &= PageMask
		if hint <= TaskSize-length {
			if v := as.findVMA(hint); v == nil || hint+length <= as.vmStartGap(v) {
				return hint, nil
			}
		}
	}
	if a, ok := as.highestGap(PageSize, as.cfg.MmapBase, length); ok {
		return a, nil
	}
	return as.bottomUp(length)
}

// highestGap finds the highest address a with [a, a+length) free, inside
// [low, high) and clear of stack guard gaps (unmapped_area_topdown).
func (as *AddressSpace) highestGap(low, high, length uint64) (uint64, bool) {
	if high < length || high-length < low {
		return 0, false
	}
	gapEnd := high
	if v := as.nextVMA(high); v != nil {
		gapEnd = min(gapEnd, as.vmStartGap(v))
	}
	var c cursor
	for ok := c.seekFloor(as.index.Load(), high-1); ok; ok = c.prev() {
		v := c.entry().vma
		if v.End() < gapEnd && gapEnd-v.End() >= length && gapEnd-length >= low {
			return gapEnd - length, true
		}
		gapEnd = min(gapEnd, as.vmStartGap(v))
		if gapEnd < low+length {
			return 0, false
		}
	}
	if gapEnd >= low+length {
		return gapEnd - length, true
	}
	return 0, false
}

// bottomUp is the legacy search from TASK_UNMAPPED_BASE upwards, the
// fallback when the top-down search fails.
func (as *AddressSpace) bottomUp(length uint64) (uint64, error) {
	addr := uint64(taskUnmappedBase)
	var c cursor
	t := as.index.Load()
	ok := c.seekFloor(t, addr)
	if !ok {
		ok = c.seekFirst(t)
	}
	for ; ok; ok = c.next() {
		v := c.entry().vma
		if v.End() <= addr {
			continue
		}
		if addr+length <= as.vmStartGap(v) {
			break
		}
		addr = v.End()
	}
	if addr > TaskSize-length {
		return 0, enomem
	}
	return addr, nil
}

// thpUnmappedArea aligns large anonymous mappings to the PMD size so they can
// use huge pages (thp_get_unmapped_area).
func (as *AddressSpace) thpUnmappedArea(length, pgoff uint64) (uint64, error) {
	off := pgoff << PageShift
	padded := length + pmdSize
	if padded < length {
		return as.topDown(0, length)
	}
	a, err := as.topDown(0, padded)
	if err != nil {
		return as.topDown(0, length)
	}
	sub := (off - a) & (pmdSize - 1)
	if sub == 0 {
		return a + pmdSize, nil
	}
	return a + sub, nil
}
