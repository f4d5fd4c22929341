package litmus

// The LKMM's RCU axiom (linux-kernel.cat's "rcu" check): irreflexive rb.
//
// A grace period (synchronize_rcu) and the two ends of a read-side
// critical section (rcu_read_lock, rcu_read_unlock) are fence events in
// program order, not memory accesses. The cat's relations reach them: a
// grace period G is a strong fence gp = po ; [G] ; po?, so every event
// before G is gp-related to G itself, and prop is reflexive on every
// event, fence events included. So the relations below live over an
// extended event space: the candidate's accesses (0..n-1) followed by one
// node per RCU fence event (n..N-1), with program order, gp, happens-before
// (hb), propagation (prop, pb) extended to the nodes exactly as the cat
// defines them:
//
//	rcu-link  = po? ; hb* ; pb* ; prop ; po
//	rcu-order = the least relation holding every grace period and closed
//	            under the cat's recursive cases (below), each with at least
//	            as many grace periods as read-side critical sections
//	rcu-fence = po ; rcu-order ; po?
//	rb        = prop ; rcu-fence ; hb* ; pb*
//
// (the names of the current cat; earlier versions called rcu-order
// rcu-fence and wrote rb = prop ; po ; rcu-fence ; po? ; hb* ; pb*, the
// same relation). The cat also adds rcu-fence to its fence and strong
// ordering relations after hb and pb are defined; only its plain-access
// (data race) rules use those, and plain accesses are not supported.
//
// and rb must be irreflexive over every event, fence nodes included. A
// chain whose first or last event is a node itself — for instance
// synchronize_rcu() inside a read-side critical section with no access
// in between, where rb relates the section's rcu_read_lock() to itself —
// counts as it does in herd.
//
// SRCU's read-side critical sections are matched pairs of accesses to a
// srcu_struct (model_lkmm_srcu.go); its grace periods are nodes with that
// srcu_struct as their location. The cat pairs an SRCU grace period only
// with a critical section of the same srcu_struct ("& loc"), and RCU only
// with RCU.

// rcuNodeKind is what an RCU node is.
type rcuNodeKind uint8

const (
	rnGP      rcuNodeKind = iota // synchronize_rcu
	rnSGP                        // synchronize_srcu(s)
	rnLock                       // rcu_read_lock
	rnUnlock                     // rcu_read_unlock
	rnSLock                      // srcu_read_lock(s): an access
	rnSUnlock                    // srcu_read_unlock(s, idx): an access
)

// rcuNode is one node of the rcu-order relation: x is its index in the
// extended space (an access index for the SRCU lock and unlock), loc the
// srcu_struct of an SRCU node.
type rcuNode struct {
	x    int
	kind rcuNodeKind
	loc  int
}

// rcuSpace is the extended event space: accesses, then fence nodes.
type rcuSpace struct {
	g    *graph
	n, N int
	proc []int // per index; -1 for initial writes
	key  []int // program-order key inside the process
	po   *rel
}

func newRcuSpace(g *graph, fences []fenceEv) *rcuSpace {
	s := &rcuSpace{g: g, n: g.n, N: g.n + len(fences)}
	s.proc, s.key = make([]int, s.N), make([]int, s.N)
	for i := range g.ev {
		s.proc[i], s.key[i] = g.ev[i].Proc, 2*g.ev[i].Po+1
	}
	for i, f := range fences {
		s.proc[g.n+i], s.key[g.n+i] = f.proc, 2*f.pos
	}
	// Fence nodes at one position keep their order in the slice, which is
	// program order: ties are broken by index.
	s.po = s.rel()
	for a := 0; a < s.N; a++ {
		for b := 0; b < s.N; b++ {
			if a != b && s.proc[a] >= 0 && s.proc[a] == s.proc[b] &&
				(s.key[a] < s.key[b] || s.key[a] == s.key[b] && a < b) {
				s.po.add(a, b)
			}
		}
	}
	return s
}

func (s *rcuSpace) rel() *rel { return newRelIn(s.g.ar, s.N) }

// embed copies a relation over the accesses into the extended space.
func (s *rcuSpace) embed(r *rel) *rel {
	out := s.rel()
	for i := 0; i < s.n; i++ {
		copy(out.row(i)[:r.w], r.row(i))
	}
	return out
}

