package mm

// Stores: one publication for what the maple tree changes in one store.
//
// The maple tree replaces a range with its new entries in one step
// (mas_store: a split stores the new VMA over part of the old one's range,
// a merge stores the survivor over the VMAs it absorbs, munmap stores
// nothing over the whole range, and a MAP_FIXED mmap stores the new VMA over
// the ones it replaces), so an RCU reader sees the old layout or the new one
// and never a hole that neither has. The model's tree changes one entry per
// call (insert, remove, replace); a writer that published each of those
// would show readers intermediate versions — a split as a shrunk VMA
// without its other half, a merge as the absorbed VMA gone before the
// survivor grew — where an address mapped before and after the change is
// mapped by nothing. lock_next_vma confirms a gap by looking the position
// up again: such a version would make it confirm a gap that never existed.
//
// So a writer brackets each such change with beginStore and endStore: the
// versions in between are staged (the writer sees them through cur), and
// endStore publishes the last one with one atomic store. The VMAs removed
// in between are detached and freed only after that store, keeping the
// order "remove before detach" (doc.go). Brackets nest; the outermost
// endStore publishes.

// beginStore opens a store.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) beginStore() { as.storing++ }

// endStore closes a store; the outermost one publishes what was staged and
// then detaches and frees the VMAs removed meanwhile.
//
// Preconditions: the mmap write lock is held; a store is open.
func (as *AddressSpace) endStore() {
	as.storing--
	if as.storing > 0 {
		return
	}
	if as.staged != nil {
		as.store(as.staged)
		as.staged = nil
	}
	for i, v := range as.unlinked {
		as.detachFree(v)
		as.unlinked[i] = nil
	}
	as.unlinked = as.unlinked[:0]
}

// cur is the writer's view of the tree: the version staged by a store in
// progress, else the published one.
//
// Preconditions: the mmap lock is held, either mode (lockless readers load
// as.index).
func (as *AddressSpace) cur() *tree {
	if as.staged != nil {
		return as.staged
	}
	return as.index.Load()
}

// unbatched reports the planted bug that publishes every intermediate
// version (mmhook.Hooks.PublishEachStep).
func (as *AddressSpace) unbatched() bool {
	h := as.hooks()
	return h != nil && h.PublishEachStep
}
