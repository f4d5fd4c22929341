package mm

import "sort"

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
// The table maps each address to the probe it was written for.

// Breakpoint reports the probe of the breakpoint at addr, if there is one,
// under the mmap read lock (is_trap_at_addr).
func (as *AddressSpace) Breakpoint(addr uint64) (ProbeID, bool) {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	o, ok := as.bpTable()[addr]
	return o, ok
}

// HasBreakpoint reports whether the instruction at addr is a breakpoint
// now: what the CPU finds when it executes it. The table is replaced, never
// edited, so one atomic load gives a consistent version; but a writer
// changes it in several steps within one hold (a MAP_FIXED replacement
// removes the old page's breakpoints before the new page gets its own),
// and a CPU cannot execute from a page in the middle of that: it faults
// and waits for the writer. So the lockless read is trusted only when no
// writer held the mmap lock across it (the mm sequence count, as mmseq
// uses it); otherwise it is read again under the mmap read lock.
func (as *AddressSpace) HasBreakpoint(addr uint64) bool {
	if seq, ok := as.lock.SpeculateTryBegin(); ok { // safety:bp-seq
		has := as.hasBreakpoint(addr)
		if !as.lock.SpeculateRetry(seq) { // safety:bp-seq
			return has
		}
	}
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	return as.hasBreakpoint(addr)
}

func (as *AddressSpace) hasBreakpoint(addr uint64) bool {
	p := as.bps.Load()
	if p == nil {
		return false
	}
	_, ok := (*p)[addr]
	return ok
}

func (as *AddressSpace) bpTable() map[uint64]ProbeID {
	if p := as.bps.Load(); p != nil {
		return *p
	}
	return nil
}

// editBreakpoints publishes a changed copy of the table (under the write lock).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) editBreakpoints(edit func(m map[uint64]ProbeID)) {
	old := as.bpTable()
	m := make(map[uint64]ProbeID, len(old)+1)
	for a, o := range old {
		m[a] = o
	}
	edit(m)
	as.bps.Store(&m)
}

// BreakpointAt is one installed breakpoint.
type BreakpointAt struct {
	Addr  uint64
	Probe ProbeID
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

// poke installs one breakpoint; false if one is already there.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) poke(v *VMA, addr uint64, id ProbeID) bool {
	if _, ok := as.bpTable()[addr]; ok {
		return false
	}
	as.anonVMAPrepare(v) // the page becomes a private copy
	as.editBreakpoints(func(m map[uint64]ProbeID) { m[addr] = id })
	return true
}

// dropBreakpoints forgets the breakpoints in [start, end): their pages are gone.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) dropBreakpoints(start, end uint64) {
	if !as.anyBreakpoint(start, end) {
		return
	}
	as.editBreakpoints(func(m map[uint64]ProbeID) {
		for a := range m {
			if a >= start && a < end {
				delete(m, a)
			}
		}
	})
}

// Preconditions: the mmap lock is held, either mode.
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
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) moveBreakpoints(old, n, new uint64) {
	if !as.anyBreakpoint(old, old+n) {
		return
	}
	as.editBreakpoints(func(m map[uint64]ProbeID) {
		moved := map[uint64]ProbeID{}
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
