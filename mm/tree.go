package mm

import (
	"iter"
	"slices"
)

// tree is the address space's VMA index: a persistent (copy-on-write)
// B+tree from each VMA's range to the VMA, the analogue of the maple tree in
// RCU mode. A tree value is immutable once published: the writer builds the
// next version by copying the nodes on the path it changes and publishes it
// with one atomic pointer store (AddressSpace.index). Lockless readers load
// the pointer and walk a version that nobody changes; Go's garbage collector
// is the grace period that keeps old versions alive for them.
//
// An entry caches the range the writer stored; the VMA it points at may since
// have been changed in place, detached, or reused for another mapping, which
// is why every lockless reader validates what it read (see doc.go).

const (
	maxLeaf   = 32 // entries per leaf
	maxInner  = 32 // children per inner node
	maxHeight = 12 // far above what 2^47 bytes of pages can need
)

type entry struct {
	start, end uint64
	vma        *VMA
}

type node struct {
	ents     []entry  // leaf: sorted by start
	keys     []uint64 // inner: keys[i] is the smallest start under children[i]
	children []*node
}

func (n *node) leaf() bool { return n.children == nil }

func (n *node) minKey() uint64 {
	if n.leaf() {
		return n.ents[0].start
	}
	return n.keys[0]
}

type tree struct {
	root *node // nil when empty
	size int
}

// floor returns the index of the last element of xs whose key is at most
// addr, or -1 when there is none: the binary search of leaves (keyed by
// entry start) and of inner nodes (keyed by their children's smallest
// start) alike. xs is sorted by key.
func floor[E any](xs []E, addr uint64, key func(*E) uint64) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if key(&xs[m]) <= addr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

func entryStart(e *entry) uint64 { return e.start }
func innerKey(k *uint64) uint64  { return *k }

// leafFloor and innerFloor are floor for a leaf's entries and an inner
// node's keys.
func leafFloor(ents []entry, addr uint64) int   { return floor(ents, addr, entryStart) }
func innerFloor(keys []uint64, addr uint64) int { return floor(keys, addr, innerKey) }

// lookup returns the entry whose range contains addr (vma_lookup).
func (t *tree) lookup(addr uint64) (entry, bool) {
	n := t.root
	if n == nil {
		return entry{}, false
	}
	for !n.leaf() {
		i := innerFloor(n.keys, addr)
		if i < 0 {
			return entry{}, false
		}
		n = n.children[i]
	}
	i := leafFloor(n.ents, addr)
	if i < 0 || addr >= n.ents[i].end {
		return entry{}, false
	}
	return n.ents[i], true
}

// cursor is a position in a tree version; it allocates nothing.
type cursor struct {
	t     *tree
	path  [maxHeight]*node
	idx   [maxHeight]int
	depth int // number of levels in path; the leaf is path[depth-1]
	ok    bool
}

func (c *cursor) entry() entry { return c.path[c.depth-1].ents[c.idx[c.depth-1]] }

// seekFloor positions c at the last entry with start <= addr.
func (c *cursor) seekFloor(t *tree, addr uint64) bool {
	c.t, c.depth, c.ok = t, 0, false
	n := t.root
	if n == nil {
		return false
	}
	for {
		c.path[c.depth] = n
		var i int
		if n.leaf() {
			i = leafFloor(n.ents, addr)
		} else {
			i = innerFloor(n.keys, addr)
		}
		if i < 0 {
			c.idx[c.depth] = 0
			c.depth++
			c.first(n)
			return false // positioned before the first entry; see seekGE
		}
		c.idx[c.depth] = i
		c.depth++
		if n.leaf() {
			c.ok = true
			return true
		}
		n = n.children[i]
	}
}

// first descends from the node at c.path[c.depth-1] to its first leaf entry.
func (c *cursor) first(n *node) {
	for !n.leaf() {
		n = n.children[0]
		c.path[c.depth] = n
		c.idx[c.depth] = 0
		c.depth++
	}
}

