package mm

import "specvma/vfs"

// Finding free address space (get_unmapped_area), x86-64 top-down layout.

const (
	pmdSize = 2 << 20
	// taskUnmappedBase is the bottom-up search's start (TASK_UNMAPPED_BASE).
	taskUnmappedBase = (TaskSize / 3) & PageMask
)

// vmStartGap is where the free space below v ends: a VM_GROWSDOWN VMA keeps
// the stack guard gap free below it (vm_start_gap).
//
// Preconditions: the mmap lock is held, either mode.
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
// round_hint_to_min) or, with MAP_FIXED, the address itself. The search is
// the one the kernel picks: the file's own (thp_get_unmapped_area for ext4
// and xfs files and private /dev/zero; the plain search for other files,
// tmpfs and shared memory included), and for private anonymous memory
// without a hint whose length is a multiple of 2 MiB, THP alignment.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) getUnmappedArea(file *vfs.File, addr, length, pgoff uint64, flags int) (uint64, error) {
	var err error
	if isHugeFile(file) {
		addr, err = as.hugeUnmappedArea(addr, length, flags)
		if err != nil {
			return 0, err
		}
		flags |= MapFixed // placed
	}
	if length > TaskSize {
		return 0, enomem
	}
	if file == nil {
		pgoff = 0 // anonymous memory's offset is never used to place it
	}
	switch {
	case flags&MapFixed != 0:
	case file != nil && thpFile(file, flags):
		addr, err = as.thpUnmappedArea(addr, length, pgoff)
	case file == nil && flags&MapType == MapPrivate && addr == 0 && length%pmdSize == 0:
		addr, err = as.thpUnmappedArea(0, length, 0)
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

// thpFile reports a file whose get_unmapped_area aligns for THP: regular
// files of filesystems that use thp_get_unmapped_area, and private
// mappings of /dev/zero (shared ones are placed as shmem).
func thpFile(file *vfs.File, flags int) bool {
	ino := file.Inode()
	if ino.MmapOps() == vfs.MmapZero {
		return flags&MapType == MapPrivate
	}
	return ino.THPAligned()
}

// topDown honours a free, in-range hint, else takes the highest free gap
// below the mmap base (arch_get_unmapped_area_topdown).
//
// Preconditions: the mmap lock is held, either mode.
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
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) highestGap(low, high, length uint64) (uint64, bool) {
	if high < length || high-length < low {
		return 0, false
	}
	gapEnd := high
	if v := as.nextVMA(high); v != nil {
		gapEnd = min(gapEnd, as.vmStartGap(v))
	}
	for e := range as.cur().downFrom(high - 1) {
		v := e.vma
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
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) bottomUp(length uint64) (uint64, error) {
	addr := uint64(taskUnmappedBase)
	for e := range as.cur().from(addr) {
		v := e.vma
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

// thpUnmappedArea is thp_get_unmapped_area: when [off, off+length) of the
// file holds a whole PMD-aligned stretch, it searches for length + 2 MiB
// (at the hint first) and places the mapping inside that space so that the
// file offset and the address agree modulo 2 MiB. A free hint is taken as
// it is; when the padded search fails, the plain search runs. The offset
// arithmetic is signed (loff_t), as in the kernel, so offsets at or past
// 2^63 wrap negative.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) thpUnmappedArea(hint, length, pgoff uint64) (uint64, error) {
	off := int64(pgoff << PageShift)
	offEnd := off + int64(length)
	offAlign := (off + pmdSize - 1) &^ (pmdSize - 1)
	padded := length + pmdSize
	if offEnd <= offAlign || offEnd-offAlign < pmdSize || padded < length || off+int64(padded) < off {
		return as.topDown(hint, length)
	}
	a, err := as.topDown(hint, padded)
	if err != nil || a > TaskSize-padded {
		return as.topDown(hint, length)
	}
	if a == hint {
		return a, nil
	}
	sub := uint64(off-int64(a)) & (pmdSize - 1)
	if sub == 0 {
		return a + pmdSize, nil // top-down: the aligned start leaves room below
	}
	return a + sub, nil
}
