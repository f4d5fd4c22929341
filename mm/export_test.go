package mm

// Helpers for the package's own tests. Nothing here changes mm's behaviour:
// they read internal state, or run an unexported reader path against a tree
// version the test chooses.

import (
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"specvma/internal/mmhook"
	"specvma/internal/testsupport"
	"specvma/vfs"
)

// Hooks are the lockless paths' test windows (Config.Test).
type Hooks = mmhook.Hooks

// takeCacheBaseline records the live VMAs and Files, for a leak check.
func takeCacheBaseline() testsupport.Baseline {
	return testsupport.TakeBaseline(testsupport.Cache{Name: "VMAs", Stats: LiveVMAs},
		testsupport.Cache{Name: "Files", Stats: vfs.LiveFiles})
}

var rapidNoFailFile sync.Once

// rapidCheck is rapid.Check without fail files: a failing property prints
// its seed (-rapid.seed=N reproduces it) instead of writing mm/testdata.
// Passing -rapid.failfile or -rapid.nofailfile explicitly keeps rapid's own
// behaviour.
func rapidCheck(t *testing.T, prop func(*rapid.T)) {
	t.Helper()
	rapidNoFailFile.Do(func() {
		explicit := false
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "rapid.failfile" || f.Name == "rapid.nofailfile" {
				explicit = true
			}
		})
		if !explicit {
			_ = flag.Set("rapid.nofailfile", "true")
		}
	})
	rapid.Check(t, prop)
}

// treeVersion returns the newest published tree version.
func (as *AddressSpace) treeVersion() *tree { return as.index.Load() }

// treeForward lists a version's entries with a cursor, first to last.
func treeForward(t *tree) []entry { return slices.Collect(t.all()) }

// treeBackward lists a version's entries with a cursor, last to first.
func treeBackward(t *tree) []entry { return slices.Collect(t.downFrom(^uint64(0))) }

// checkTreeShape verifies a version's structure: every leaf at one depth,
// node sizes within bounds and nonzero, inner keys equal to their child's
// smallest start, entries strictly increasing and non-overlapping, and size
// equal to the number of entries.
func checkTreeShape(t *tree) error {
	if t.root == nil {
		if t.size != 0 {
			return fmt.Errorf("empty tree with size %d", t.size)
		}
		return nil
	}
	leafDepth := -1
	count := 0
	var last *entry
	var walk func(n *node, depth int) error
	walk = func(n *node, depth int) error {
		if n.leaf() {
			if leafDepth < 0 {
				leafDepth = depth
			} else if depth != leafDepth {
				return fmt.Errorf("leaf at depth %d, another at %d", depth, leafDepth)
			}
			if len(n.ents) == 0 || len(n.ents) > maxLeaf {
				return fmt.Errorf("leaf with %d entries", len(n.ents))
			}
			if n.keys != nil {
				return fmt.Errorf("leaf with keys")
			}
			for i := range n.ents {
				e := &n.ents[i]
				if e.start >= e.end {
					return fmt.Errorf("empty entry [%#x, %#x)", e.start, e.end)
				}
				if last != nil && last.end > e.start {
					return fmt.Errorf("entries [%#x, %#x) and [%#x, %#x) out of order or overlapping",
						last.start, last.end, e.start, e.end)
				}
				last = e
				count++
			}
			return nil
		}
		if len(n.children) == 0 || len(n.children) > maxInner || len(n.keys) != len(n.children) {
			return fmt.Errorf("inner node with %d children, %d keys", len(n.children), len(n.keys))
		}
		if n.ents != nil {
			return fmt.Errorf("inner node with entries")
		}
		for i, c := range n.children {
			if c == nil {
				return fmt.Errorf("nil child")
			}
			if n.keys[i] != c.minKey() {
				return fmt.Errorf("key %#x for a child whose smallest start is %#x", n.keys[i], c.minKey())
			}
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(t.root, 0); err != nil {
		return err
	}
	if leafDepth >= maxHeight {
		return fmt.Errorf("height %d exceeds the cursor's %d levels", leafDepth+1, maxHeight)
	}
	if count != t.size {
		return fmt.Errorf("size %d, %d entries", t.size, count)
	}
	return nil
}

// checkInvariants verifies, under the mmap read lock, everything validate
// does, and what holds only between operations with no reader running:
// every VMA within [MmapMinAddr, TaskSize) (Privileged aside), not
// write-locked, and with no reader's reference (refcnt 1).
func (as *AddressSpace) checkInvariants() error {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	if err := as.validate(); err != nil {
		return err
	}
	for _, e := range treeForward(as.index.Load()) {
		v := e.vma
		switch {
		case e.start < as.cfg.MmapMinAddr && !as.cfg.Privileged:
			return fmt.Errorf("VMA [%#x, %#x) below mmap_min_addr", e.start, e.end)
		case v.refcnt.Load() != 1:
			return fmt.Errorf("VMA [%#x, %#x) has refcnt %d with no reader", e.start, e.end, v.refcnt.Load())
		case v.lockSeq.Load() == as.lock.Seq():
			return fmt.Errorf("VMA [%#x, %#x) still write-locked", e.start, e.end)
		}
	}
	return nil
}

// resolveVMASeqFrom runs the vmaseq strategy exactly as Resolve does, as a
// reader that walked tree version t: one that loaded the tree pointer before
// the writers since then. The lockless attempt is resolveVMASeq itself; t is
// published only for its tree walk and the newest version is put back at
// once after it (from the AfterLockSeqLoad hook, which as must have: pass a
// Config with Test set), so writers running from the other hooks or from
// find see the real tree. The fallback, like Resolve's, takes the mmap read
// lock. Single-goroutine tests only.
func resolveVMASeqFrom[R any](as *AddressSpace, t *tree, addr uint64, find func(Mapping) (R, bool)) (r R, ok bool, why Fallback) {
	h := as.cfg.Test
	cur := as.index.Load()
	restored := false
	restore := func() {
		if !restored {
			restored = true
			as.index.Store(cur)
		}
	}
	next := h.AfterLockSeqLoad
	h.AfterLockSeqLoad = func() {
		restore()
		if next != nil {
			next()
		}
	}
	as.index.Store(t)
	r, why = resolveVMASeq(as, addr, find)
	restore()
	h.AfterLockSeqLoad = next
	if why == FastPath {
		return r, true, FastPath
	}
	r, ok, _ = resolveLocked(as, addr, find, false)
	return r, ok, why
}
