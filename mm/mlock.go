package mm

// mlock2 and mlockall flags.
const (
	MlockOnFault = 0x01 // MLOCK_ONFAULT
	MclCurrent   = 1    // MCL_CURRENT
	MclFuture    = 2    // MCL_FUTURE
	MclOnFault   = 4    // MCL_ONFAULT
)

// Mlock is mlock(2): Mlock2 with no flags.
func (as *AddressSpace) Mlock(addr, length uint64) error { return as.Mlock2(addr, length, 0) }

// Mlock2 is mlock2(2): it sets VM_LOCKED (and VM_LOCKONFAULT with
// MLOCK_ONFAULT) on every VMA of the page-rounded range, splitting and
// merging as any attribute change, and then faults the range in (not
// with MLOCK_ONFAULT). Without CAP_IPC_LOCK (Config.IPCLock) a limit of 0
// is EPERM and locking more than RLIMIT_MEMLOCK in all is ENOMEM. A hole
// is ENOMEM after the VMAs before it were locked; a file page past the end
// of its file stops the fault-in, which is ENOMEM too.
func (as *AddressSpace) Mlock2(addr, length uint64, flags int) error {
	if flags&^MlockOnFault != 0 {
		return einval
	}
	if !as.canDoMlock() {
		return eperm
	}
	start, end, err := lockRange(addr, length)
	if err != nil {
		return err
	}
	set := VMLocked
	if flags&MlockOnFault != 0 {
		set |= VMLockOnFault
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	if !as.cfg.IPCLock {
		locked := as.lockedPages() + (end-start)>>PageShift
		if locked > as.cfg.MemlockRlimit>>PageShift {
			locked -= as.lockedPagesIn(start, end) // already locked ones count once
		}
		if locked > as.cfg.MemlockRlimit>>PageShift {
			return enomem
		}
	}
	if err := as.applyLock(start, end, set); err != nil {
		return err
	}
	// __mm_populate runs with MLOCK_ONFAULT too: it skips the VMAs that
	// got VM_LOCKONFAULT, not the ones mlock left alone (hugetlb).
	return as.populateLocked(start, end)
}

// Munlock is munlock(2): it clears VM_LOCKED and VM_LOCKONFAULT on every VMA
// of the range; holes are ENOMEM as for mlock.
func (as *AddressSpace) Munlock(addr, length uint64) error {
	start, end, err := lockRange(addr, length)
	if err != nil {
		return err
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	return as.applyLock(start, end, 0)
}

// Mlockall is mlockall(2): MCL_CURRENT locks every VMA now (and faults it
// in unless MCL_ONFAULT), MCL_FUTURE makes later mappings locked
// (mm->def_flags). With MCL_CURRENT and without CAP_IPC_LOCK, an address
// space larger than RLIMIT_MEMLOCK is ENOMEM.
func (as *AddressSpace) Mlockall(flags int) error {
	if flags == 0 || flags&^(MclCurrent|MclFuture|MclOnFault) != 0 || flags == MclOnFault {
		return einval
	}
	if !as.canDoMlock() {
		return eperm
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	if flags&MclCurrent != 0 && !as.cfg.IPCLock && as.totalPages() > as.cfg.MemlockRlimit>>PageShift {
		return enomem
	}
	as.applyLockAll(flags)
	if flags&MclCurrent != 0 {
		// mm_populate of everything, MCL_ONFAULT or not: it skips the VMAs
		// that got VM_LOCKONFAULT, not those mlockall left alone (hugetlb).
		for _, v := range as.overlapping(0, TaskSize) {
			if v.Flags()&VMLockOnFault == 0 {
				as.populate(v, v.Start(), v.End())
			}
		}
	}
	return nil
}

// Munlockall is munlockall(2): every VMA unlocked, no future locking.
func (as *AddressSpace) Munlockall() error {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	as.applyLockAll(0)
	return nil
}

// lockRange rounds [addr, addr+length) out to pages as mlock does (the
// start down, the length up by the start's offset in its page).
func lockRange(addr, length uint64) (start, end uint64, err error) {
	start = addr & PageMask
	l, ok := pageAlign(length + addr - start)
	if !ok || length+addr-start < length {
		return 0, 0, einval
	}
	end = start + l
	if end < start {
		return 0, 0, einval
	}
	return start, end, nil
}

// applyLock is apply_vma_lock_flags: the range must start inside a VMA and
// have no holes; each VMA gets set in place of its lock bits.
func (as *AddressSpace) applyLock(start, end uint64, set VMFlags) error {
	if start == end {
		return nil
	}
	if as.vmaAt(start) == nil {
		return enomem
	}
	for pos := start; pos < end; {
		v := as.findVMA(pos)
		if v == nil || v.Start() > pos {
			return enomem
		}
		next := min(v.End(), end)
		if err := as.lockFixup(v, pos, next, v.Flags()&^vmLockedMask|set); err != nil {
			return err
		}
		pos = next
	}
	return nil
}

// lockFixup is mlock_fixup: special and hugetlb VMAs are left alone.
func (as *AddressSpace) lockFixup(v *VMA, start, end uint64, nf VMFlags) error {
	f := v.Flags()
	if nf == f || f&(VMSpecial|VMHugeTLB) != 0 || v.special.Load() != nil {
		return nil
	}
	return as.setFlags(v, start, end, nf, enomem)
}

// applyLockAll is apply_mlockall_flags.
func (as *AddressSpace) applyLockAll(flags int) {
	as.defFlags = 0
	if flags&MclFuture != 0 {
		as.defFlags = VMLocked
		if flags&MclOnFault != 0 {
			as.defFlags |= VMLockOnFault
		}
		if flags == MclFuture|MclOnFault || flags == MclFuture {
			return
		}
	}
	var set VMFlags
	if flags&MclCurrent != 0 {
		set = VMLocked
		if flags&MclOnFault != 0 {
			set |= VMLockOnFault
		}
	}
	for _, v := range as.overlapping(0, TaskSize) {
		_ = as.lockFixup(v, v.Start(), v.End(), v.Flags()&^vmLockedMask|set)
	}
}

// populateLocked faults a newly locked range in (__mm_populate): like
// MAP_POPULATE, except that a file page past the end of the file or an
// inaccessible VMA stops it with ENOMEM (mlock's translation of the
// fault's EFAULT).
func (as *AddressSpace) populateLocked(start, end uint64) error {
	for _, v := range as.overlapping(start, end) {
		if v.Flags()&(VMIO|VMPFNMap|VMLockOnFault) != 0 {
			continue
		}
		if v.Flags()&vmAccessFlags == 0 {
			return enomem // PROT_NONE cannot be faulted in (locked all the same)
		}
		s, e := max(start, v.Start()), min(end, v.End())
		if v.Flags()&VMHugeTLB != 0 {
			if as.hugePopulateErr(v, s, e) != nil {
				return enomem // a huge page not to be had: SIGBUS, EFAULT to gup
			}
			continue
		}
		as.populate(v, s, e)
		if f := v.File(); f != nil && !v.isAnon() {
			last := v.Pgoff() + (e-v.Start())>>PageShift // one past the last page
			if last > (uint64(f.Inode().Size())+PageSize-1)>>PageShift {
				return enomem
			}
		}
	}
	return nil
}

// lockedPages is mm->locked_vm: the pages of VM_LOCKED VMAs.
func (as *AddressSpace) lockedPages() uint64 { return as.lockedPagesIn(0, TaskSize) }

// lockedPagesIn counts the VM_LOCKED pages of [start, end).
func (as *AddressSpace) lockedPagesIn(start, end uint64) uint64 {
	var n uint64
	for _, v := range as.overlapping(start, end) {
		if v.Flags()&VMLocked != 0 {
			n += (min(end, v.End()) - max(start, v.Start())) >> PageShift
		}
	}
	return n
}

// totalPages is mm->total_vm.
func (as *AddressSpace) totalPages() uint64 {
	var n uint64
	for e := range as.cur().all() {
		n += e.vma.pages()
	}
	return n
}
