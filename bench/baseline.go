package bench

import (
	"sort"
	"sync"

	"github.com/google/btree"

	"specvma/internal/rcu"
	"specvma/mm"
	"specvma/uprobes"
	"specvma/vfs"
)

// Baselines: what a Go programmer would write instead of the kernel's
// lockless paths, over the same VMAs (copied from the address space) and
// the same uprobe registry.
//
//	rwmutex-btree     a sync.RWMutex around a B-tree (gVisor's mm design)
//	rwmutex-snapshot  a sorted slice, copied and republished by writers
//	                  under a sync.RWMutex (the OpenTelemetry eBPF
//	                  profiler's process maps)
//	unsync            one task, a sorted slice, no synchronization at all:
//	                  the lower bound on what resolution can cost

// span is one VMA as the baselines keep it.
type span struct {
	start, end, pgoff uint64
	inode             vfs.InodeID
	file              bool
}

func spansOf(as *mm.AddressSpace) []span {
	var out []span
	for _, in := range as.VMAs() {
		s := span{start: in.Start, end: in.End, pgoff: in.Pgoff}
		if in.Inode != nil {
			s.inode, s.file = in.Inode.ID(), true
		}
		out = append(out, s)
	}
	return out
}

// index is a baseline's address-to-file structure.
type index interface {
	lookup(addr uint64) (span, bool) // called by one task; may keep per-call state
	insert(s span)
	remove(start uint64)
	forTask() index // a view for one more task (shares the data)
}

// newIndex builds the named baseline over spans.
func newIndex(s Strategy, spans []span) index {
	switch s {
	case RWMutexBTree:
		b := &btreeIndex{shared: &btreeShared{t: btree.NewG(32, func(a, b span) bool { return a.start < b.start })}}
		for _, s := range spans {
			b.shared.t.ReplaceOrInsert(s)
		}
		return b.forTask()
	case RWMutexSnapshot:
		return &snapshotIndex{shared: &snapshotShared{spans: append([]span(nil), spans...)}}
	default:
		return &sliceIndex{spans: append([]span(nil), spans...)}
	}
}

// btreeIndex: readers RLock, floor-search, RUnlock; writers Lock.
type btreeIndex struct {
	shared *btreeShared
	found  span
	ok     bool
	visit  func(span) bool // a method value made once, so lookups do not allocate
}

type btreeShared struct {
	mu sync.RWMutex
	t  *btree.BTreeG[span]
}

func (b *btreeIndex) forTask() index {
	n := &btreeIndex{shared: b.shared}
	n.visit = n.take
	return n
}

func (b *btreeIndex) take(s span) bool { b.found, b.ok = s, true; return false }

func (b *btreeIndex) lookup(addr uint64) (span, bool) {
	b.ok = false
	b.shared.mu.RLock()
	b.shared.t.DescendLessOrEqual(span{start: addr}, b.visit)
	b.shared.mu.RUnlock()
	return b.found, b.ok && addr < b.found.end
}

func (b *btreeIndex) insert(s span) {
	b.shared.mu.Lock()
	b.shared.t.ReplaceOrInsert(s)
	b.shared.mu.Unlock()
}

func (b *btreeIndex) remove(start uint64) {
	b.shared.mu.Lock()
	b.shared.t.Delete(span{start: start})
	b.shared.mu.Unlock()
}

// snapshotIndex: readers RLock and binary-search the current slice;
// writers build a new slice and swap it in under Lock.
type snapshotIndex struct{ shared *snapshotShared }

type snapshotShared struct {
	mu    sync.RWMutex
	spans []span
}

func (s *snapshotIndex) forTask() index { return s }

func (s *snapshotIndex) lookup(addr uint64) (span, bool) {
	s.shared.mu.RLock()
	sp, ok := floor(s.shared.spans, addr)
	s.shared.mu.RUnlock()
	return sp, ok
}

func (s *snapshotIndex) insert(sp span) {
	s.republish(func(old []span) []span { return withSpan(old, sp) })
}

func (s *snapshotIndex) remove(start uint64) {
	s.republish(func(old []span) []span { return withoutSpan(old, start) })
}

// republish builds the next slice from the current one under the read lock
// and swaps it in under the write lock (there is one writer).
func (s *snapshotIndex) republish(next func([]span) []span) {
	s.shared.mu.RLock()
	n := next(s.shared.spans)
	s.shared.mu.RUnlock()
	s.shared.mu.Lock()
	s.shared.spans = n
	s.shared.mu.Unlock()
}

// sliceIndex: no synchronization; one task only, no writer.
type sliceIndex struct{ spans []span }

func (s *sliceIndex) forTask() index                  { return s }
func (s *sliceIndex) lookup(addr uint64) (span, bool) { return floor(s.spans, addr) }
func (s *sliceIndex) insert(sp span)                  { s.spans = withSpan(s.spans, sp) }
func (s *sliceIndex) remove(start uint64)             { s.spans = withoutSpan(s.spans, start) }

func floor(spans []span, addr uint64) (span, bool) {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].start > addr }) - 1
	if i < 0 || addr >= spans[i].end {
		return span{}, false
	}
	return spans[i], true
}

func withSpan(spans []span, sp span) []span {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].start >= sp.start })
	out := make([]span, 0, len(spans)+1)
	return append(append(append(out, spans[:i]...), sp), spans[i:]...)
}

func withoutSpan(spans []span, start uint64) []span {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].start >= start })
	if i == len(spans) || spans[i].start != start {
		return spans
	}
	out := make([]span, 0, len(spans)-1)
	return append(append(out, spans[:i]...), spans[i+1:]...)
}

// baselineTask is a task whose resolution goes through a baseline index;
// the rest of the trigger path (breakpoint check, registry lookup under a
// read section, consumers) is the same as a uprobes.Task's.
type baselineTask struct {
	as  *mm.AddressSpace
	idx index
	reg *uprobes.Registry
	rd  *rcu.Reader // nil for unsync
}

func (t *baselineTask) hit(addr uint64) bool {
	if !t.as.HasBreakpoint(addr) {
		return false
	}
	if t.rd != nil {
		t.rd.Lock()
	}
	fired := false
	if sp, ok := t.idx.lookup(addr); ok && sp.file {
		if u := t.reg.FindRCU(sp.inode, sp.pgoff<<mm.PageShift+addr-sp.start); u != nil {
			for _, c := range u.Consumers() {
				if c.Handler != nil {
					c.Handler(nil)
				}
			}
			fired = true
		}
	}
	if t.rd != nil {
		t.rd.Unlock()
	}
	return fired
}