// rcuOK reports whether rb is irreflexive.
func rcuOK(g *graph, r *lkRels) bool {
	var fences []fenceEv
	var nodes []rcuNode
	hasGP := false
	for _, f := range g.fences {
		var k rcuNodeKind
		switch f.kind {
		case FenceSyncRcu:
			k = rnGP
		case FenceSyncSrcu:
			k = rnSGP
		case FenceRcuLock:
			k = rnLock
		case FenceRcuUnlock:
			k = rnUnlock
		default:
			continue
		}
		hasGP = hasGP || k == rnGP || k == rnSGP
		nodes = append(nodes, rcuNode{x: g.n + len(fences), kind: k, loc: f.loc})
		fences = append(fences, f)
	}
	if !hasGP {
		return true // every rcu-order pair holds a grace period
	}
	s := newRcuSpace(g, fences)
	sPairs := srcuRscs(g)
	for i := range g.ev {
		if k := g.ev[i].Ins; k != nil && k.srcu != srcuNone && k.srcu != srcuSync {
			kind := rnSLock
			if k.srcu == srcuUnlock {
				kind = rnSUnlock
			}
			nodes = append(nodes, rcuNode{x: i, kind: kind, loc: g.ev[i].Loc})
		}
	}
	k := len(nodes)
	idx := map[int]int{} // extended index -> node number
	for i, nd := range nodes {
		idx[nd.x] = i
	}

	// gp = po ; [Sync-rcu | Sync-srcu] ; po?, over the extended space.
	gp := s.rel()
	for _, nd := range nodes {
		if nd.kind != rnGP && nd.kind != rnSGP {
			continue
		}
		for a := 0; a < s.N; a++ {
			if !s.po.has(a, nd.x) {
				continue
			}
			row := gp.row(a)
			row[nd.x/64] |= 1 << (uint(nd.x) % 64)
			for w, v := range s.po.row(nd.x) {
				row[w] |= v
			}
		}
	}
	intl := s.rel()
	for a := 0; a < s.N; a++ {
		for b := 0; b < s.N; b++ {
			if a != b && s.proc[a] >= 0 && s.proc[a] == s.proc[b] {
				intl.add(a, b)
			}
		}
	}
	strong := s.embed(r.strong).or(gp)
	rfe := s.embed(r.rfe)
	cumul := s.embed(r.cumul).or(seq(opt(rfe), gp))
	prop := seq(seq(opt(s.embed(r.owExt)), star(cumul)), opt(rfe))
	propNoID := prop.clone()
	for i := 0; i < s.N; i++ {
		propNoID.b[i*propNoID.w+i/64] &^= 1 << (uint(i) % 64)
	}
	hb := s.embed(r.ppo).or(gp, rfe, and(propNoID, intl))
	pb := seq(seq(prop, strong), star(hb))
	hp := seq(star(hb), star(pb))
	optPo := opt(s.po)
	// rcu-link = po? ; hb* ; pb* ; prop ; po, between nodes.
	linkE := seq(seq(seq(optPo, hp), prop), s.po)

	mat := func() [][]bool {
		m := make([][]bool, k)
		for i := range m {
			m[i] = make([]bool, k)
		}
		return m
	}
	link, rgp, sgp, rrs, srs, sameLoc := mat(), mat(), mat(), mat(), mat(), mat()
	for i, a := range nodes {
		for j, b := range nodes {
			link[i][j] = linkE.has(a.x, b.x)
			srcuA := a.kind == rnSGP || a.kind == rnSLock || a.kind == rnSUnlock
			srcuB := b.kind == rnSGP || b.kind == rnSLock || b.kind == rnSUnlock
			sameLoc[i][j] = srcuA && srcuB && a.loc == b.loc
		}
		switch a.kind {
		case rnGP:
			rgp[i][i] = true
		case rnSGP:
			sgp[i][i] = true
		}
	}
	// rcu-rscsi: each rcu_read_unlock to its rcu_read_lock, innermost
	// first, per process (linux-kernel.bell's rcu-rscs, inverted).
	stack := map[int][]int{}
	for i, nd := range nodes {
		switch nd.kind {
		case rnLock:
			p := s.proc[nd.x]
			stack[p] = append(stack[p], i)
		case rnUnlock:
			p := s.proc[nd.x]
			if st := stack[p]; len(st) > 0 {
				rrs[i][st[len(st)-1]] = true
				stack[p] = st[:len(st)-1]
			}
		}
	}
	for _, pr := range sPairs {
		srs[idx[pr[1]]][idx[pr[0]]] = true
	}
	mul := func(a, b [][]bool) [][]bool {
		out := mat()
		for i := range a {
			for j := range a[i] {
				if !a[i][j] {
					continue
				}
				for l := range b[j] {
					if b[j][l] {
						out[i][l] = true
					}
				}
			}
		}
		return out
	}
	chain := func(ms ...[][]bool) [][]bool {
		out := ms[0]
		for _, m := range ms[1:] {
			out = mul(out, m)
		}
		return out
	}
	sameLocOnly := func(m [][]bool) [][]bool {
		for i := range m {
			for j := range m[i] {
				m[i][j] = m[i][j] && sameLoc[i][j]
			}
		}
		return m
	}
	// rcu-order: the least fixpoint of its recursive definition.
	fence := mat()
	for changed := true; changed; {
		changed = false
		for _, m := range [][][]bool{
			rgp, sgp,
			chain(rgp, link, rrs),
			sameLocOnly(chain(sgp, link, srs)),
			chain(rrs, link, rgp),
			sameLocOnly(chain(srs, link, sgp)),
			chain(rgp, link, fence, link, rrs),
			sameLocOnly(chain(sgp, link, fence, link, srs)),
			chain(rrs, link, fence, link, rgp),
			sameLocOnly(chain(srs, link, fence, link, sgp)),
			chain(fence, link, fence),
		} {
			for i := range m {
				for j := range m[i] {
					if m[i][j] && !fence[i][j] {
						fence[i][j] = true
						changed = true
					}
				}
			}
		}
	}
	// rb = prop ; po ; rcu-order ; po? ; hb* ; pb* is irreflexive: for
	// each rcu-order pair (X, Y), no event a with a prop;po X and
	// Y po?;hb*;pb* a.
	into := inverse(seq(prop, s.po)) // X -> every a with a prop;po X
	from := seq(optPo, hp)
	for i, a := range nodes {
		for j, b := range nodes {
			if fence[i][j] && intersects(into.row(a.x), from.row(b.x)) {
				return false
			}
		}
	}
	return true
}

func intersects(a, b set) bool {
	for i := range a {
		if i < len(b) && a[i]&b[i] != 0 {
			return true
		}
	}
	return false
}
