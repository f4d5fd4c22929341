package litmus

// tso is x86-TSO (Owens, Sarkar, Sewell): every access is ordered with the
// later ones except a store with a later load (the store buffer), unless an
// mfence or a locked instruction sits between. The kernel primitives map
// as on x86: READ_ONCE/WRITE_ONCE, acquire and release are plain moves;
// smp_rmb and smp_wmb are compiler barriers only; smp_mb is a full fence;
// every RMW is a locked instruction (a full fence), even the _relaxed ones
// and a cmpxchg that fails.
type tsoModel struct{}

func init() { registerModel(tsoModel{}) }

func (tsoModel) Name() string { return "tso" }

func (tsoModel) Describe() string {
	return "x86-TSO: po minus store->load, plus mfence and locked RMWs; rfe | co | fr"
}

func (m tsoModel) Preserved(g *graph) *rel {
	ppo := g.po.filter(func(i, j int) bool { return !(g.ev[i].Write && !g.ev[j].Write) })
	// Every RMW is a locked instruction, a failed cmpxchg included
	// (LOCK CMPXCHG locks whether or not it stores).
	locked := newSet(g.n)
	for i := range g.ev {
		if in := g.ev[i].Ins; in != nil && in.op == opRMW {
			locked.add(i)
		}
	}
	// A locked instruction orders everything before it with everything
	// after it, and itself with both sides.
	ppo.or(g.po.restrict(locked, nil), g.po.restrict(nil, locked))
	ppo.or(seq(g.po.restrict(nil, locked), g.po))
	ppo.or(g.fencerel(FenceMb, FenceBeforeAtomic, FenceAfterAtomic, FenceAfterSpinlock))
	return ppo
}

func (m tsoModel) Check(g *graph) string {
	if !g.coherenceOK() {
		return "uniproc"
	}
	if !g.atomicityOK() {
		return "atomic"
	}
	rfe := and(g.rfR, g.ext)
	if !acyclic(union(m.Preserved(g), rfe, g.co, g.fr)) {
		return "tso"
	}
	return ""
}
