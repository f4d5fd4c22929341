package litmus

import "math/bits"

// Relations over the events of one candidate execution, as bit matrices:
// row i holds the set of j with i -> j. n is small (tens to a few hundred
// events), so the cubic closures cost microseconds.

// set is a bitset of event IDs.
type set []uint64

func newSet(n int) set { return make(set, (n+63)/64) }

func (s set) has(i int) bool { return i/64 < len(s) && s[i/64]&(1<<(uint(i)%64)) != 0 }

func (s set) add(i int) { s[i/64] |= 1 << (uint(i) % 64) }

// union returns s ∪ t as a new set, sized for the larger.
func (s set) union(t set) set {
	if len(t) > len(s) {
		s, t = t, s
	}
	out := append(set(nil), s...)
	for i, w := range t {
		out[i] |= w
	}
	return out
}

func (s set) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// each calls f for every member in increasing order.
func (s set) each(f func(int)) {
	for wi, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			f(wi*64 + b)
			w &= w - 1
		}
	}
}

type rel struct {
	n, w int
	b    []uint64
	ar   *arena
}

// arena hands out zeroed bit matrices from one reused buffer: a check
// builds dozens of relations and drops them all, so the explorer resets
// the arena for each candidate instead of leaving them to the collector.
type arena struct {
	buf  []uint64
	off  int
	rels []rel
	nrel int
}

func (a *arena) reset() { a.off, a.nrel = 0, 0 }

func (a *arena) words(k int) []uint64 {
	if a.off+k > len(a.buf) {
		a.buf = make([]uint64, max(2*len(a.buf), 64*k))
		a.off = 0
	}
	b := a.buf[a.off : a.off+k : a.off+k]
	a.off += k
	clear(b)
	return b
}

func newRelIn(a *arena, n int) *rel {
	w := (n + 63) / 64
	if a == nil {
		return &rel{n: n, w: w, b: make([]uint64, n*w)}
	}
	if a.nrel == len(a.rels) {
		a.rels = make([]rel, max(64, 2*len(a.rels)))
		a.nrel = 0
	}
	r := &a.rels[a.nrel]
	a.nrel++
	*r = rel{n: n, w: w, b: a.words(n * w), ar: a}
	return r
}

func newRel(n int) *rel { return newRelIn(nil, n) }

// like returns an empty relation over r's events, from r's arena.
func (r *rel) like() *rel { return newRelIn(r.ar, r.n) }

func (r *rel) row(i int) []uint64 { return r.b[i*r.w : (i+1)*r.w] }

func (r *rel) add(i, j int) { r.b[i*r.w+j/64] |= 1 << (uint(j) % 64) }

func (r *rel) has(i, j int) bool { return r.b[i*r.w+j/64]&(1<<(uint(j)%64)) != 0 }

func (r *rel) clone() *rel {
	out := r.like()
	copy(out.b, r.b)
	return out
}

// or adds every edge of each argument to r and returns r.
func (r *rel) or(rs ...*rel) *rel {
	for _, s := range rs {
		for i := range r.b {
			r.b[i] |= s.b[i]
		}
	}
	return r
}

// union returns a new relation with the edges of all arguments.
func union(rs ...*rel) *rel { return rs[0].clone().or(rs[1:]...) }

// seq is relational composition r;s.
func seq(r, s *rel) *rel {
	out := r.like()
	w := r.w
	for i := 0; i < r.n; i++ {
		oi := out.b[i*w : i*w+w]
		for wi := 0; wi < w; wi++ {
			x := r.b[i*w+wi]
			for x != 0 {
				k := wi*64 + bits.TrailingZeros64(x)
				x &= x - 1
				sk := s.b[k*w : k*w+w]
				for y := range oi {
					oi[y] |= sk[y]
				}
			}
		}
	}
	return out
}

// plus is the transitive closure r+ (Warshall over bit rows).
func plus(r *rel) *rel {
	out := r.clone()
	w, b := out.w, out.b
	for k := 0; k < out.n; k++ {
		kw, kb := k/64, uint64(1)<<(uint(k)%64)
		rk := b[k*w : k*w+w]
		for i := 0; i < out.n; i++ {
			if b[i*w+kw]&kb != 0 {
				ri := b[i*w : i*w+w]
				for x := range ri {
					ri[x] |= rk[x]
				}
			}
		}
	}
	return out
}

// star is the reflexive-transitive closure r*.
func star(r *rel) *rel {
	out := plus(r)
	for i := 0; i < r.n; i++ {
		out.add(i, i)
	}
	return out
}

