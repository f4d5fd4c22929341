package mm

// Mseal is mseal(2) (Linux 6.10+): it seals every VMA of the page-rounded
// range, which must be fully mapped (ENOMEM, and nothing sealed,
// otherwise). Sealing splits and merges like any flag change. A sealed
// VMA cannot be unmapped, replaced by MAP_FIXED, moved or resized by
// mremap, or have its protection changed: those calls fail with EPERM.
// Read-only anonymous sealed memory also refuses MADV_DONTNEED and
// MADV_FREE. Sealing is for the life of the address space.
func (as *AddressSpace) Mseal(addr, length uint64, flags int) error {
	if flags != 0 {
		return einval
	}
	end, err := adviceRange(addr, length)
	if err != nil || end == addr {
		return err
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	for pos := addr; pos < end; {
		v := as.findVMA(pos)
		if v == nil || v.Start() > pos {
			return enomem
		}
		pos = v.End()
	}
	for pos := addr; pos < end; {
		v := as.findVMA(pos)
		next := min(v.End(), end)
		if f := v.Flags(); f&VMSealed == 0 {
			if err := as.setFlags(v, pos, next, f|VMSealed, enomem); err != nil {
				return err
			}
		}
		pos = next
	}
	return nil
}
