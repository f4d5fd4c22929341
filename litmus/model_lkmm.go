package litmus

// lkmm is the Linux Kernel Memory Model's core (tools/memory-model,
// linux-kernel.cat) for marked accesses, fences and RMWs: the coherence,
// atomic, happens-before and propagation axioms. Locks, RCU and plain
// accesses are outside the supported subset (the parser rejects them), so
// their terms are empty here.
type lkmmModel struct{}

func init() { registerModel(lkmmModel{}) }

func (lkmmModel) Name() string { return "lkmm" }

func (lkmmModel) Describe() string {
	return "Linux kernel memory model: coherence, atomic, happens-before (hb), propagation (pb)"
}

// lkRels are the LKMM's derived relations for one candidate.
type lkRels struct {
	strong, poRel, wmb, ppo, prop, hb *rel
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
	r.strong = mb
	acqPo := g.po.restrict(g.acq, nil)
	r.poRel = g.po.restrict(nil, g.relse)
	fence := union(r.strong, r.poRel, acqPo, r.wmb, rmb)
	// Preserved program order.
	dep := union(g.addr, g.data)
	rfi := and(g.rfR, g.intl)
	rfe := and(g.rfR, g.ext)
	overwrite := union(g.co, g.fr)
	toW := union(union(dep, g.ctrl).restrict(nil, g.writes), and(overwrite, g.intl))
	toR := union(g.addr.restrict(nil, g.reads), seq(dep, rfi))
	r.ppo = union(toR, toW, fence)
	// Propagation.
	cumul := union(seq(opt(rfe), union(r.strong, r.poRel)), r.wmb)
	r.prop = seq(seq(opt(and(overwrite, g.ext)), star(cumul)), opt(rfe))
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
	return ""
}

func (m lkmmModel) Preserved(g *graph) *rel { return m.rels(g).ppo }
