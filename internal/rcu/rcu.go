// Package rcu is a small read-copy-update domain: the grace periods that
// decide when an object removed from a lockless structure may be reused.
//
// Go's garbage collector already keeps memory alive while a reader holds a
// pointer, which is all that RCU gives the kernel for SLAB_TYPESAFE_BY_RCU
// caches. Objects that must keep their identity while a reader uses them
// (a uprobe whose handlers are running) need more: a writer that removed
// one waits for a grace period, the moment every reader that might have
// found it has left its read section, before it hands the memory to the
// type-stable cache again. That is RCU Tasks Trace in the kernel.
//
// Readers are registered (one per task) and mark their sections in their
// own cache line, so entering and leaving a section costs two uncontended
// atomic stores and never touches memory another reader writes.
//
// Protocol. A Reader's state is even outside a section and odd inside;
// every Lock and Unlock adds one. Synchronize snapshots each reader's state
// and waits for every reader that was inside (odd) to move on. A reader that
// enters after the snapshot loads the structure after the writer's removal
// (Go atomics are sequentially consistent), so it cannot find the removed
// object.
package rcu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Domain is a set of readers that a grace period waits for.
type Domain struct {
	mu      sync.Mutex
	readers map[*Reader]struct{}
}

// Reader is one task's read-side state. It must not be used by two
// goroutines at once.
type Reader struct {
	_     [64]byte
	state atomic.Uint64
	_     [56]byte
	d     *Domain
	owner any
}

// NewReader registers a reader.
func (d *Domain) NewReader() *Reader { return d.NewReaderFor(nil) }

// NewReaderFor registers a reader that belongs to owner (see
// SynchronizeExpire).
func (d *Domain) NewReaderFor(owner any) *Reader {
	r := &Reader{d: d, owner: owner}
	d.mu.Lock()
	if d.readers == nil {
		d.readers = make(map[*Reader]struct{})
	}
	d.readers[r] = struct{}{}
	d.mu.Unlock()
	return r
}

// Owner returns what NewReaderFor was given.
func (r *Reader) Owner() any { return r.owner }

// Close unregisters r; it must be outside a section, and Close panics if it
// is not (a section left open would hold every grace period up for good).
func (r *Reader) Close() {
	if r.state.Load()&1 == 1 {
		panic("rcu: Close inside a read section")
	}
	r.d.mu.Lock()
	delete(r.d.readers, r)
	r.d.mu.Unlock()
}

// Lock enters a read section (rcu_read_lock_trace). Sections do not nest:
// Lock inside a section panics, as an unbalanced Unlock does (sync.Mutex's
// rule). The check reuses the load the increment needs.
func (r *Reader) Lock() {
	s := r.state.Load()
	if s&1 == 1 {
		panic("rcu: Lock inside a read section (sections do not nest)")
	}
	r.state.Store(s + 1)
}

// Unlock leaves the read section; it panics outside one.
func (r *Reader) Unlock() {
	s := r.state.Load()
	if s&1 == 0 {
		panic("rcu: Unlock outside a read section")
	}
	r.state.Store(s + 1)
}

// Quiescent reports whether no reader is inside a section now: a grace
// period that started now would already be over.
func (d *Domain) Quiescent() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for r := range d.readers {
		if r.state.Load()&1 == 1 {
			return false
		}
	}
	return true
}

// Synchronize waits for a grace period: every reader inside a section when
// it was called has left it (synchronize_rcu_tasks_trace).
func (d *Domain) Synchronize() { d.SynchronizeExpire(0, nil) }

// SynchronizeExpire is Synchronize for sections that may last long (the
// leases of return instances, uretprobes_srcu): once a reader has stayed in
// the same section for timeout, expire(r) is called, and when it reports
// that r no longer holds anything this grace period protects, the wait for
// r ends. With a nil expire it waits as long as it takes.
func (d *Domain) SynchronizeExpire(timeout time.Duration, expire func(*Reader) bool) {
	type waitFor struct {
		r *Reader
		s uint64
	}
	var inside []waitFor
	d.mu.Lock()
	for r := range d.readers {
		if s := r.state.Load(); s&1 == 1 {
			inside = append(inside, waitFor{r, s})
		}
	}
	d.mu.Unlock()
	start := time.Now()
	for _, w := range inside {
		for spins := 0; w.r.state.Load() == w.s; spins++ {
			if expire != nil && time.Since(start) >= timeout && expire(w.r) {
				break
			}
			if spins < 100 {
				runtime.Gosched()
			} else {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
}
