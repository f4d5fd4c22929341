package mm

import (
	"sort"

	"specvma/vfs"
)

// Breakpoints: the software breakpoints (int3 on x86) that uprobes write
// into the text pages of an address space.
//
// Linux writes a breakpoint by replacing the page with a private copy that
// holds the trap (so the VMA gets an anon_vma, as any copy-on-write does);
// the breakpoint then lives in that page. So here a breakpoint belongs to an
// address, stays through mprotect and splits, moves with its page on
// mremap, and is gone when its page is unmapped. Every install and removal
// runs under the mmap write lock, as in the kernel, so it invalidates
// lockless readers in flight: a reader that finds no probe can then trust
// the breakpoint table it reads under the read lock (is_trap_at_addr).
//
// The package above (uprobes) supplies the probes through a ProbeSource and
// is told nothing else: mm does not import it.

// ProbePoint is a probe at a file offset; Owner identifies the probe (a
// comparable value). RefCtr, when not zero, is the file offset of its SDT
// semaphore: a 16-bit counter in the file's data that every breakpoint
// written for the probe increments (refctr.go).
type ProbePoint struct {
	Offset uint64
	Owner  any
	RefCtr uint64
}

// ProbeSource tells an address space which probes a new mapping of a file
// must carry (what uprobe_mmap asks the uprobe tree).
type ProbeSource interface {
	// ProbesIn lists the probes on inode within [off, off+length) that should
	// be installed in as. It is called with as's mmap write lock held and
	// must not call back into as.
	ProbesIn(as *AddressSpace, inode vfs.InodeID, off, length uint64) []ProbePoint
}

// SetProbeSource attaches src; new file mappings get its probes from now on.
func (as *AddressSpace) SetProbeSource(src ProbeSource) {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	as.probes = src
}

// ProbeEligible is valid_vma: only private, may-exec file mappings carry
// breakpoints, and a mapping writable at install time gets none.
func ProbeEligible(f VMFlags, hasFile, installing bool) bool {
	mask := VMHugeTLB | VMMayExec | VMMayShare
	if installing {
		mask |= VMWrite
	}
	return hasFile && f&mask == VMMayExec
}

// Breakpoint reports the owner of the breakpoint at addr, if there is one,
// under the mmap read lock (is_trap_at_addr).
func (as *AddressSpace) Breakpoint(addr uint64) (any, bool) {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	o, ok := as.bpTable()[addr]
	return o, ok
}

// HasBreakpoint reports, without a lock, whether the instruction at addr is
// a breakpoint now: what the CPU finds when it executes it. The table is
// replaced, never edited, so one atomic load gives a consistent version.
func (as *AddressSpace) HasBreakpoint(addr uint64) bool {
	p := as.bps.Load()
	if p == nil {
		return false
	}
	_, ok := (*p)[addr]
	return ok
}

func (as *AddressSpace) bpTable() map[uint64]any {
	if p := as.bps.Load(); p != nil {
		return *p
	}
	return nil
}

// setBreakpoints publishes a changed copy of the table (under the write lock).
func (as *AddressSpace) editBreakpoints(edit func(m map[uint64]any)) {
	old := as.bpTable()
	m := make(map[uint64]any, len(old)+1)
	for a, o := range old {
		m[a] = o
	}
	edit(m)
	as.bps.Store(&m)
}

// BreakpointAt is one installed breakpoint.
type BreakpointAt struct {
	Addr  uint64
	Owner any
}

// Breakpoints lists the installed breakpoints by address.
func (as *AddressSpace) Breakpoints() []BreakpointAt {
	as.lock.ReadLock()
	bps := as.bpTable()
	out := make([]BreakpointAt, 0, len(bps))
	for a, o := range bps {
		out = append(out, BreakpointAt{a, o})
	}
	as.lock.ReadUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
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
		if ProbeEligible(v.Flags(), true, true) && as.poke(v, addr, p.Owner) {
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
		if o, ok := bps[addr]; ok && o == p.Owner && ProbeEligible(v.Flags(), true, false) {
			out = append(out, addr)
		}
	})
	if len(out) > 0 {
		as.editBreakpoints(func(m map[uint64]any) {
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
func (as *AddressSpace) eachMappingOf(inode vfs.InodeID, off uint64, fn func(v *VMA, addr uint64)) {
	var c cursor
	for ok := c.seekFirst(as.index.Load()); ok; ok = c.next() {
		v := c.entry().vma
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

// poke installs one breakpoint; false if one is already there.
func (as *AddressSpace) poke(v *VMA, addr uint64, owner any) bool {
	if _, ok := as.bpTable()[addr]; ok {
		return false
	}
	as.anonVMAPrepare(v) // the page becomes a private copy
	as.editBreakpoints(func(m map[uint64]any) { m[addr] = owner })
	return true
}

// probeMapped is uprobe_mmap: v is new (or newly extended). A private
// writable mapping may be the SDT semaphore that probes registered earlier
// are waiting for; an eligible one gets the breakpoints of every probe on
// its file range.
func (as *AddressSpace) probeMapped(v *VMA) {
	f := v.File()
	if as.probes == nil || f == nil {
		return
	}
	inode := f.Inode().ID()
	if v.Flags()&(VMWrite|VMShared) == VMWrite {
		as.refCtrDelayed(v, inode)
	}
	if !ProbeEligible(v.Flags(), true, true) {
		return
	}
	lo := v.Pgoff() << PageShift
	for _, p := range as.probes.ProbesIn(as, inode, lo, v.End()-v.Start()) {
		if as.poke(v, v.Start()+p.Offset-lo, p.Owner) {
			as.refCtrUpdate(inode, p, +1)
		}
	}
}

// dropBreakpoints forgets the breakpoints in [start, end): their pages are gone.
func (as *AddressSpace) dropBreakpoints(start, end uint64) {
	if !as.anyBreakpoint(start, end) {
		return
	}
	as.editBreakpoints(func(m map[uint64]any) {
		for a := range m {
			if a >= start && a < end {
				delete(m, a)
			}
		}
	})
}

func (as *AddressSpace) anyBreakpoint(start, end uint64) bool {
	for a := range as.bpTable() {
		if a >= start && a < end {
			return true
		}
	}
	return false
}

// moveBreakpoints carries the breakpoints of [old, old+n) to new (mremap
// moves the page tables, traps included).
func (as *AddressSpace) moveBreakpoints(old, n, new uint64) {
	if !as.anyBreakpoint(old, old+n) {
		return
	}
	as.editBreakpoints(func(m map[uint64]any) {
		moved := map[uint64]any{}
		for a, o := range m {
			if a >= old && a < old+n {
				moved[a-old+new] = o
				delete(m, a)
			}
		}
		for a, o := range moved {
			m[a] = o
		}
	})
}
