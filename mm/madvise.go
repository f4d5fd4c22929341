package mm

// madvise(2) advice values (MADV_*), Linux's numbers.
const (
	MadvNormal      = 0
	MadvRandom      = 1
	MadvSequential  = 2
	MadvWillNeed    = 3
	MadvDontNeed    = 4
	MadvFree        = 8
	MadvRemove      = 9
	MadvDontFork    = 10
	MadvDoFork      = 11
	MadvMergeable   = 12
	MadvUnmergeable = 13
	MadvHugePage    = 14
	MadvNoHugePage  = 15
	MadvDontDump    = 16
	MadvDoDump      = 17
	MadvWipeOnFork  = 18
	MadvKeepOnFork  = 19
)

// Madvise is madvise(2) for the advice that changes VMA flags — and so
// splits and merges VMAs like any attribute change — and for
// MADV_DONTNEED and MADV_FREE, which drop page contents (beyond the model)
// and change no VMA: MADV_NORMAL, RANDOM, SEQUENTIAL, DONTFORK, DOFORK,
// DONTDUMP, DODUMP, WIPEONFORK, KEEPONFORK, HUGEPAGE, NOHUGEPAGE,
// MERGEABLE and UNMERGEABLE (EINVAL without KSM: Config.NoKSM),
// DONTNEED, FREE. Any other advice is EINVAL here, including advice Linux
// accepts (WILLNEED, COLD, PAGEOUT, ...), which the model does not cover.
//
// As in Linux the VMAs of the range are visited in order; holes are skipped
// and reported as ENOMEM at the end; an advice a VMA refuses stops the
// walk with EINVAL (earlier VMAs keep their change), and a split that
// would pass the map count limit is EAGAIN. Sealed read-only anonymous
// memory refuses DONTNEED and FREE with EPERM.
func (as *AddressSpace) Madvise(addr, length uint64, advice int) error {
	set, clear, ok := adviceFlags(advice, as.cfg.NoKSM)
	if !ok {
		return einval
	}
	end, err := adviceRange(addr, length)
	if err != nil || end == addr {
		return err
	}
	discard := advice == MadvDontNeed || advice == MadvFree
	if discard {
		as.lock.ReadLock() // no VMA changes: Linux takes the lock for reading
		defer as.lock.ReadUnlock()
	} else {
		as.lock.WriteLock()
		defer as.lock.WriteUnlock()
	}
	if discard {
		for _, v := range as.overlapping(addr, end) {
			if !as.mayDiscard(v) {
				return eperm // checked for the whole range first
			}
		}
	}
	return as.walkRange(addr, end, func(v *VMA, start, end uint64) error {
		f := v.Flags()
		if discard {
			switch {
			case f&(VMLocked|VMPFNMap) != 0:
				return einval
			case advice == MadvFree && !v.isAnon():
				return einval
			case f&VMHugeTLB != 0:
				// madvise_dontneed_free_valid_vma: an aligned start, the
				// end rounded down to a huge page.
				if start&hugeMask != 0 {
					return einval
				}
				if e := end &^ hugeMask; e > start {
					if h := v.huge.Load(); h != nil {
						as.hugeDiscard(v, h, start, e, true)
					}
				}
			}
			return nil
		}
		if err := adviceAllowed(v, advice); err != nil {
			return err
		}
		nf := f&^clear | set
		if advice == MadvMergeable && !ksmCompatible(v) {
			nf = f // left alone, successfully
		}
		if nf == f {
			return nil
		}
		return as.setFlags(v, start, end, nf, eagain)
	})
}

// adviceFlags returns the vm_flags an advice sets and clears.
func adviceFlags(advice int, noKSM bool) (set, clear VMFlags, ok bool) {
	switch advice {
	case MadvNormal:
		return 0, VMSeqRead | VMRandRead, true
	case MadvRandom:
		return VMRandRead, VMSeqRead, true
	case MadvSequential:
		return VMSeqRead, VMRandRead, true
	case MadvDontFork:
		return VMDontCopy, 0, true
	case MadvDoFork:
		return 0, VMDontCopy, true
	case MadvDontDump:
		return VMDontDump, 0, true
	case MadvDoDump:
		return 0, VMDontDump, true
	case MadvWipeOnFork:
		return VMWipeOnFork, 0, true
	case MadvKeepOnFork:
		return 0, VMWipeOnFork, true
	case MadvHugePage:
		return VMHugePage, VMNoHugePage, true
	case MadvNoHugePage:
		return VMNoHugePage, VMHugePage, true
	case MadvMergeable:
		return VMMergeable, 0, !noKSM
	case MadvUnmergeable:
		return 0, VMMergeable, !noKSM
	case MadvDontNeed, MadvFree:
		return 0, 0, true
	}
	return 0, 0, false
}

// adviceAllowed applies the per-VMA refusals of madvise_vma_behavior.
func adviceAllowed(v *VMA, advice int) error {
	f := v.Flags()
	switch advice {
	case MadvDoFork:
		if f&VMIO != 0 {
			return einval
		}
	case MadvWipeOnFork:
		if v.File() != nil || f&VMShared != 0 {
			return einval // only private anonymous memory can be wiped
		}
	case MadvDoDump:
		if f&VMSpecial != 0 && f&VMHugeTLB == 0 {
			return einval
		}
	}
	return nil
}

// ksmCompatible is vma_ksm_compatible: KSM merges only private, ordinary
// memory; MADV_MERGEABLE leaves other VMAs alone without failing.
func ksmCompatible(v *VMA) bool {
	return v.Flags()&(VMShared|VMMayShare|VMSpecial|VMHugeTLB) == 0
}

// mayDiscard is can_madvise_modify for discarding advice: sealed read-only
// anonymous memory cannot be emptied.
func (as *AddressSpace) mayDiscard(v *VMA) bool {
	f := v.Flags()
	return f&VMSealed == 0 || v.File() != nil || f&VMWrite != 0
}

// setFlags gives [start, end) of v the flags nf, splitting or merging as
// vma_modify_flags does. A split refused at the map count limit returns
// splitErr (EAGAIN for madvise, ENOMEM for mlock).
func (as *AddressSpace) setFlags(v *VMA, start, end uint64, nf VMFlags, splitErr error) error {
	p := proposeFrom(v, start, end)
	p.flags = nf
	w, _, err := as.isolate(v, &p)
	if err == enomem {
		return splitErr
	}
	if err != nil {
		return err
	}
	w.flags.Store(uint64(nf))
	return nil
}
