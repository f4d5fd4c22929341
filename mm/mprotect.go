package mm

// Mprotect is mprotect(2). Like Linux it walks the VMAs in the range in
// order, changing each; a hole stops the walk with ENOMEM after the mapped
// prefix has been changed, and a VMA whose file does not allow the new
// protection stops it with EACCES.
func (as *AddressSpace) Mprotect(addr, length uint64, prot int) error {
	grows := prot & (ProtGrowsDown | ProtGrowsUp)
	prot &^= ProtGrowsDown | ProtGrowsUp
	if grows == ProtGrowsDown|ProtGrowsUp || grows == ProtGrowsUp {
		return einval // x86 has no VM_GROWSUP
	}
	if !pageAligned(addr) {
		return einval
	}
	if length == 0 {
		return nil
	}
	length, _ = pageAlign(length)
	end := addr + length
	if end <= addr {
		return enomem
	}
	if prot&^(ProtRead|ProtWrite|ProtExec|ProtSem) != 0 {
		return einval
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	v := as.findVMA(addr)
	if v == nil || v.Start() >= end {
		return enomem
	}
	start := addr
	if grows&ProtGrowsDown != 0 {
		if v.Start() >= end || v.Flags()&VMGrowsDown == 0 {
			return einval
		}
		start = v.Start()
	} else if v.Start() > start {
		return enomem
	}
	return as.mprotectWalk(start, end, prot)
}

// mprotectWalk applies prot to each VMA of [start, end) in turn.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mprotectWalk(start, end uint64, prot int) error {
	for pos := start; pos < end; {
		v := as.findVMA(pos)
		if v == nil || v.Start() > pos {
			return enomem
		}
		if v.Flags()&VMSealed != 0 {
			return eperm
		}
		newFlags := protToVM(prot) | v.Flags()&^vmAccessFlags
		if newFlags&^(newFlags>>4)&vmAccessFlags != 0 {
			return eacces // VM_WRITE without VM_MAYWRITE, and so on
		}
		next := min(v.End(), end)
		if err := as.mprotectFixup(v, pos, next, newFlags); err != nil {
			return err
		}
		pos = next
	}
	return nil
}

// mprotectFixup gives [start, end) of v the flags newFlags (mprotect_fixup).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mprotectFixup(v *VMA, start, end uint64, newFlags VMFlags) error {
	old := v.Flags()
	if newFlags == old {
		return nil
	}
	if newFlags&VMWrite != 0 {
		// RLIMIT_DATA, when the range turns into data.
		if n := (end - start) >> PageShift; !as.mayExpandVM(newFlags, n) && as.mayExpandVM(old, n) {
			return enomem
		}
		if old&(VMAccount|VMWrite|VMHugeTLB|VMShared|VMNoReserve) == 0 {
			if err := as.enoughMemory((end - start) >> PageShift); err != nil {
				return err
			}
			newFlags |= VMAccount // private memory turning writable is charged
		}
	} else if old&VMAccount != 0 && v.isAnon() && v.anon.Load() == nil {
		newFlags &^= VMAccount // unfaulted anonymous memory stops being charged
	}
	p := proposeFrom(v, start, end)
	p.flags = newFlags
	w, _, err := as.isolate(v, &p)
	if err != nil {
		return err
	}
	w.flags.Store(uint64(newFlags))
	return nil
}
