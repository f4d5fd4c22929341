package uprobes

// Invariants (testhooks.go): test hooks are read with one atomic load per
// lookup; nil (the default) costs nothing else. They exist so tests can put
// a writer into the window between a lockless lookup and its validation, and
// can switch validation off to show that the tests catch its absence.

// TestHooks are for tests only. Production code never sets them.
type TestHooks struct {
	// AfterLookup runs in Find between the table lookup that found u and
	// the validation of u (TryGet and the key recheck). It may register
	// and unregister: Find holds no lock there.
	AfterLookup func(u *Uprobe)
	// BeforeErase runs in Put after the count reached zero and before the
	// erase takes the tree lock: u is dying and still in the table.
	BeforeErase func(u *Uprobe)
	// BeforeRefs runs in Register's allocation of u (memory that may have
	// had another key) after the new key is stored and before the
	// reference count of one is: a reader still holding u from an old
	// table must fail TryGet here. The tree lock is held.
	BeforeRefs func(u *Uprobe)
	// AfterPop runs in Task.Return between popping the return instance
	// (u, nil when it is gone) and reading u's consumers.
	AfterPop func(u *Uprobe)
	// BeforeClaim runs in the pop of a leased return instance (Task.Return,
	// Task.Exit) between the load of its state word and the
	// compare-and-swap that claims it: a lease expiry there must make the
	// swap fail.
	BeforeClaim func()
	// AfterForkCopy runs in System.Fork between the copy of the address
	// space and the child's attachment, with regMu held.
	AfterForkCopy func()
	// NoRecheck disables Find's key recheck after TryGet. With it set, Find
	// can return a uprobe whose memory was reused for another key.
	NoRecheck bool
}

// SetTestHooks installs h (nil removes them).
func (r *Registry) SetTestHooks(h *TestHooks) { r.test.Store(h) }
