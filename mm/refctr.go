package mm

import "specvma/vfs"

// SDT semaphores (uprobe ref_ctr_offset): a probe may name a 16-bit counter
// in its file's data; while the probe is armed, every breakpoint written
// for it in an address space adds one to the counter as that address space
// maps it, so the traced program can tell that someone is listening.
//
// The counter is found in the first private writable mapping of its offset
// (find_ref_ctr_vma). When there is none yet, one increment per probe is
// parked and applied when such a mapping appears (delayed_uprobe). A
// decrement never takes the counter below zero, and always drops a parked
// increment. Like breakpoints, counters are memory: unmapping their page
// forgets them and mremap moves them. All of it runs under the mmap write
// lock.

type refCtrKey struct {
	inode vfs.InodeID
	off   uint64 // the counter's file offset
	probe uint64 // the probe's file offset (the same inode)
}

// refCtrUpdate moves probe p's counter by d (update_ref_ctr).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) refCtrUpdate(inode vfs.InodeID, p ProbePoint, d int) {
	if p.RefCtr == 0 {
		return
	}
	if addr, ok := as.refCtrAddr(inode, p.RefCtr); ok {
		if as.refCtrs == nil {
			as.refCtrs = map[uint64]int{}
		}
		if n := as.refCtrs[addr] + d; n >= 0 {
			as.refCtrs[addr] = n
		}
		if d > 0 {
			return
		}
	}
	k := refCtrKey{inode, p.RefCtr, p.Offset}
	if d > 0 {
		if as.refDelayed == nil {
			as.refDelayed = map[refCtrKey]bool{}
		}
		as.refDelayed[k] = true
	} else {
		delete(as.refDelayed, k)
	}
}

// refCtrAddr finds where the counter at file offset off lives in as.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) refCtrAddr(inode vfs.InodeID, off uint64) (uint64, bool) {
	var at uint64
	found := false
	as.eachMappingOf(inode, off, func(v *VMA, addr uint64) {
		if !found && v.Flags()&(VMWrite|VMShared) == VMWrite {
			at, found = addr, true
		}
	})
	return at, found
}

// refCtrDelayed applies the parked increments that the new private writable
// mapping v of inode makes possible (delayed_ref_ctr_inc).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) refCtrDelayed(v *VMA, inode vfs.InodeID) {
	lo := v.Pgoff() << PageShift
	for k := range as.refDelayed {
		if k.inode != inode || k.off < lo || k.off-lo >= v.End()-v.Start() {
			continue
		}
		delete(as.refDelayed, k)
		if as.refCtrs == nil {
			as.refCtrs = map[uint64]int{}
		}
		as.refCtrs[v.Start()+k.off-lo]++
	}
}

// RefCounter returns the value of the SDT semaphore at addr, under the mmap
// read lock.
func (as *AddressSpace) RefCounter(addr uint64) int {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	return as.refCtrs[addr]
}

// dropRefCtrs forgets the counters in [start, end); moveRefCtrs carries
// those of [old, old+n) to new.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) dropRefCtrs(start, end uint64) {
	for a := range as.refCtrs {
		if a >= start && a < end {
			delete(as.refCtrs, a)
		}
	}
}

// Preconditions: the mmap write lock is held.
func (as *AddressSpace) moveRefCtrs(old, n, new uint64) {
	moved := map[uint64]int{}
	for a, c := range as.refCtrs {
		if a >= old && a < old+n {
			moved[a-old+new] = c
			delete(as.refCtrs, a)
		}
	}
	for a, c := range moved {
		as.refCtrs[a] = c
	}
}
