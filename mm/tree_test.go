package mm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// The VMA index (tree.go) against a sorted slice of non-overlapping ranges.

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// intSource supplies the random choices of a run: rapid draws (which rapid
// can shrink) or a seeded PRNG (for runs of thousands of operations).
type intSource interface {
	intn(n int, label string) int
}

type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(s.t, label) }

type randSource struct{ r *rand.Rand }

func (s randSource) intn(n int, _ string) int { return s.r.IntN(n) }

// treeModel is a tree version and the sorted slice it must equal.
type treeModel struct {
	t     *tree
	ref   []entry
	pages uint64 // ranges lie in [0, pages*PageSize)
}

func newTreeModel(pages uint64) *treeModel { return &treeModel{t: &tree{}, pages: pages} }

// refFloor is the index of the last entry with start <= addr, or -1.
func (m *treeModel) refFloor(addr uint64) int {
	return sort.Search(len(m.ref), func(i int) bool { return m.ref[i].start > addr }) - 1
}

// refGE is the index of the first entry with start >= addr (len if none).
func (m *treeModel) refGE(addr uint64) int {
	return sort.Search(len(m.ref), func(i int) bool { return m.ref[i].start >= addr })
}

// freeAfter is how many pages are free from page p upwards (0 if p is mapped).
func (m *treeModel) freeAfter(p uint64) uint64 {
	addr := p * PageSize
	if i := m.refFloor(addr); i >= 0 && m.ref[i].end > addr {
		return 0
	}
	limit := m.pages * PageSize
	if j := m.refGE(addr); j < len(m.ref) {
		limit = m.ref[j].start
	}
	return (limit - addr) / PageSize
}

// insert adds a random range at a random free page; false if the page drawn
// was mapped.
func (m *treeModel) insert(src intSource) bool {
	p := uint64(src.intn(int(m.pages), "page"))
	free := m.freeAfter(p)
	if free == 0 {
		return false
	}
	n := 1 + uint64(src.intn(int(min(free, 8)), "len"))
	e := entry{p * PageSize, (p + n) * PageSize, new(VMA)}
	m.t = m.t.insert(e)
	i := m.refGE(e.start)
	m.ref = slices.Insert(m.ref, i, e)
	return true
}

// remove drops a random entry, or asks to remove a start that is none.
func (m *treeModel) remove(tb fataler, src intSource) {
	if len(m.ref) == 0 || src.intn(8, "missing") == 0 {
		addr := uint64(src.intn(int(m.pages), "page"))*PageSize + PageSize/2 // never a start
		old := m.t
		m.t = m.t.remove(addr)
		if m.t.size != old.size {
			tb.Fatalf("removing the missing start %#x changed the size", addr)
		}
		return
	}
	i := src.intn(len(m.ref), "index")
	m.t = m.t.remove(m.ref[i].start)
	m.ref = slices.Delete(m.ref, i, i+1)
}

// replace moves a random entry to a random range inside the free space
// around it, as setRange does when a VMA is resized.
func (m *treeModel) replace(src intSource) {
	if len(m.ref) == 0 {
		return
	}
	i := src.intn(len(m.ref), "index")
	lo, hi := uint64(0), m.pages
	if i > 0 {
		lo = m.ref[i-1].end / PageSize
	}
	if i+1 < len(m.ref) {
		hi = m.ref[i+1].start / PageSize
	}
	s := lo + uint64(src.intn(int(hi-lo), "start"))
	e := s + 1 + uint64(src.intn(int(hi-s), "end"))
	old := m.ref[i]
	ne := entry{s * PageSize, e * PageSize, old.vma}
	m.t = m.t.replace(old.start, ne)
	m.ref[i] = ne
}

