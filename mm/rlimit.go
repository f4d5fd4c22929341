package mm

// Resource limits on mappings (may_expand_vm, mlock_future_ok,
// check_data_rlimit).
//
// RLIMIT_DATA (Config.DataRlimit) bounds the data mappings: private,
// writable, not stack (is_data_mapping). mmap and mremap refuse to grow
// them past it with ENOMEM; brk refuses (returning the old break) when the
// heap plus the program's data segment (Config.DataSegment) would pass it,
// and when its new pages would. RLIMIT_MEMLOCK (Config.MemlockRlimit)
// bounds the locked memory of an address space without CAP_IPC_LOCK
// (Config.IPCLock): MAP_LOCKED with a limit of 0 is EPERM, a locked
// mapping (MAP_LOCKED, or any mapping after mlockall(MCL_FUTURE)) that
// would pass it is EAGAIN, so is mremap growing a locked VMA, and brk is
// refused. mlock and mlockall's own checks are in mlock.go.
//
// RLIMIT_AS (Config.ASRlimit) bounds mm->total_vm, the pages of every VMA
// whatever its kind (shared, read-only, PROT_NONE, MAP_NORESERVE, huge
// pages and special mappings all count): the same may_expand_vm check
// refuses mmap (counting what MAP_FIXED replaces), mremap growth (and a
// shrinking move, by what it shrinks, as for RLIMIT_DATA), MREMAP_DONTUNMAP,
// brk's new pages (a refused brk) and a stack's growth (the fault is
// SIGSEGV: EFAULT) with ENOMEM. mprotect is never refused by it: the
// kernel asks may_expand_vm with the old flags and the new, and RLIMIT_AS
// answers both alike.

// isDataMapping is is_data_mapping.
func isDataMapping(f VMFlags) bool { return f&(VMWrite|VMShared|VMGrowsDown) == VMWrite }

// dataPages is mm->data_vm: the pages of the data mappings.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) dataPages() uint64 {
	var n uint64
	for e := range as.cur().all() {
		if isDataMapping(e.vma.Flags()) {
			n += e.vma.pages()
		}
	}
	return n
}

// mayExpandVM is may_expand_vm: adding pages of a mapping with flags f
// keeps the address space within RLIMIT_AS, and a data mapping within
// RLIMIT_DATA. A limit of 0 is no limit (for RLIMIT_DATA Linux lets a zero
// soft limit pass up to the hard one, which the model takes to be
// unlimited; a real RLIMIT_AS of 0 refuses everything, which the model
// cannot be told).
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) mayExpandVM(f VMFlags, pages uint64) bool {
	if as.cfg.ASRlimit != 0 && as.totalPages()+pages > as.cfg.ASRlimit>>PageShift {
		return false
	}
	if as.cfg.DataRlimit == 0 || !isDataMapping(f) {
		return true
	}
	return as.dataPages()+pages <= as.cfg.DataRlimit>>PageShift
}

// mlockFutureOK is mlock_future_ok: locking bytes more (when f has
// VM_LOCKED) stays within RLIMIT_MEMLOCK, or the address space has
// CAP_IPC_LOCK.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) mlockFutureOK(f VMFlags, bytes uint64) bool {
	if f&VMLocked == 0 || as.cfg.IPCLock {
		return true
	}
	return bytes>>PageShift+as.lockedPages() <= as.cfg.MemlockRlimit>>PageShift
}

// canDoMlock is can_do_mlock: a non-zero RLIMIT_MEMLOCK or CAP_IPC_LOCK.
func (as *AddressSpace) canDoMlock() bool { return as.cfg.MemlockRlimit != 0 || as.cfg.IPCLock }

// brkDataOK is check_data_rlimit for a break moving to brk: the heap and
// the data segment together within RLIMIT_DATA.
func (as *AddressSpace) brkDataOK(brk uint64) bool {
	lim := as.cfg.DataRlimit
	return lim == 0 || brk-as.startBrk+as.cfg.DataSegment <= lim
}