// opt is r? = r ∪ id.
func opt(r *rel) *rel {
	out := r.clone()
	for i := 0; i < r.n; i++ {
		out.add(i, i)
	}
	return out
}

// inverse is r^-1.
func inverse(r *rel) *rel {
	out := r.like()
	r.each(func(i, j int) { out.add(j, i) })
	return out
}

// each calls f for every edge.
func (r *rel) each(f func(i, j int)) {
	for i := 0; i < r.n; i++ {
		for wi, w := range r.row(i) {
			for w != 0 {
				f(i, wi*64+bits.TrailingZeros64(w))
				w &= w - 1
			}
		}
	}
}

// filter keeps the edges i->j with keep(i, j).
func (r *rel) filter(keep func(i, j int) bool) *rel {
	out := r.like()
	r.each(func(i, j int) {
		if keep(i, j) {
			out.add(i, j)
		}
	})
	return out
}

// restrict is [dom] ; r ; [ran]; a nil set means all events.
func (r *rel) restrict(dom, ran set) *rel {
	out := r.like()
	for i := 0; i < r.n; i++ {
		if dom != nil && !dom.has(i) {
			continue
		}
		ri, oi := r.row(i), out.row(i)
		for x := range ri {
			if ran == nil {
				oi[x] = ri[x]
			} else {
				oi[x] = ri[x] & ran[x]
			}
		}
	}
	return out
}

// and is r ∩ s.
func and(r, s *rel) *rel {
	out := r.clone()
	for i := range out.b {
		out.b[i] &= s.b[i]
	}
	return out
}

// minus is r \ s.
func minus(r, s *rel) *rel {
	out := r.clone()
	for i := range out.b {
		out.b[i] &^= s.b[i]
	}
	return out
}

func (r *rel) isEmpty() bool {
	for _, w := range r.b {
		if w != 0 {
			return false
		}
	}
	return true
}

// acyclic reports whether r has no cycle: it removes events with no
// edge to a remaining event until none is left (acyclic) or a pass
// removes nothing (a cycle). Scanning from the highest ID first removes a
// program-order chain in one pass.
func acyclic(r *rel) bool {
	w := r.w
	var small [4]uint64
	left := small[:0]
	if w > len(small) {
		left = make([]uint64, w)
	} else {
		left = small[:w]
	}
	for i := 0; i < r.n; i++ {
		left[i/64] |= 1 << (uint(i) % 64)
	}
	remaining := r.n
	for remaining > 0 {
		removed := false
		for i := r.n - 1; i >= 0; i-- {
			if left[i/64]&(1<<(uint(i)%64)) == 0 {
				continue
			}
			row := r.b[i*w : i*w+w]
			sink := true
			for x := range row {
				if row[x]&left[x] != 0 {
					sink = false
					break
				}
			}
			if sink {
				left[i/64] &^= 1 << (uint(i) % 64)
				remaining--
				removed = true
			}
		}
		if !removed {
			return false
		}
	}
	return true
}

// irreflexive reports whether r has no edge i->i.
func irreflexive(r *rel) bool {
	for i := 0; i < r.n; i++ {
		if r.has(i, i) {
			return false
		}
	}
	return true
}

// shortestCycle returns a cycle of r with the fewest edges, or nil
// (breadth-first search from every event).
func shortestCycle(r *rel) []int {
	var best []int
	parent := make([]int, r.n)
	for s := 0; s < r.n; s++ {
		for i := range parent {
			parent[i] = -1
		}
		queue := []int{s}
		found := -1
		for len(queue) > 0 && found < 0 {
			i := queue[0]
			queue = queue[1:]
			r.eachOut(i, func(j int) bool {
				if j == s {
					found = i
					return false
				}
				if parent[j] < 0 {
					parent[j] = i
					queue = append(queue, j)
				}
				return true
			})
		}
		if found < 0 {
			continue
		}
		cyc := []int{}
		for k := found; k != s; k = parent[k] {
			cyc = append(cyc, k)
		}
		cyc = append(cyc, s)
		for a, b := 0, len(cyc)-1; a < b; a, b = a+1, b-1 {
			cyc[a], cyc[b] = cyc[b], cyc[a]
		}
		if best == nil || len(cyc) < len(best) {
			best = cyc
		}
	}
	return best
}

// eachOut calls f for each successor of i until f returns false.
func (r *rel) eachOut(i int, f func(j int) bool) {
	for wi, w := range r.row(i) {
		for w != 0 {
			if !f(wi*64 + bits.TrailingZeros64(w)) {
				return
			}
			w &= w - 1
		}
	}
}