// seekGE positions c at the first entry with start >= addr.
func (c *cursor) seekGE(t *tree, addr uint64) bool {
	if c.seekFloor(t, addr) {
		if c.entry().start == addr {
			return true
		}
		return c.next()
	}
	if t.root == nil {
		return false
	}
	c.ok = true // seekFloor left c at the very first entry
	return true
}

// seekFirst positions c at the first entry.
func (c *cursor) seekFirst(t *tree) bool { return c.seekGE(t, 0) }

// next advances to the following entry.
func (c *cursor) next() bool {
	for d := c.depth - 1; d >= 0; d-- {
		n := c.path[d]
		cnt := len(n.ents)
		if !n.leaf() {
			cnt = len(n.children)
		}
		if c.idx[d]+1 < cnt {
			c.idx[d]++
			c.depth = d + 1
			if !n.leaf() {
				child := n.children[c.idx[d]]
				c.path[c.depth] = child
				c.idx[c.depth] = 0
				c.depth++
				c.first(child)
			}
			c.ok = true
			return true
		}
	}
	c.ok = false
	return false
}

// prev steps back to the preceding entry.
func (c *cursor) prev() bool {
	for d := c.depth - 1; d >= 0; d-- {
		if c.idx[d] > 0 {
			c.idx[d]--
			n := c.path[d]
			c.depth = d + 1
			for !n.leaf() {
				n = n.children[c.idx[c.depth-1]]
				c.path[c.depth] = n
				if n.leaf() {
					c.idx[c.depth] = len(n.ents) - 1
				} else {
					c.idx[c.depth] = len(n.children) - 1
				}
				c.depth++
			}
			c.ok = true
			return true
		}
	}
	c.ok = false
	return false
}

// from yields, in address order, the last entry that starts at or below
// addr (the one that may cover it) and every entry after it; when no entry
// starts at or below addr, every entry. It is the seek-then-step walk that
// range queries start with (vma_iter_init, then vma_next).
func (t *tree) from(addr uint64) iter.Seq[entry] {
	return func(yield func(entry) bool) {
		var c cursor
		ok := c.seekFloor(t, addr)
		if !ok {
			ok = c.seekFirst(t)
		}
		for ; ok && yield(c.entry()); ok = c.next() {
		}
	}
}

// all yields every entry in address order.
func (t *tree) all() iter.Seq[entry] { return t.from(0) }

// downFrom yields, last first, every entry that starts at or below addr
// (vma_prev from addr).
func (t *tree) downFrom(addr uint64) iter.Seq[entry] {
	return func(yield func(entry) bool) {
		var c cursor
		for ok := c.seekFloor(t, addr); ok && yield(c.entry()); ok = c.prev() {
		}
	}
}

// findVMA returns the first entry with end > addr (find_vma).
func (t *tree) findVMA(addr uint64) (entry, bool) {
	var c cursor
	if c.seekFloor(t, addr) {
		if e := c.entry(); e.end > addr {
			return e, true
		}
		if c.next() {
			return c.entry(), true
		}
		return entry{}, false
	}
	if t.root == nil {
		return entry{}, false
	}
	return c.entry(), true
}

// insert returns a new version with e added; no entry may start at e.start.
func (t *tree) insert(e entry) *tree {
	if t.root == nil {
		return &tree{root: &node{ents: []entry{e}}, size: 1}
	}
	left, right := insertNode(t.root, e)
	root := left
	if right != nil {
		root = &node{keys: []uint64{left.minKey(), right.minKey()}, children: []*node{left, right}}
	}
	return &tree{root: root, size: t.size + 1}
}

