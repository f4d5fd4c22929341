package litmus

// A candidate execution: the events the processes performed, which write
// each read reads from (rf) and the coherence order of the writes to each
// location (co). The models (model_*.go) decide which candidates are
// allowed, from the relations graph derives here.

// Event is one memory access. Init writes (Proc -1) come first, one per
// location.
type Event struct {
	ID    int
	Proc  int // -1 for an initial write
	Po    int // index among its process's accesses
	Write bool
	Loc   int
	Val   int64
	Ann   Ann
	RMW   int // the other half of a read-modify-write, or -1
	Addr  set // reads this access's address depends on
	Data  set // reads this write's value depends on
	Ctrl  set // reads a conditional before this access depends on
	Ins   *Instr
}

func (e *Event) isInit() bool { return e.Proc < 0 }

// fenceEv is a barrier in a process: it sits before the process's access
// number pos.
type fenceEv struct {
	proc, pos int
	kind      FenceKind
	ins       *Instr
	loc       int // synchronize_srcu: its srcu_struct
}

// graph is one candidate execution and the relations derived from it. In a
// partial candidate some reads have no rf yet (rf -1) and co holds only the
// edges every completion has; every relation then holds a subset of its
// final edges, so a cycle found early is a cycle in every completion.
type graph struct {
	ev     []Event
	fences []fenceEv
	rf     []int // per event: the write a read reads from, or -1
	co     *rel

	n                    int
	ar                   *arena
	po, loc, intl, ext   *rel
	rfR, fr, rmw         *rel
	addr, data, ctrl     *rel
	reads, writes        set
	acq, relse, noreturn set
	lkr, lkw, ul, lf     set // lock events: lock read and write, unlock, failed trylock read
	sl, su               set // srcu_read_lock reads, srcu_read_unlock writes
}

