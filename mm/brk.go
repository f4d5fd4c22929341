package mm

// Brk is brk(2): it moves the program break to addr and returns the new
// break, or the old one when the request is refused (Linux reports a
// failed brk that way, with no errno). addr 0, or any address below the
// heap's start (Layout.StartBrk), only asks where the break is. Shrinking
// unmaps the pages above the new break; growing maps private, writable,
// accounted memory above the old one, extending the heap's VMA when it
// ends there and can merge, unless that would come within a page and the
// stack guard gap of the next mapping, or the charge is refused, or a
// resource limit (rlimit.go) would be passed: RLIMIT_DATA for the heap and
// data segment, or for the new pages; RLIMIT_MEMLOCK after
// mlockall(MCL_FUTURE).
func (as *AddressSpace) Brk(addr uint64) uint64 {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	orig := as.brk
	if addr < as.startBrk || !as.brkDataOK(addr) {
		return orig
	}
	newBrk, ok1 := pageAlign(addr)
	oldBrk, ok2 := pageAlign(as.brk)
	if !ok1 || !ok2 || newBrk > TaskSize {
		return orig
	}
	switch {
	case newBrk == oldBrk:
	case addr <= as.brk:
		// Shrinking unmaps the pages above the new break, but only when
		// something is mapped there (the heap may have been unmapped).
		if v := as.findVMA(newBrk); v == nil || v.Start() >= oldBrk || as.unmapRange(newBrk, oldBrk) != nil {
			return orig
		}
	default:
		if as.brkExpand(oldBrk, newBrk) != nil {
			return orig
		}
	}
	as.brk = addr
	return addr
}

// brkExpand maps [oldBrk, newBrk) for the heap (do_brk_flags).
func (as *AddressSpace) brkExpand(oldBrk, newBrk uint64) error {
	limit := newBrk + PageSize + as.cfg.StackGuardGap
	if next := as.findVMA(oldBrk); next != nil && next.Start() < limit && newBrk+PageSize > as.vmStartGap(next) {
		return enomem
	}
	// check_brk_limits: the range is checked as a MAP_FIXED mapping would be
	// (address limit, mmap_min_addr).
	if _, err := as.getUnmappedArea(nil, oldBrk, newBrk-oldBrk, 0, MapFixed|MapPrivate); err != nil {
		return err
	}
	if !as.mlockFutureOK(as.defFlags, newBrk-oldBrk) {
		return eagain
	}
	pages := (newBrk - oldBrk) >> PageShift
	if !as.mayExpandVM(VMRead|VMWrite, pages) {
		return enomem
	}
	if as.mapCount() > as.cfg.MaxMapCount {
		return enomem
	}
	if err := as.enoughMemory(pages); err != nil {
		return err
	}
	flags := VMRead | VMWrite | VMMayRead | VMMayWrite | VMMayExec | VMAccount | as.defFlags
	p := proposal{start: oldBrk, end: newBrk, pgoff: oldBrk >> PageShift, flags: flags}
	// Only the heap's own VMA (one starting at or above the heap's start
	// and ending at the old break) is extended; nothing merges from above.
	if prev := as.prevVMA(oldBrk); prev != nil && prev.Start() >= as.startBrk && mergeableWithPrev(prev, nil, &p) {
		as.vmaStartWrite(prev)
		as.setRange(prev, prev.Start(), newBrk, prev.Pgoff())
		return nil
	}
	as.link(as.newVMA(oldBrk, newBrk, p.pgoff, flags, nil))
	return nil
}
