package uprobes

// Invariants (registry.go):
//   - The published table changes only under treeMu, inside a write section
//     of seq (odd while the writer is between begin and end).
//   - Every entry in the current table names a uprobe that is live or dying
//     (reference count zero, its erase pending) but never one that is freed:
//     a uprobe is erased from the table, under treeMu, before it is freed.
//   - A live uprobe (count > 0) is in the current table under its own key.
//   - Consumer lists change only under regMu; each consumer on a uprobe holds
//     one reference on it.
//   - Nothing is called out to while treeMu is held. (The lock order is
//     package mm's, doc.go.)
//   - Find, InRange and Len take no lock.

import (
	"runtime"
	"sync"
	"sync/atomic"

	"specvma/errno"
	"specvma/internal/rcu"
	"specvma/internal/slab"
	"specvma/vfs"
)

// Hooks let the breakpoint layer follow registrations. Both run under the
// registry's register lock, after the consumer list changed, so they see
// Consumers() with c added (OnInstall) or removed (OnRemove). They must not
// call Register or Unregister. When OnInstall fails the registration is
// undone: c is removed again and OnRemove runs, so the layer can remove what
// it installed before failing (as uprobe_register does).
type Hooks struct {
	OnInstall func(u *Uprobe, c *Consumer) error
	OnRemove  func(u *Uprobe, c *Consumer)
}

