package litmus

// The LKMM's RCU axiom (linux-kernel.cat's "rcu" check): irreflexive rb.
// A grace period (synchronize_rcu) and a read-side critical section
// (rcu_read_lock ... rcu_read_unlock) are fence-like nodes in program
// order. rcu-link joins two nodes when the first is before an event in
// program order, the second after an event, and the two events are
// connected by hb* ; pb* ; prop (or the nodes are simply in program
// order). A chain of nodes joined by rcu-link that holds at least as many
// grace periods as critical sections is an rcu-fence; rb is
// prop ; po ; rcu-fence ; po? ; hb* ; pb*, and no event may be rb-before
// itself. The nodes themselves are not events here, so chains that would
// start or end at a node rather than at an access are left out; the
// calibration tests with grace periods check what is covered.

type rcuNode struct {
	proc, pos int
	kind      FenceKind
}

// rcuOK reports whether rb is irreflexive.
func rcuOK(g *graph, r *lkRels, pb *rel) bool {
	var nodes []rcuNode
	hasGP := false
	for _, f := range g.fences {
		switch f.kind {
		case FenceSyncRcu:
			hasGP = true
			fallthrough
		case FenceRcuLock, FenceRcuUnlock:
			nodes = append(nodes, rcuNode{f.proc, f.pos, f.kind})
		}
	}
	if !hasGP {
		return true // every rcu-fence holds a grace period
	}
	k := len(nodes)
	newMat := func() [][]bool {
		m := make([][]bool, k)
		for i := range m {
			m[i] = make([]bool, k)
		}
		return m
	}
	// Matching read-side critical sections, innermost first: rscsi maps
	// an unlock to its lock.
	gp, rscsi := newMat(), newMat()
	stack := map[int][]int{}
	for i, nd := range nodes {
		switch nd.kind {
		case FenceSyncRcu:
			gp[i][i] = true
		case FenceRcuLock:
			stack[nd.proc] = append(stack[nd.proc], i)
		case FenceRcuUnlock:
			if s := stack[nd.proc]; len(s) > 0 {
				rscsi[i][s[len(s)-1]] = true
				stack[nd.proc] = s[:len(s)-1]
			}
		}
	}
	before, after := make([]set, k), make([]set, k)
	for i, nd := range nodes {
		before[i], after[i] = newSet(g.n), newSet(g.n)
		for e := range g.ev {
			if ev := &g.ev[e]; ev.Proc == nd.proc {
				if ev.Po < nd.pos {
					before[i].add(e)
				} else {
					after[i].add(e)
				}
			}
		}
	}
	hp := seq(star(r.hb), star(pb))
	lp := seq(hp, r.prop)
	link := newMat()
	for x := range nodes {
		reach := newSet(g.n)
		after[x].each(func(e int) {
			for w, v := range lp.row(e) {
				reach[w] |= v
			}
		})
		for y := range nodes {
			link[x][y] = nodes[x].proc == nodes[y].proc && x < y || intersects(reach, before[y])
		}
	}
	mul := func(a, b [][]bool) [][]bool {
		out := newMat()
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
	// rcu-fence: the least fixpoint of its recursive definition.
	fence := newMat()
	for changed := true; changed; {
		changed = false
		for _, m := range [][][]bool{
			gp,
			chain(gp, link, rscsi),
			chain(rscsi, link, gp),
			chain(gp, link, fence, link, rscsi),
			chain(rscsi, link, fence, link, gp),
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
	// rb = prop ; po ; rcu-fence ; po? ; hb* ; pb*: irreflexive.
	for a := 0; a < g.n; a++ {
		prow := r.prop.row(a)
		ends := newSet(g.n)
		for x := range nodes {
			if !intersects(prow, before[x]) {
				continue
			}
			for y := range nodes {
				if fence[x][y] {
					for w, v := range after[y] {
						ends[w] |= v
					}
				}
			}
		}
		hit := false
		ends.each(func(d int) {
			if hp.has(d, a) {
				hit = true
			}
		})
		if hit {
			return false
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