// newGraph derives the base relations. coOrder gives each location's
// writes in coherence order; nil means "partial": init before all, and
// same-process writes in program order.
func newGraph(ar *arena, ev []Event, fences []fenceEv, rf []int, coOrder [][]int) *graph {
	n := len(ev)
	g := &graph{ev: ev, fences: fences, rf: rf, n: n, ar: ar}
	if ar != nil {
		ar.reset()
	}
	nr := func() *rel { return newRelIn(ar, n) }
	g.po, g.loc, g.intl, g.ext = nr(), nr(), nr(), nr()
	g.rfR, g.rmw, g.co = nr(), nr(), nr()
	g.addr, g.data, g.ctrl = nr(), nr(), nr()
	g.reads, g.writes = newSet(n), newSet(n)
	g.acq, g.relse, g.noreturn = newSet(n), newSet(n), newSet(n)
	g.lkr, g.lkw, g.ul, g.lf = newSet(n), newSet(n), newSet(n), newSet(n)
	g.sl, g.su = newSet(n), newSet(n)
	for i := range ev {
		a := &ev[i]
		if a.Ins != nil {
			switch a.Ins.srcu {
			case srcuLock:
				g.sl.add(i)
			case srcuUnlock:
				g.su.add(i)
			}
			switch k := a.Ins.lock; {
			case k == lkUnlock:
				g.ul.add(i)
			case k == lkNone, k == lkIsLocked:
			case a.Write:
				g.lkw.add(i)
			case a.RMW >= 0:
				g.lkr.add(i)
			default:
				g.lf.add(i)
			}
		}
		if a.Write {
			g.writes.add(i)
		} else {
			g.reads.add(i)
		}
		switch a.Ann {
		case AnnAcquire:
			g.acq.add(i)
		case AnnRelease:
			g.relse.add(i)
		case AnnNoreturn:
			g.noreturn.add(i)
		}
		if a.RMW >= 0 && !a.Write {
			g.rmw.add(i, a.RMW)
		}
		if !a.Write && rf[i] >= 0 {
			g.rfR.add(rf[i], i)
		}
		for _, d := range []struct {
			s set
			r *rel
		}{{a.Addr, g.addr}, {a.Data, g.data}, {a.Ctrl, g.ctrl}} {
			d.s.each(func(j int) {
				if j < n {
					d.r.add(j, i)
				}
			})
		}
	}
	// Same-location, same-process and later-in-process sets, as masks:
	// the explorer generates each process's events contiguously and in
	// program order, so the events po-after i are the rest of its range.
	var locMask, procMask []set
	for i := range ev {
		a := &ev[i]
		for len(locMask) <= a.Loc {
			locMask = append(locMask, newSet(n))
		}
		locMask[a.Loc].add(i)
		if a.Proc >= 0 {
			for len(procMask) <= a.Proc {
				procMask = append(procMask, newSet(n))
			}
			procMask[a.Proc].add(i)
		}
	}
	all := newSet(n)
	for i := 0; i < n; i++ {
		all.add(i)
	}
	for i := range ev {
		a := &ev[i]
		lr, ir, er, pr := g.loc.row(i), g.intl.row(i), g.ext.row(i), g.po.row(i)
		copy(lr, locMask[a.Loc])
		if a.Proc >= 0 {
			copy(ir, procMask[a.Proc])
			for x := range er {
				er[x] = all[x] &^ ir[x]
			}
			copy(pr, ir)
			for x := 0; x <= i/64; x++ {
				if x < i/64 {
					pr[x] = 0
				} else {
					pr[x] &^= (uint64(1) << (uint(i)%64 + 1)) - 1
				}
			}
		} else {
			copy(er, all)
		}
		bit := uint64(1) << (uint(i) % 64)
		lr[i/64] &^= bit
		ir[i/64] &^= bit
		er[i/64] &^= bit
	}
	if coOrder != nil {
		for _, ws := range coOrder {
			for x := 0; x < len(ws); x++ {
				for y := x + 1; y < len(ws); y++ {
					g.co.add(ws[x], ws[y])
				}
			}
		}
	} else {
		for i := range ev {
			for j := range ev {
				a, b := &ev[i], &ev[j]
				if i != j && a.Write && b.Write && a.Loc == b.Loc &&
					(a.isInit() && !b.isInit() || a.Proc >= 0 && a.Proc == b.Proc && a.Po < b.Po) {
					g.co.add(i, j)
				}
			}
		}
	}
	g.fr = seq(inverse(g.rfR), g.co)
	// A read reading from a write co-before... fr is rf^-1;co; a read with
	// no rf yet has no fr edges.
	return g
}

// poloc is po ∩ loc.
func (g *graph) poloc() *rel { return and(g.po, g.loc) }

// com is rf ∪ co ∪ fr.
func (g *graph) com() *rel { return union(g.rfR, g.co, g.fr) }

// fencerel returns the pairs (i, j) of one process with a fence of a kind
// in kinds between them: po ; [F] ; po.
func (g *graph) fencerel(kinds ...FenceKind) *rel {
	out := newRelIn(g.ar, g.n)
	for _, f := range g.fences {
		match := false
		for _, k := range kinds {
			if f.kind == k {
				match = true
			}
		}
		if !match {
			continue
		}
		after := newSet(g.n)
		for j := range g.ev {
			if b := &g.ev[j]; b.Proc == f.proc && b.Po >= f.pos {
				after.add(j)
			}
		}
		for i := range g.ev {
			if a := &g.ev[i]; a.Proc == f.proc && a.Po < f.pos {
				row := out.row(i)
				for x := range row {
					row[x] |= after[x]
				}
			}
		}
	}
	return out
}

// atomicityOK checks that no write comes between the read and the write
// of a read-modify-write: empty rmw ∩ (fre ; coe).
func (g *graph) atomicityOK() bool {
	return and(g.rmw, seq(and(g.fr, g.ext), and(g.co, g.ext))).isEmpty()
}

// coherenceOK checks sequential consistency per location:
// acyclic po-loc ∪ com.
func (g *graph) coherenceOK() bool { return acyclic(union(g.poloc(), g.com())) }

// rmwEvents is the set of events in a read-modify-write.
func (g *graph) rmwEvents() set {
	s := newSet(g.n)
	for i := range g.ev {
		if g.ev[i].RMW >= 0 {
			s.add(i)
		}
	}
	return s
}