// Registry holds the uprobes of a system, keyed by (inode, file offset).
// The zero value is ready to use.
type Registry struct {
	regMu  sync.Mutex // register/unregister, consumer lists, hooks
	treeMu sync.Mutex // the table and seq
	seq    atomic.Uint64
	tab    atomic.Pointer[table]
	cache  slab.Cache[Uprobe]
	hooks  Hooks // guarded by regMu

	rcu    rcu.Domain // readers of FindRCU; a freed uprobe waits for them
	leases rcu.Domain // tasks with leased return instances (uretprobes_srcu)
	// Deferred frees (call_rcu): a queue that one reclaimer goroutine at a
	// time drains, a batch per grace period.
	pendingMu   sync.Mutex
	pending     []*Uprobe // queued, waiting for the reclaimer's next batch
	queued      uint64    // frees ever queued
	freed       uint64    // of those, back in the cache (in queue order)
	reclaiming  bool      // a reclaimer goroutine is running
	pendingCond sync.Cond // signalled as each batch completes

	changes atomic.Uint64
	retries atomic.Uint64
	invalid atomic.Uint64
	test    atomic.Pointer[TestHooks]
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// SetHooks installs the breakpoint layer's hooks.
func (r *Registry) SetHooks(h Hooks) {
	r.regMu.Lock()
	r.hooks = h
	r.regMu.Unlock()
}

// Seq returns the table's sequence count: odd while a writer is changing the
// table, advanced by two for every completed change.
func (r *Registry) Seq() uint64 { return r.seq.Load() }

// Changes counts completed Register and Unregister calls.
func (r *Registry) Changes() uint64 { return r.changes.Load() }

// Len is the number of uprobes in the table now (live or dying).
func (r *Registry) Len() int { return r.tab.Load().len() }

// Find returns the live uprobe at (id, off) with a reference the caller must
// Put, or nil. It takes no lock and does not allocate.
func (r *Registry) Find(id vfs.InodeID, off uint64) *Uprobe {
	k := key{id, off}
	for spins := 0; ; spins++ {
		s := r.seq.Load()
		if u := r.findOnce(k); u != nil {
			return u
		}
		// A miss is an answer only if no writer ran meanwhile (pairs with
		// the writer's seq increments around the table store).
		if s&1 == 0 && r.seq.Load() == s { // safety:find-miss-seq
			return nil
		}
		r.retries.Add(1)
		if spins >= 3 {
			runtime.Gosched()
		}
	}
}

// findOnce looks k up in the current table and validates what it found.
func (r *Registry) findOnce(k key) *Uprobe {
	u := r.tab.Load().find(k)
	if u == nil {
		return nil
	}
	th := r.test.Load()
	if th != nil && th.AfterLookup != nil {
		th.AfterLookup(u)
	}
	if !u.TryGet() { // safety:find-tryget
		return nil // dying: its erase is pending
	}
	if u.hasKey(k) || (th != nil && th.NoRecheck) { // safety:find-key-recheck
		return u
	}
	r.invalid.Add(1) // freed and reused for another key since we looked
	u.Put()
	return nil
}

// InRange appends to buf the live uprobes of inode id with lo <= offset < hi,
// in offset order, each with a reference the caller must Put (the model of
// build_probe_list). It takes no lock.
func (r *Registry) InRange(id vfs.InodeID, lo, hi uint64, buf []*Uprobe) []*Uprobe {
	for {
		s := r.seq.Load()
		out, stale := r.collect(id, lo, hi, buf)
		if !stale || (s&1 == 0 && r.seq.Load() == s) {
			return out
		}
		for _, u := range out[len(buf):] {
			u.Put()
		}
		r.retries.Add(1)
		runtime.Gosched()
	}
}

// collect is one pass of InRange; stale reports a validation failure.
func (r *Registry) collect(id vfs.InodeID, lo, hi uint64, out []*Uprobe) ([]*Uprobe, bool) {
	t := r.tab.Load()
	stale := false
	for i := t.search(key{id, lo}); i < t.len(); i++ {
		e := t.ents[i]
		if e.k.id != id || e.k.off >= hi {
			break
		}
		if !e.u.TryGet() {
			stale = true
			continue
		}
		if !e.u.hasKey(e.k) {
			e.u.Put()
			stale = true
			continue
		}
		out = append(out, e.u)
	}
	return out, stale
}

// Register adds consumer c to the uprobe at (id, off), creating the uprobe
// if there is none, as uprobe_register does. The returned uprobe carries the
// registration's reference, which Unregister(u, c) drops. Errors: EINVAL for
// a nil consumer, a ref_ctr_offset not aligned to two bytes, or one that
// differs from the existing uprobe's; EEXIST when c is already on the uprobe;
// whatever OnInstall returned.
func (r *Registry) Register(id vfs.InodeID, off, refCtrOffset uint64, c *Consumer) (*Uprobe, error) {
	if c == nil || refCtrOffset%2 != 0 {
		return nil, errno.EINVAL
	}
	r.regMu.Lock()
	defer r.regMu.Unlock()
	u := r.getOrCreate(key{id, off}, refCtrOffset)
	if u.RefCtrOffset() != refCtrOffset {
		u.Put()
		return nil, errno.EINVAL
	}
	if indexOf(u.Consumers(), c) >= 0 {
		u.Put()
		return nil, errno.EEXIST
	}
	u.setConsumers(withConsumer(u.Consumers(), c))
	if err := r.install(u, c); err != nil {
		return nil, err
	}
	r.changes.Add(1)
	return u, nil
}

// install runs OnInstall and undoes the registration if it fails.
//
// Preconditions: regMu is held.
func (r *Registry) install(u *Uprobe, c *Consumer) error {
	if r.hooks.OnInstall == nil {
		return nil
	}
	err := r.hooks.OnInstall(u, c)
	if err == nil {
		return nil
	}
	r.remove(u, c)
	return err
}

// Unregister removes consumer c from u and drops the reference its
// registration held (uprobe_unregister). ENOENT when c is not on u.
func (r *Registry) Unregister(u *Uprobe, c *Consumer) error {
	r.regMu.Lock()
	defer r.regMu.Unlock()
	if u == nil || indexOf(u.Consumers(), c) < 0 {
		return errno.ENOENT
	}
	r.remove(u, c)
	r.changes.Add(1)
	return nil
}

// remove takes c off u, runs OnRemove and drops c's reference.
//
// Preconditions: regMu is held.
func (r *Registry) remove(u *Uprobe, c *Consumer) {
	u.setConsumers(withoutConsumer(u.Consumers(), c))
	if r.hooks.OnRemove != nil {
		r.hooks.OnRemove(u, c)
	}
	u.Put()
}

// getOrCreate returns the live uprobe for k with a new reference, creating
// it if there is none; a dying one is erased first (__insert_uprobe).
func (r *Registry) getOrCreate(k key, refCtr uint64) *Uprobe {
	r.treeMu.Lock()
	defer r.treeMu.Unlock()
	t := r.tab.Load()
	if old := t.find(k); old != nil {
		if old.TryGet() {
			return old
		}
		t = r.eraseLocked(t, k, old)
	}
	u := r.alloc(k, refCtr)
	r.beginWrite()
	r.tab.Store(t.with(k, u))
	u.inTable = true
	r.endWrite()
	return u
}

// alloc takes a uprobe from the cache and initialises it with one reference.
func (r *Registry) alloc(k key, refCtr uint64) *Uprobe {
	u := r.cache.Alloc()
	u.reg.Store(r)
	u.gen.Add(1)
	u.setKey(k) // safety:alloc-refs-last
	u.refCtr.Store(refCtr)
	u.consumers.Store(nil)
	u.inTable = false
	if th := r.test.Load(); th != nil && th.BeforeRefs != nil {
		th.BeforeRefs(u)
	}
	// Last: a reader whose TryGet sees this count sees the key above.
	u.refs.Store(1) // safety:alloc-refs-last
	return u
}

// eraseLocked removes dying u (key k) from table t and publishes the result.
//
// Preconditions: treeMu is held.
func (r *Registry) eraseLocked(t *table, k key, u *Uprobe) *table {
	nt, ok := t.without(k, u)
	if !ok {
		return t
	}
	r.beginWrite()
	r.tab.Store(nt)
	u.inTable = false
	r.endWrite()
	return nt
}

// release erases u, whose count reached zero, and frees it to the cache.
func (r *Registry) release(u *Uprobe) {
	if th := r.test.Load(); th != nil && th.BeforeErase != nil {
		th.BeforeErase(u)
	}
	r.treeMu.Lock()
	if u.inTable {
		r.eraseLocked(r.tab.Load(), r.keyOf(u), u)
	}
	r.treeMu.Unlock()
	// Readers of FindRCU may still be using u: its memory goes back to the
	// cache only after a grace period. Find's readers may still hold the
	// pointer from an old table after that: they fail TryGet, or succeed on
	// the next owner and fail the key recheck.
	if r.rcu.Quiescent() && r.leases.Quiescent() { // safety:free-quiescent
		r.cache.Free(u)
		return
	}
	r.pendingMu.Lock()
	r.pending = append(r.pending, u)
	r.queued++
	start := !r.reclaiming
	r.reclaiming = true
	r.pendingMu.Unlock()
	if start {
		go r.reclaim()
	}
}

// reclaim is the registry's reclaimer: it takes everything queued, waits one
// grace period for the whole batch and frees it, until the queue is empty.
// At most one runs per registry, however many frees are pending; frees
// queued while a batch waits go in the next batch (call_rcu's batching).
func (r *Registry) reclaim() {
	for {
		r.pendingMu.Lock()
		batch := r.pending
		r.pending = nil
		if len(batch) == 0 {
			r.reclaiming = false
			r.pendingMu.Unlock()
			return
		}
		r.pendingMu.Unlock()
		// Hit sections that could have found the batch; then the leases
		// they created; then the Return sections that popped a lease
		// before it could be expired.
		r.rcu.Synchronize()                                    // safety:grace-period
		r.leases.SynchronizeExpire(LeaseTimeout, expireLeases) // safety:lease-wait
		r.rcu.Synchronize()                                    // safety:return-section
		for _, u := range batch {
			r.cache.Free(u)
		}
		r.pendingMu.Lock()
		r.freed += uint64(len(batch))
		r.pendingCond.Broadcast()
		r.pendingMu.Unlock()
	}
}

// RCU is the read-side domain of FindRCU: each task that resolves
// breakpoints registers a Reader in it.
func (r *Registry) RCU() *rcu.Domain { return &r.rcu }

// Leases is the domain of return-instance leases: a task holds a section
// open while it has leased return instances (task.go).
func (r *Registry) Leases() *rcu.Domain { return &r.leases }

// Barrier waits until every uprobe released before the call is back in the
// cache (rcu_barrier): tests call it before counting live objects.
func (r *Registry) Barrier() {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	if r.pendingCond.L == nil {
		r.pendingCond.L = &r.pendingMu
	}
	// Only the frees queued before the call: later ones may keep coming.
	// Batches complete in queue order.
	for target := r.queued; r.freed < target; {
		r.pendingCond.Wait()
	}
}

// FindRCU returns the live uprobe at (id, off) without taking a reference,
// or nil (find_uprobe_rcu). The caller must be inside a read section of
// RCU(): a uprobe erased meanwhile is not reused before the section ends, so
// the caller may run its consumers without touching the shared reference
// count. A dying uprobe (count zero, erase pending) is never returned. It
// takes no lock and does not allocate.
func (r *Registry) FindRCU(id vfs.InodeID, off uint64) *Uprobe {
	k := key{id, off}
	for {
		s := r.seq.Load()
		if u := r.tab.Load().find(k); u != nil {
			th := r.test.Load()
			if th != nil && th.AfterLookup != nil {
				th.AfterLookup(u)
			}
			live := u.refs.Load() > 0                               // safety:findrcu-dying
			if live && (u.hasKey(k) || th != nil && th.NoRecheck) { // safety:findrcu-key-recheck
				return u
			}
		}
		if s&1 == 0 && r.seq.Load() == s { // safety:findrcu-miss-seq
			return nil
		}
		r.retries.Add(1)
		runtime.Gosched()
	}
}

// keyOf reads u's key; u is dying, so nobody can re-initialise it.
func (r *Registry) keyOf(u *Uprobe) key {
	return key{u.Inode(), u.Offset()}
}

func (r *Registry) beginWrite() { r.seq.Add(1) } // odd: readers' misses retry
func (r *Registry) endWrite()   { r.seq.Add(1) } // even again

// Stats are the registry's counters.
type Stats struct {
	Live    int64  // uprobes allocated from the cache and not yet freed
	Created int64  // uprobe objects ever created
	Reused  int64  // allocations that reused freed memory
	Retries uint64 // lockless lookups retried because seq moved
	Invalid uint64 // lookups whose entry named memory reused for another key
}

// Stats returns the counters.
func (r *Registry) Stats() Stats {
	live, created, reused := r.cache.Stats()
	return Stats{live, created, reused, r.retries.Load(), r.invalid.Load()}
}

// Live is the number of uprobes allocated and not yet freed.
func (r *Registry) Live() int64 { return r.Stats().Live }

func indexOf(cs []*Consumer, c *Consumer) int {
	for i, x := range cs {
		if x == c {
			return i
		}
	}
	return -1
}

// withConsumer returns a new list: cs followed by c (copy on write).
func withConsumer(cs []*Consumer, c *Consumer) []*Consumer {
	n := make([]*Consumer, len(cs), len(cs)+1)
	copy(n, cs)
	return append(n, c)
}

// withoutConsumer returns a new list: cs less c (copy on write).
func withoutConsumer(cs []*Consumer, c *Consumer) []*Consumer {
	i := indexOf(cs, c)
	if i < 0 {
		return cs
	}
	n := make([]*Consumer, 0, len(cs)-1)
	n = append(n, cs[:i]...)
	return append(n, cs[i+1:]...)
}
