package uprobes

// Invariants (uprobe.go):
//   - A Uprobe's key fields, refCtr and consumers are written only while its
//     reference count is zero and it is in no table (re-initialisation in
//     Registry.alloc), except consumers, which change under Registry.regMu
//     while the uprobe is live. refs is stored last on re-initialisation.
//   - A reader trusts key fields only after its own TryGet succeeded; until it
//     Puts, the object cannot be freed and so cannot be re-initialised.
//   - refs never rises from zero: TryGet is a CAS loop that fails at zero, Get
//     panics at zero.
//   - inTable is touched only under Registry.treeMu.

import (
	"sync/atomic"

	"specvma/mm"
	"specvma/vfs"
)

// Context is what a consumer's handler sees when its probe fires; the Task
// that hit the breakpoint fills it.
type Context struct {
	Uprobe *Uprobe          // the probe that fired (the handler runs holding a reference)
	AS     *mm.AddressSpace // the address space of the task that hit it
	Addr   uint64           // the breakpoint's virtual address
	Func   uint64           // for a return handler: the probed function's address
	Ret    uint64           // for a return handler: the address returned to
}

// Consumer is one user of a uprobe (struct uprobe_consumer): a trace event, a
// perf event, a BPF link. Its fields must not change after registration.
type Consumer struct {
	Name       string                         // the event as GRP/EVENT
	Return     bool                           // a return probe (r:), fired by RetHandler on return
	Handler    func(ctx *Context)             // entry handler, optional
	RetHandler func(ctx *Context)             // return handler, optional
	Filter     func(as *mm.AddressSpace) bool // whether to probe an address space; nil means all
}

// Wants reports whether c probes the address space as (its filter).
func (c *Consumer) Wants(as *mm.AddressSpace) bool { return c.Filter == nil || c.Filter(as) }

// IsReturn reports whether c fires on function return.
func (c *Consumer) IsReturn() bool { return c.Return || c.RetHandler != nil }

// Uprobe is one probe point: an inode and a file offset, with the consumers
// registered on it. It comes from its registry's type-stable cache.
type Uprobe struct {
	major, minor atomic.Uint32
	ino, off     atomic.Uint64
	refCtr       atomic.Uint64
	gen          atomic.Uint64
	refs         atomic.Int64
	consumers    atomic.Pointer[[]*Consumer]
	reg          atomic.Pointer[Registry]
	inTable      bool // guarded by reg.treeMu
}

// setKey re-initialises the key; only while refs is zero and u is in no table.
func (u *Uprobe) setKey(k key) {
	u.major.Store(k.id.Dev.Major)
	u.minor.Store(k.id.Dev.Minor)
	u.ino.Store(k.id.Ino)
	u.off.Store(k.off)
}

// hasKey reports whether u's stored key is k; meaningful only under a reference.
func (u *Uprobe) hasKey(k key) bool {
	return u.off.Load() == k.off && u.ino.Load() == k.id.Ino &&
		u.major.Load() == k.id.Dev.Major && u.minor.Load() == k.id.Dev.Minor
}

// Inode is the probed inode's identity. Valid while the caller holds a reference.
func (u *Uprobe) Inode() vfs.InodeID {
	return vfs.InodeID{Dev: vfs.Dev{Major: u.major.Load(), Minor: u.minor.Load()}, Ino: u.ino.Load()}
}

// Offset is the probed file offset. Valid while the caller holds a reference.
func (u *Uprobe) Offset() uint64 { return u.off.Load() }

// RefCtrOffset is the file offset of the SDT semaphore (0 when none).
func (u *Uprobe) RefCtrOffset() uint64 { return u.refCtr.Load() }

// Generation counts how many times this memory has been handed out as a
// Uprobe; tests use it to tell reuse from identity.
func (u *Uprobe) Generation() uint64 { return u.gen.Load() }

// Refs returns the reference count (for tests and diagnostics).
func (u *Uprobe) Refs() int64 { return u.refs.Load() }

// Consumers returns the consumers as an immutable snapshot; do not modify it.
func (u *Uprobe) Consumers() []*Consumer {
	if p := u.consumers.Load(); p != nil {
		return *p
	}
	return nil
}

// HasReturn reports whether any consumer is a return probe.
func (u *Uprobe) HasReturn() bool {
	for _, c := range u.Consumers() {
		if c.IsReturn() {
			return true
		}
	}
	return false
}

// TryGet takes a reference unless the count is zero (refcount_inc_not_zero).
// Lockless readers must use it, then recheck what they looked up.
func (u *Uprobe) TryGet() bool {
	for {
		n := u.refs.Load()
		if n <= 0 {
			return false
		}
		if u.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Get takes a reference; the caller must already hold one.
func (u *Uprobe) Get() *Uprobe {
	if u.refs.Add(1) <= 1 {
		panic("uprobes: Get on a Uprobe with no references")
	}
	return u
}

// Put drops a reference. The last one erases u from its registry (taking
// the tree lock) and frees it: at once, to be reused by the next
// registration, when no read section or lease section of the registry is
// open; otherwise the registry's reclaimer frees it after a grace period.
// Put never waits for a grace period, so it may be called inside a read
// section and under the mmap locks.
//
// Preconditions: the registry's tree lock is not held.
func (u *Uprobe) Put() {
	if u.dec() {
		u.reg.Load().release(u)
	}
}

// dec drops a reference and reports whether it was the last.
func (u *Uprobe) dec() bool {
	switch n := u.refs.Add(-1); {
	case n == 0:
		return true
	case n < 0:
		panic("uprobes: Uprobe reference count underflow")
	}
	return false
}

// setConsumers publishes a new consumer list.
//
// Preconditions: the registry's regMu is held.
func (u *Uprobe) setConsumers(cs []*Consumer) {
	if len(cs) == 0 {
		u.consumers.Store(nil)
		return
	}
	u.consumers.Store(&cs)
}
