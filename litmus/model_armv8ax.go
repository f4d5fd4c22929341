package litmus

// armv8-ax is the multi-copy-atomic axiomatic ARMv8 model (Pulte et al.,
// POPL 2018; the Arm ARM's "external" axiom): acyclic(ob) with
// ob = obs | dob | aob | bob, plus internal (SC per location) and
// atomicity. The kernel primitives map as arm64 compiles them:
// READ_ONCE/WRITE_ONCE are LDR/STR, smp_load_acquire LDAR (A),
// smp_store_release STLR (L), smp_mb DMB ISH (full), smp_rmb DMB ISHLD,
// smp_wmb DMB ISHST, smp_mb__before/after_atomic DMB ISH, and a fully
// ordered RMW is a DMB on each side of the exclusive pair (stronger than
// the LL/SC sequence, never weaker). The operational armv8 model
// (model_armv8.go) must allow exactly the same executions: a test checks
// that on every calibration and protocol test.
type armv8AxModel struct{}

func init() { registerModel(armv8AxModel{}) }

func (armv8AxModel) Name() string { return "armv8-ax" }

func (armv8AxModel) Describe() string {
	return "ARMv8, axiomatic (multi-copy atomic): acyclic(obs | dob | aob | bob)"
}

func (armv8AxModel) Preserved(g *graph) *rel {
	coi := and(g.co, g.intl)
	rfi := and(g.rfR, g.intl)
	poW := g.po.restrict(nil, g.writes)
	// dob: dependency-ordered-before.
	// The write of an add-type RMW is computed from its read (LDXR; ADD;
	// STXR): a data dependency. An exchange or cmpxchg writes its operand.
	rmwData := g.rmw.filter(func(r, _ int) bool { return g.ev[r].Ins.rmw == rmwAdd })
	dob := union(g.addr, g.data, g.ctrl.restrict(nil, g.writes), seq(g.addr, poW),
		seq(union(g.ctrl, g.data, rmwData), coi), seq(union(g.addr, g.data, rmwData), rfi))
	// aob: atomic-ordered-before.
	rangeRMW := newSet(g.n)
	g.rmw.each(func(_, w int) { rangeRMW.add(w) })
	aob := union(g.rmw, rfi.restrict(rangeRMW, g.acq))
	// bob: barrier-ordered-before.
	bob := union(
		g.fencerel(FenceMb, FenceBeforeAtomic, FenceAfterAtomic, FenceAfterSpinlock),
		g.fencerel(FenceRmb).restrict(g.reads, nil),
		g.fencerel(FenceWmb).restrict(g.writes, g.writes),
		g.po.restrict(g.relse, g.acq),
		g.po.restrict(g.acq, nil),
		g.po.restrict(nil, g.relse),
		seq(g.po.restrict(nil, g.relse), coi),
	)
	return union(dob, aob, bob)
}

func (m armv8AxModel) Check(g *graph) string {
	if !acyclic(union(g.poloc(), g.co, g.fr, g.rfR)) {
		return "internal"
	}
	if !g.atomicityOK() {
		return "atomic"
	}
	obs := union(and(g.rfR, g.ext), and(g.co, g.ext), and(g.fr, g.ext))
	if !acyclic(union(obs, m.Preserved(g))) {
		return "external"
	}
	return ""
}