// probe returns an address worth looking up: an entry boundary, just
// around one, or anywhere.
func (m *treeModel) probe(src intSource) uint64 {
	if len(m.ref) > 0 && src.intn(2, "near") == 0 {
		e := m.ref[src.intn(len(m.ref), "index")]
		switch src.intn(5, "where") {
		case 0:
			return e.start
		case 1:
			return e.end - 1
		case 2:
			return e.end
		case 3:
			return e.start - 1
		default:
			return e.start + uint64(src.intn(int(e.end-e.start), "off"))
		}
	}
	switch src.intn(16, "far") {
	case 0:
		return 0
	case 1:
		return ^uint64(0)
	}
	return uint64(src.intn(int(m.pages*PageSize), "addr"))
}

// checkPoint compares lookup, findVMA and cursor walks at addr.
func (m *treeModel) checkPoint(tb fataler, src intSource, addr uint64) {
	tb.Helper()
	i := m.refFloor(addr)
	want, wantOK := entry{}, i >= 0 && addr < m.ref[i].end
	if wantOK {
		want = m.ref[i]
	}
	if got, ok := m.t.lookup(addr); ok != wantOK || got != want {
		tb.Fatalf("lookup(%#x) = [%#x, %#x) %v, want [%#x, %#x) %v", addr, got.start, got.end, ok, want.start, want.end, wantOK)
	}
	j := sort.Search(len(m.ref), func(k int) bool { return m.ref[k].end > addr })
	want, wantOK = entry{}, j < len(m.ref)
	if wantOK {
		want = m.ref[j]
	}
	if got, ok := m.t.findVMA(addr); ok != wantOK || got != want {
		tb.Fatalf("findVMA(%#x) = [%#x, %#x) %v, want [%#x, %#x) %v", addr, got.start, got.end, ok, want.start, want.end, wantOK)
	}

	steps := src.intn(40, "steps")
	var c cursor
	if ok := c.seekFloor(m.t, addr); ok != (i >= 0) {
		tb.Fatalf("seekFloor(%#x) = %v, want %v", addr, ok, i >= 0)
	} else if ok {
		m.walk(tb, &c, i, steps, src.intn(2, "dir") == 0, "seekFloor", addr)
	}
	k := m.refGE(addr)
	if ok := c.seekGE(m.t, addr); ok != (k < len(m.ref)) {
		tb.Fatalf("seekGE(%#x) = %v, want %v", addr, ok, k < len(m.ref))
	} else if ok {
		m.walk(tb, &c, k, steps, src.intn(2, "dir") == 0, "seekGE", addr)
	}
}

// walk steps the cursor, positioned at ref[i], up to steps times forwards
// or backwards, checking each entry and the end of the walk.
func (m *treeModel) walk(tb fataler, c *cursor, i, steps int, forward bool, how string, addr uint64) {
	tb.Helper()
	for s := 0; ; s++ {
		if got := c.entry(); got != m.ref[i] {
			tb.Fatalf("%s(%#x) then %d steps (forward %v): [%#x, %#x), want [%#x, %#x)",
				how, addr, s, forward, got.start, got.end, m.ref[i].start, m.ref[i].end)
		}
		if s == steps {
			return
		}
		var ok bool
		if forward {
			ok, i = c.next(), i+1
		} else {
			ok, i = c.prev(), i-1
		}
		if ok != (i >= 0 && i < len(m.ref)) {
			tb.Fatalf("%s(%#x) then %d steps (forward %v): moved = %v at index %d of %d", how, addr, s+1, forward, ok, i, len(m.ref))
		}
		if !ok {
			return
		}
	}
}

// checkAll compares the whole version, in both directions, and its shape.
func (m *treeModel) checkAll(tb fataler) {
	tb.Helper()
	checkVersion(tb, m.t, m.ref)
}

func checkVersion(tb fataler, t *tree, ref []entry) {
	tb.Helper()
	if err := checkTreeShape(t); err != nil {
		tb.Fatalf("tree shape: %v", err)
	}
	if t.size != len(ref) {
		tb.Fatalf("size %d, want %d", t.size, len(ref))
	}
	if fw := treeForward(t); !slices.Equal(fw, ref) {
		tb.Fatalf("forward walk differs: %d entries, want %d", len(fw), len(ref))
	}
	bw := treeBackward(t)
	slices.Reverse(bw)
	if !slices.Equal(bw, ref) {
		tb.Fatalf("backward walk differs: %d entries, want %d", len(bw), len(ref))
	}
	for _, e := range ref {
		if got, ok := t.lookup(e.end - 1); !ok || got != e {
			tb.Fatalf("lookup(%#x) misses [%#x, %#x)", e.end-1, e.start, e.end)
		}
	}
}

