package mm

// AnonNameMax is ANON_VMA_NAME_MAX_LEN: a name's bytes plus its NUL.
const AnonNameMax = 80

// SetAnonName is prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, length,
// name): it names the anonymous memory of [addr, addr+length), shown in
// maps as [anon:NAME] (or [anon_shmem:NAME] for shared anonymous memory); a
// nil name clears it. Naming splits and merges VMAs like any attribute
// change. File-backed memory gives EBADF; holes in the range give ENOMEM
// after the mapped parts have been named, as madvise does.
func (as *AddressSpace) SetAnonName(addr, length uint64, name *string) error {
	if as.cfg.NoAnonNames {
		return einval
	}
	if name != nil {
		if len(*name)+1 > AnonNameMax {
			return einval
		}
		for i := 0; i < len(*name); i++ {
			if !validNameChar((*name)[i]) {
				return einval
			}
		}
		n := *name
		name = &n
	}
	end, err := adviceRange(addr, length)
	if err != nil || end == addr {
		return err
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	return as.walkRange(addr, end, func(v *VMA, start, end uint64) error {
		if v.File() != nil && !v.isShmemAnon() || v.special.Load() != nil {
			return ebadf
		}
		if nameEq(v.name.Load(), name) {
			return nil
		}
		p := proposeFrom(v, start, end)
		p.name = name
		w, _, err := as.isolate(v, &p)
		if err == enomem {
			return eagain
		}
		if err != nil {
			return err
		}
		w.name.Store(name)
		return nil
	})
}

// validNameChar is the set anon names may use: printable ASCII except the
// characters that would confuse maps parsers.
func validNameChar(c byte) bool {
	if c < ' ' || c > '~' {
		return false
	}
	switch c {
	case '\\', '`', '$', '[', ']':
		return false
	}
	return true
}

// adviceRange checks the range of madvise, mseal and the anon-name prctl:
// a page-aligned start and a length whose page rounding neither overflows
// nor wraps the end. It returns the end; end == addr means nothing to do.
func adviceRange(addr, length uint64) (end uint64, err error) {
	if !pageAligned(addr) {
		return 0, einval
	}
	l, ok := pageAlign(length)
	if length != 0 && (!ok || l == 0) {
		return 0, einval
	}
	if end = addr + l; end < addr {
		return 0, einval
	}
	return end, nil
}

// walkRange calls visit for each VMA piece of [start, end) in order, like
// madvise_walk_vmas: holes are skipped and reported as ENOMEM at the end; a
// visit error stops the walk. visit may split or merge the VMA it is given.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) walkRange(start, end uint64, visit func(v *VMA, start, end uint64) error) error {
	var unmapped error
	v := as.findVMA(start)
	for {
		if v == nil {
			return enomem
		}
		if start < v.Start() {
			unmapped = enomem
			start = v.Start()
			if start >= end {
				break
			}
		}
		stop := min(v.End(), end)
		if err := visit(v, start, stop); err != nil {
			return err
		}
		start = stop
		if start >= end {
			break
		}
		v = as.findVMA(start)
	}
	return unmapped
}
