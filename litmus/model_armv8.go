package litmus

// armv8 is the operational ARMv8 model: every process executes its
// instructions out of program order, as far as the rules below allow,
// over one multi-copy-atomic memory (a store, once performed, is seen by
// every other CPU at once; a load either reads memory or takes the value
// of its own CPU's earlier, not yet performed store to the same
// location). op_explore.go runs the transition system; this file states
// the architecture's ordering rules. The kernel primitives map as arm64
// compiles them (docs/litmus.md has the table): READ_ONCE/WRITE_ONCE are
// LDR/STR; smp_load_acquire is LDAR (the RCsc acquire: it also waits for
// every earlier STLR, unlike LDAPR); smp_store_release is STLR; smp_mb
// (and smp_mb__before/after_atomic) DMB ISH; smp_rmb DMB ISHLD; smp_wmb
// DMB ISHST; a fully ordered RMW (xchg, atomic_*_return, cmpxchg that
// succeeds) has a DMB ISH on each side of its exclusive pair; _acquire
// and _release RMWs are LDAXR/STLXR pairs.
//
// What the engine enforces for every operational model (op_explore.go):
// register dataflow (an access waits for the loads its address or value
// is computed from: address and data dependencies), stores wait for every
// earlier branch (control dependency to a store) and for the address of
// every earlier access, accesses to one location stay in program order
// except that a load may read from its own CPU's pending store, and the
// write of an RMW is performed only if no other write to its location
// came between it and its read. The rules here add the barriers:
//
//	DMB ISH (smp_mb)        every earlier access before every later one
//	DMB ISHLD (smp_rmb)     every earlier load before every later access
//	DMB ISHST (smp_wmb)     every earlier store before every later store
//	LDAR (acquire)          the acquire before every later access
//	STLR (release)          every earlier access before the release
//	STLR then LDAR          the release before the acquire
//
// and, on forwarding: an acquire load may not take its value from a
// pending STLR (by the rule above) nor from the pending write of an
// exclusive pair: it waits until that write is performed.
type armv8Model struct{}

func init() { registerModel(armv8Model{}) }

func (armv8Model) Name() string { return "armv8" }

func (armv8Model) Describe() string {
	return "ARMv8, operational: out-of-order execution over multi-copy-atomic memory"
}

// order adds to each access's wait set the earlier accesses the barriers
// and annotations keep before it.
func (armv8Model) order(p *opPath) {
	lastMb, lastRmb, lastWmb := -1, -1, -1
	var releases []int
	var acquires []int
	for j := range p.insts {
		o := &p.insts[j]
		if o.kind == iFence {
			switch o.fence {
			case FenceRmb:
				lastRmb = j
			case FenceWmb:
				lastWmb = j
			case FenceAfterUnlockLock, FenceRcuLock, FenceRcuUnlock:
				// Empty on arm64: STLR then LDAXR is ordered already;
				// RCU read-side critical sections order nothing in
				// hardware.
			default:
				lastMb = j
			}
			continue
		}
		if !o.isAccess() {
			continue
		}
		for i := 0; i < j; i++ {
			e := &p.insts[i]
			if !e.isAccess() {
				continue
			}
			keep := i < lastMb ||
				e.isRead() && i < lastRmb ||
				e.isWrite() && o.isWrite() && i < lastWmb ||
				o.rel
			if keep {
				o.wait.add(i)
			}
		}
		for _, a := range acquires {
			o.wait.add(a)
		}
		if o.isRead() && o.acq {
			for _, r := range releases {
				o.wait.add(r)
			}
		}
		if o.isRead() && o.acq {
			acquires = append(acquires, j)
		}
		if o.isWrite() && o.rel {
			releases = append(releases, j)
		}
	}
}

// mayForward: a load may read its own CPU's pending store s, except that
// an acquire waits for the write of an exclusive pair.
func (armv8Model) mayForward(p *opPath, s, j int) bool {
	return !(p.insts[j].acq && p.insts[s].kind == iRMWWrite)
}