// TestTreeStateMachine drives insert, remove and replace against the
// reference, checking lookups and cursor walks after every step. The tree
// starts with a drawn number of entries so that the walks cross leaves and
// inner nodes.
func TestTreeStateMachine(t *testing.T) {
	rapidCheck(t, func(rt *rapid.T) {
		src := rapidSource{rt}
		m := newTreeModel(uint64(rapid.SampledFrom([]int{64, 4096, 1 << 16}).Draw(rt, "pages")))
		pre := randSource{rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1))}
		for n := rapid.IntRange(0, 2000).Draw(rt, "prefill"); n > 0 && len(m.ref) < int(m.pages)/3; n-- {
			m.insert(pre)
		}
		m.checkAll(rt)
		rt.Repeat(map[string]func(*rapid.T){
			"insert":  func(rt *rapid.T) { m.insert(src) },
			"remove":  func(rt *rapid.T) { m.remove(rt, src) },
			"replace": func(rt *rapid.T) { m.replace(src) },
			"": func(rt *rapid.T) {
				for range 3 {
					m.checkPoint(rt, src, m.probe(src))
				}
			},
		})
		m.checkAll(rt)
	})
}

// TestTreeRandomOps runs thousands of random operations per case (from a
// drawn seed; rapid shrinks the count), keeping snapshots of old versions
// and checking at the end that every one of them is unchanged.
func TestTreeRandomOps(t *testing.T) {
	checks := 0
	rapidCheck(t, func(rt *rapid.T) {
		checks++
		minOps, maxOps := 1000, 4000 // a few long cases, then many short ones
		if testing.Short() || checks > 10 {
			minOps, maxOps = 1, 300
		}
		ops := rapid.IntRange(minOps, maxOps).Draw(rt, "ops")
		src := randSource{rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 2))}
		m := newTreeModel(uint64(rapid.SampledFrom([]int{256, 8192}).Draw(rt, "pages")))
		type version struct {
			t   *tree
			ref []entry
		}
		var versions []version
		for i := range ops {
			switch r := src.intn(10, "op"); {
			case r < 5:
				m.insert(src)
			case r < 8:
				m.remove(rt, src)
			default:
				m.replace(src)
			}
			m.checkPoint(rt, src, m.probe(src))
			if i%97 == 0 {
				m.checkAll(rt)
				versions = append(versions, version{m.t, slices.Clone(m.ref)})
			}
		}
		m.checkAll(rt)
		for _, v := range versions {
			checkVersion(rt, v.t, v.ref)
		}
	})
}

// TestTreePersistence derives versions by every kind of change and checks
// that each earlier version still reads exactly as it did, node for node.
func TestTreePersistence(t *testing.T) {
	m := newTreeModel(1 << 16)
	src := randSource{rand.New(rand.NewPCG(7, 7))}
	for len(m.ref) < 3000 {
		m.insert(src)
	}
	base := m.t
	baseRef := slices.Clone(m.ref)
	baseFwd := treeForward(base)

	type version struct {
		t   *tree
		ref []entry
	}
	var versions []version
	for i := range 1200 {
		switch i % 3 {
		case 0:
			m.insert(src)
		case 1:
			m.remove(t, src)
		default:
			m.replace(src)
		}
		versions = append(versions, version{m.t, slices.Clone(m.ref)})
	}
	// Empty it entirely, then refill: the oldest versions must not notice.
	for len(m.ref) > 0 {
		m.t = m.t.remove(m.ref[0].start)
		m.ref = m.ref[1:]
	}
	if m.t.root != nil || m.t.size != 0 {
		t.Fatalf("removing everything left size %d", m.t.size)
	}
	for range 500 {
		m.insert(src)
	}
	checkVersion(t, base, baseRef)
	if !slices.Equal(treeForward(base), baseFwd) {
		t.Fatal("the first version changed")
	}
	for i, v := range versions {
		if i%50 == 0 || i == len(versions)-1 {
			checkVersion(t, v.t, v.ref)
		}
	}
	m.checkAll(t)
}

