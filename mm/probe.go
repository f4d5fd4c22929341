package mm

import "specvma/vfs"

// The breakpoint layer: what the uprobe subsystem (package uprobes, which
// mm does not import) uses to put its breakpoints into an address space.
// A ProbeSource tells mm which probes a new file mapping must carry
// (uprobe_mmap); InstallProbe and RemoveProbe add and take out one probe's
// breakpoints across the mappings that exist (register_for_each_vma);
// Breakpoint, HasBreakpoint and Breakpoints read the table (breakpoint.go);
// RefCounter reads an SDT semaphore (refctr.go). Each of these takes the
// mmap lock itself.

// ProbeID names a probe: a file offset in an inode (a uprobe's key). A
// breakpoint records the ProbeID it was written for, not a pointer to the
// probe, whose memory may be reused.
type ProbeID struct {
	Inode  vfs.InodeID
	Offset uint64
}

// ProbePoint is a probe at a file offset of the inode in question. RefCtr,
// when not zero, is the file offset of its SDT semaphore: a 16-bit counter
// in the file's data that every breakpoint written for the probe
// increments (refctr.go).
type ProbePoint struct {
	Offset uint64
	RefCtr uint64
}

// ProbeSource tells an address space which probes a new mapping of a file
// must carry (what uprobe_mmap asks the uprobe tree).
type ProbeSource interface {
	// ProbesIn lists the probes on inode within [off, off+length) that should
	// be installed in as.
	//
	// Preconditions: as's mmap write lock is held (by the caller's Mmap or
	// Mremap); ProbesIn must not call back into as. It may take locks that
	// the lock order (doc.go) places below the mmap lock: uprobes takes its
	// registry's lookups (lockless) and nothing else.
	ProbesIn(as *AddressSpace, inode vfs.InodeID, off, length uint64) []ProbePoint
}

// SetProbeSource attaches src; new file mappings get its probes from now on.
func (as *AddressSpace) SetProbeSource(src ProbeSource) {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	as.probes = src
}

// probeEligible is valid_vma: only private, may-exec file mappings carry
// breakpoints, and a mapping writable at install time gets none.
func probeEligible(f VMFlags, hasFile, installing bool) bool {
	mask := VMHugeTLB | VMMayExec | VMMayShare
	if installing {
		mask |= VMWrite
	}
	return hasFile && f&mask == VMMayExec
}

// InstallProbe writes a breakpoint for probe p at every address where as
// maps offset p.Offset of inode through an eligible VMA
// (register_for_each_vma, one address space), and counts each in the probe's
// SDT semaphore. It returns the addresses.
func (as *AddressSpace) InstallProbe(inode vfs.InodeID, p ProbePoint) []uint64 {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	var out []uint64
	as.eachMappingOf(inode, p.Offset, func(v *VMA, addr uint64) {
		if probeEligible(v.Flags(), true, true) && as.poke(v, addr, ProbeID{inode, p.Offset}) {
			out = append(out, addr)
		}
	})
	for range out {
		as.refCtrUpdate(inode, p, +1)
	}
	return out
}

// RemoveProbe removes probe p's breakpoints wherever as maps (inode,
// p.Offset), and uncounts them.
func (as *AddressSpace) RemoveProbe(inode vfs.InodeID, p ProbePoint) []uint64 {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	var out []uint64
	bps := as.bpTable()
	as.eachMappingOf(inode, p.Offset, func(v *VMA, addr uint64) {
		if o, ok := bps[addr]; ok && o == (ProbeID{inode, p.Offset}) && probeEligible(v.Flags(), true, false) {
			out = append(out, addr)
		}
	})
	if len(out) > 0 {
		as.editBreakpoints(func(m map[uint64]ProbeID) {
			for _, a := range out {
				delete(m, a)
			}
		})
	}
	for range out {
		as.refCtrUpdate(inode, p, -1)
	}
	return out
}

// eachMappingOf calls fn for every VMA mapping (inode, off) and the address
// where it does.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) eachMappingOf(inode vfs.InodeID, off uint64, fn func(v *VMA, addr uint64)) {
	for e := range as.cur().all() {
		v := e.vma
		f := v.File()
		if f == nil || f.Inode().ID() != inode {
			continue
		}
		lo := v.Pgoff() << PageShift
		if off < lo || off-lo >= v.End()-v.Start() {
			continue
		}
		fn(v, v.Start()+off-lo)
	}
}

// probeMapped is uprobe_mmap: v is new (or newly extended). A private
// writable mapping may be the SDT semaphore that probes registered earlier
// are waiting for; an eligible one gets the breakpoints of every probe on
// its file range.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) probeMapped(v *VMA) {
	f := v.File()
	if as.probes == nil || f == nil {
		return
	}
	inode := f.Inode().ID()
	if v.Flags()&(VMWrite|VMShared) == VMWrite {
		as.refCtrDelayed(v, inode)
	}
	if !probeEligible(v.Flags(), true, true) {
		return
	}
	lo := v.Pgoff() << PageShift
	for _, p := range as.probes.ProbesIn(as, inode, lo, v.End()-v.Start()) {
		if as.poke(v, v.Start()+p.Offset-lo, ProbeID{inode, p.Offset}) {
			as.refCtrUpdate(inode, p, +1)
		}
	}
}
