package litmus

// lkmm is the Linux Kernel Memory Model (tools/memory-model,
// linux-kernel.cat with lock.cat) for marked accesses, fences, RMWs and
// spinlocks: the coherence, atomic, happens-before and propagation
// axioms. A spin_lock is a lock read (LKR, an acquire) and a lock write
// (LKW) that must read the unlocked value; spin_unlock is a release write
// (UL); a failed spin_trylock is a plain read (LF). An unlock followed in
// program order, or in reads-from, by a lock orders what precedes the
// unlock before what follows the lock (po-unlock-lock-po): inside one CPU
// as preserved program order, and for propagation like a cumulative
// fence. smp_mb__after_spinlock() makes the lock a full fence for what
// precedes it; smp_mb__after_unlock_lock() does the same for an unlock
// and a later lock. Plain accesses are outside the supported subset (the
// parser rejects them).
type lkmmModel struct{}

func init() { registerModel(lkmmModel{}) }

func (lkmmModel) Name() string { return "lkmm" }

func (lkmmModel) Describe() string {
	return "Linux kernel memory model: coherence, atomic, happens-before (hb), propagation (pb)"
}

// lkRels are the LKMM's derived relations for one candidate.
type lkRels struct {
	strong, poRel, wmb, ppo, prop, hb *rel
	cumul, rfe, owExt                 *rel // for the RCU axiom's extended space
}

func (lkmmModel) rels(g *graph) *lkRels {
	r := &lkRels{}
	rmwSet := g.rmwEvents()
	// Fences.
	r4rmb := newSet(g.n)
	g.reads.each(func(i int) {
		if !g.noreturn.has(i) {
			r4rmb.add(i)
		}
	})
	rmb := g.fencerel(FenceRmb).restrict(r4rmb, r4rmb)
	r.wmb = g.fencerel(FenceWmb).restrict(g.writes, g.writes)
	mb := union(g.fencerel(FenceMb),
		seq(g.fencerel(FenceBeforeAtomic).restrict(nil, rmwSet), opt(g.po)),
		seq(opt(g.po).restrict(nil, rmwSet), g.fencerel(FenceAfterAtomic)))
	// smp_mb__after_spinlock: everything up to the lock write before
	// everything after the fence; smp_mb__after_unlock_lock: everything
	// before an unlock before everything after the fence that follows a
	// later lock write (in program order or coherence).
	lkwSet := g.lkw
	mb.or(seq(opt(g.po).restrict(nil, lkwSet), g.fencerel(FenceAfterSpinlock).restrict(lkwSet, nil)))
	ulLkw := union(g.co, g.po).restrict(g.ul, lkwSet)
	mb.or(seq(seq(g.po.restrict(nil, g.ul), ulLkw), g.fencerel(FenceAfterUnlockLock).restrict(lkwSet, nil)))
	// smp_mb__after_srcu_read_unlock: everything up to a srcu_read_unlock
	// before everything after the fence.
	mb.or(seq(opt(g.po).restrict(nil, g.su), g.fencerel(FenceAfterSrcuUnlock).restrict(g.su, nil)))
	// A grace period, RCU or SRCU, is a strong fence as well (gp).
	mb.or(g.fencerel(FenceSyncRcu, FenceSyncSrcu))
	r.strong = mb
	// A failed trylock's read (LF) is not an acquire in the LKMM.
	acq := newSet(g.n)
	g.acq.each(func(i int) {
		if !g.lf.has(i) {
			acq.add(i)
		}
	})
	acqPo := g.po.restrict(acq, nil)
	r.poRel = g.po.restrict(nil, g.relse)
	fence := union(r.strong, r.poRel, acqPo, r.wmb, rmb)
	// Preserved program order.
	dep := union(g.addr, g.data)
	rfi := and(g.rfR, g.intl)
	rfe := and(g.rfR, g.ext)
	overwrite := union(g.co, g.fr)
	toW := union(union(dep, g.ctrl).restrict(nil, g.writes), and(overwrite, g.intl))
	toR := union(g.addr.restrict(nil, g.reads), seq(dep, rfi))
	// po ; [UL] ; (po | rf) ; [LKR] ; po
	pulp := seq(seq(g.po.restrict(nil, g.ul), union(g.po, g.rfR).restrict(g.ul, g.lkr)), g.po.restrict(g.lkr, nil))
	r.ppo = union(toR, toW, fence, and(pulp, g.intl))
	// Propagation.
	r.cumul = union(seq(opt(rfe), union(r.strong, r.poRel)), r.wmb, pulp)
	r.rfe, r.owExt = rfe, and(overwrite, g.ext)
	r.prop = seq(seq(opt(r.owExt), star(r.cumul)), opt(rfe))
	propNoID := r.prop.clone()
	for i := 0; i < g.n; i++ {
		propNoID.b[i*propNoID.w+i/64] &^= 1 << (uint(i) % 64)
	}
	r.hb = union(r.ppo, rfe, and(propNoID, g.intl))
	return r
}

func (m lkmmModel) Check(g *graph) string {
	if !g.coherenceOK() {
		return "coherence"
	}
	if !g.atomicityOK() {
		return "atomic"
	}
	r := m.rels(g)
	if !acyclic(r.hb) {
		return "happens-before"
	}
	pb := seq(seq(r.prop, r.strong), star(r.hb))
	if !acyclic(pb) {
		return "propagation"
	}
	if !rcuOK(g, r) {
		return "rcu"
	}
	return ""
}

func (m lkmmModel) Preserved(g *graph) *rel { return m.rels(g).ppo }

// graces: the LKMM expresses RCU grace periods.
func (lkmmModel) graces() {}