// TestTreeDeep fills a tree far enough for four levels, checks it, and
// empties it in random order.
func TestTreeDeep(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 20000
	}
	r := rand.New(rand.NewPCG(3, 4))
	starts := r.Perm(n)
	tr := &tree{}
	for _, s := range starts {
		a := uint64(s) * 2 * PageSize
		tr = tr.insert(entry{a, a + PageSize, nil})
	}
	if err := checkTreeShape(tr); err != nil {
		t.Fatal(err)
	}
	height := 0
	for nd := tr.root; nd != nil; height++ {
		if nd.leaf() {
			nd = nil
		} else {
			nd = nd.children[0]
		}
	}
	if height < 4 {
		t.Fatalf("height %d, want at least 4 for %d entries", height, n)
	}
	fw := treeForward(tr)
	if len(fw) != n {
		t.Fatalf("%d entries, want %d", len(fw), n)
	}
	for i, e := range fw {
		if e.start != uint64(i)*2*PageSize {
			t.Fatalf("entry %d starts at %#x", i, e.start)
		}
	}
	for i, s := range r.Perm(n) {
		a := uint64(s) * 2 * PageSize
		if _, ok := tr.lookup(a); !ok {
			t.Fatalf("lookup(%#x) missed before its removal", a)
		}
		tr = tr.remove(a)
		if _, ok := tr.lookup(a); ok {
			t.Fatalf("lookup(%#x) found a removed entry", a)
		}
		if i%5000 == 0 {
			if err := checkTreeShape(tr); err != nil {
				t.Fatalf("after %d removals: %v", i+1, err)
			}
		}
	}
	if tr.root != nil || tr.size != 0 {
		t.Fatalf("emptied tree has size %d", tr.size)
	}
}

// buildTree makes a tree of n one-page entries with one-page gaps.
func buildTree(n int) (*tree, []uint64) {
	tr := &tree{}
	addrs := make([]uint64, 0, 2*n)
	for i := range n {
		a := uint64(0x10000) + uint64(i)*2*PageSize
		tr = tr.insert(entry{a, a + PageSize, nil})
		addrs = append(addrs, a+123, a+PageSize+5) // a hit and a miss
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	return tr, addrs
}

// TestTreeLookupAllocs: the lockless readers' walks allocate nothing.
func TestTreeLookupAllocs(t *testing.T) {
	tr, addrs := buildTree(5000)
	as := New(Config{})
	as.index.Store(tr)
	i := 0
	var sink bool
	allocs := testing.AllocsPerRun(1000, func() {
		a := addrs[i%len(addrs)]
		i++
		_, ok1 := tr.lookup(a)
		_, ok2 := tr.findVMA(a)
		var c cursor
		ok3 := c.seekFloor(tr, a) && c.next() && c.prev()
		ok4 := as.findRCU(a) != nil
		sink = sink != (ok1 && ok2 && ok3 && ok4)
	})
	if allocs != 0 {
		t.Fatalf("lookup, findVMA, cursor and findRCU allocate %v times per call", allocs)
	}
	_ = sink
}

func BenchmarkTreeLookup(b *testing.B) {
	for _, n := range []int{16, 1000, 100000} {
		tr, addrs := buildTree(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			i, hits := 0, 0
			for b.Loop() {
				if _, ok := tr.lookup(addrs[i]); ok {
					hits++
				}
				if i++; i == len(addrs) {
					i = 0
				}
			}
			if i > 1 && hits == 0 {
				b.Fatal("no lookup hit")
			}
		})
	}
}
