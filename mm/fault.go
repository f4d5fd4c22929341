package mm

// Fault is a one-byte access at addr: a page fault. It returns EFAULT where
// Linux would deliver a signal (SIGSEGV for a missing or forbidden mapping,
// SIGBUS for a file page beyond the end of its file) and otherwise records
// what the fault leaves behind: a write to private memory gives the VMA an
// anon_vma, and an access just below a VM_GROWSDOWN VMA grows it.
func (as *AddressSpace) Fault(addr uint64, write bool) error {
	as.lock.ReadLock()
	v := as.findVMA(addr)
	if v == nil || v.Start() <= addr {
		defer as.lock.ReadUnlock()
		if v == nil {
			return efault
		}
		return as.faultIn(v, addr, write)
	}
	as.lock.ReadUnlock()
	// Below a VMA: only a stack may grow into it, under the write lock.
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	v = as.findVMA(addr)
	if v == nil {
		return efault
	}
	if v.Start() > addr {
		if v.Flags()&VMGrowsDown == 0 || as.expandStack(v, addr) != nil {
			return efault
		}
	}
	return as.faultIn(v, addr, write)
}

// faultIn checks the access against v and records its effects.
//
// Preconditions: the mmap read lock is held (or the write lock, for MAP_POPULATE).
func (as *AddressSpace) faultIn(v *VMA, addr uint64, write bool) error {
	f := v.Flags()
	if write && f&VMWrite == 0 || !write && f&vmAccessFlags == 0 {
		return efault
	}
	if f&VMHugeTLB != 0 {
		return as.hugeFault(v, addr, write)
	}
	switch {
	case write && f&VMShared == 0:
		as.anonVMAPrepare(v) // copy-on-write needs an anon_vma, even before SIGBUS
	case v.isAnon():
		// A read of private anonymous memory: Linux 6.18, as observed on
		// the kernel the differential tests run against, prepares the
		// anon_vma here too (the zero page is not used).
		as.anonVMAPrepare(v)
	}
	if file := v.File(); file != nil && !v.isAnon() { // private /dev/zero has no end
		page := v.Pgoff() + (addr-v.Start())>>PageShift
		if size := uint64(file.Inode().Size()); page >= (size+PageSize-1)>>PageShift {
			return efault // SIGBUS
		}
	}
	return nil
}

// expandStack grows the VM_GROWSDOWN VMA v down to cover addr
// (expand_downwards). The caller holds the mmap write lock.
//
// Preconditions: the mmap read lock is held (or the write lock).
func (as *AddressSpace) expandStack(v *VMA, addr uint64) error {
	addr &= PageMask
	if addr < as.cfg.MmapMinAddr {
		return eperm
	}
	if prev := as.prevVMA(v.Start()); prev != nil && prev.Flags()&VMGrowsDown == 0 &&
		prev.Flags()&vmAccessFlags != 0 && addr-prev.End() < as.cfg.StackGuardGap {
		return enomem
	}
	// The anon_vma comes first: a growth refused below still leaves the
	// VMA with one (checked against the kernel: rlimit_as.vma).
	as.anonVMAPrepare(v)
	grow := (v.Start() - addr) >> PageShift
	if grow > v.Pgoff() {
		return enomem
	}
	// acct_stack_growth: RLIMIT_AS, then RLIMIT_STACK.
	if !as.mayExpandVM(v.Flags(), grow) || v.End()-addr > as.cfg.StackRlimit {
		return enomem
	}
	as.vmaStartWrite(v)
	as.setRange(v, addr, v.End(), v.Pgoff()-grow)
	return nil
}

// anonVMAPrepare gives v an anon_vma if it has none: a compatible
// neighbour's, or a new one (anon_vma_prepare, find_mergeable_anon_vma).
//
// Preconditions: the mmap lock is held, either mode (anonMu is taken here).
func (as *AddressSpace) anonVMAPrepare(v *VMA) {
	as.anonMu.Lock()
	defer as.anonMu.Unlock()
	if v.anon.Load() != nil {
		return
	}
	prev, next := as.neighbours(v.Start(), v.End())
	var a *AnonVMA
	// A neighbour's anon_vma is taken only from a VMA whose chain is
	// singular (reusable_anon_vma): never a fork child's.
	if next != nil && anonReusable(v, next) && !isForkChild(next) {
		a = next.anon.Load()
	}
	if a == nil && prev != nil && anonReusable(prev, v) && !isForkChild(prev) {
		a = prev.anon.Load()
	}
	if a == nil {
		a = newAnonVMA()
	}
	v.forkChild.Store(false) // one link: to a, whether new or a neighbour's
	v.anon.Store(a)
}

// anonReusable is anon_vma_compatible: lo and hi are adjacent, map the same
// file contiguously and differ at most in their access flags.
func anonReusable(lo, hi *VMA) bool {
	return lo.End() == hi.Start() && lo.File() == hi.File() &&
		(lo.Flags()^hi.Flags())&^(vmAccessFlags|VMSoftDirty) == 0 &&
		hi.Pgoff() == lo.Pgoff()+lo.pages()
}