// insertNode returns the copy of n with e added, split in two if it overflowed.
func insertNode(n *node, e entry) (*node, *node) {
	if n.leaf() {
		i := leafFloor(n.ents, e.start) + 1
		ents := make([]entry, 0, len(n.ents)+1)
		ents = append(append(append(ents, n.ents[:i]...), e), n.ents[i:]...)
		if len(ents) <= maxLeaf {
			return &node{ents: ents}, nil
		}
		h := len(ents) / 2
		return &node{ents: ents[:h:h]}, &node{ents: ents[h:]}
	}
	i := innerFloor(n.keys, e.start)
	if i < 0 {
		i = 0
	}
	l, r := insertNode(n.children[i], e)
	keys := make([]uint64, 0, len(n.keys)+1)
	kids := make([]*node, 0, len(n.children)+1)
	keys = append(keys, n.keys[:i]...)
	kids = append(kids, n.children[:i]...)
	keys = append(keys, l.minKey())
	kids = append(kids, l)
	if r != nil {
		keys = append(keys, r.minKey())
		kids = append(kids, r)
	}
	keys = append(keys, n.keys[i+1:]...)
	kids = append(kids, n.children[i+1:]...)
	if len(kids) <= maxInner {
		return &node{keys: keys, children: kids}, nil
	}
	h := len(kids) / 2
	return &node{keys: keys[:h:h], children: kids[:h:h]}, &node{keys: keys[h:], children: kids[h:]}
}

// remove returns a new version without the entry starting at start.
func (t *tree) remove(start uint64) *tree {
	if t.root == nil {
		return t
	}
	root, found := removeNode(t.root, start)
	if !found {
		return t
	}
	for root != nil && !root.leaf() && len(root.children) == 1 {
		root = root.children[0]
	}
	return &tree{root: root, size: t.size - 1}
}

// removeNode returns the copy of n without the entry at start (nil if empty).
func removeNode(n *node, start uint64) (*node, bool) {
	if n.leaf() {
		i := leafFloor(n.ents, start)
		if i < 0 || n.ents[i].start != start {
			return n, false
		}
		if len(n.ents) == 1 {
			return nil, true
		}
		ents := make([]entry, 0, len(n.ents)-1)
		ents = append(append(ents, n.ents[:i]...), n.ents[i+1:]...)
		return &node{ents: ents}, true
	}
	i := innerFloor(n.keys, start)
	if i < 0 {
		return n, false
	}
	c, found := removeNode(n.children[i], start)
	if !found {
		return n, false
	}
	if c == nil {
		if len(n.children) == 1 {
			return nil, true
		}
		keys := make([]uint64, 0, len(n.keys)-1)
		kids := make([]*node, 0, len(n.children)-1)
		keys = append(append(keys, n.keys[:i]...), n.keys[i+1:]...)
		kids = append(append(kids, n.children[:i]...), n.children[i+1:]...)
		return &node{keys: keys, children: kids}, true
	}
	keys := append([]uint64(nil), n.keys...)
	kids := append([]*node(nil), n.children...)
	keys[i], kids[i] = c.minKey(), c
	return &node{keys: keys, children: kids}, true
}

// replace returns a new version where the entry at oldStart becomes e,
// copying the one path down to it. e must keep the entry's place in the
// order, which it does when it overlaps neither neighbour: writers shrink
// a VMA's neighbours before they grow it (commitMerge), so the new start
// still lies between the starts beside it.
func (t *tree) replace(oldStart uint64, e entry) *tree {
	if t.root == nil {
		return t
	}
	root, found := replaceNode(t.root, oldStart, e)
	if !found {
		return t
	}
	return &tree{root: root, size: t.size}
}

// replaceNode returns the copy of n with the entry at oldStart replaced by e.
func replaceNode(n *node, oldStart uint64, e entry) (*node, bool) {
	if n.leaf() {
		i := leafFloor(n.ents, oldStart)
		if i < 0 || n.ents[i].start != oldStart {
			return n, false
		}
		ents := slices.Clone(n.ents)
		ents[i] = e
		return &node{ents: ents}, true
	}
	i := innerFloor(n.keys, oldStart)
	if i < 0 {
		return n, false
	}
	c, found := replaceNode(n.children[i], oldStart, e)
	if !found {
		return n, false
	}
	keys, kids := slices.Clone(n.keys), slices.Clone(n.children)
	keys[i], kids[i] = c.minKey(), c
	return &node{keys: keys, children: kids}, true
}
