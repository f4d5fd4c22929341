package mm

// fork(2)'s copy of an address space (dup_mm, dup_mmap in Linux 6.18).
//
// The child is a new AddressSpace with its own locks, sequence count and
// VMA memory. Fork holds the parent's mmap write lock for the whole copy
// and write-locks every parent VMA on the way (so the parent's lockless
// readers retry or fall back, and its VMA readers are drained), and holds
// the child's write lock too, taken second; nothing else can reach the
// child yet. What is copied, VMA by VMA:
//
//   - VM_DONTCOPY (MADV_DONTFORK) VMAs are skipped: the child has a hole.
//   - Every other VMA is copied with its range, offset, flags, file (one
//     more reference to the same open file description), anonymous name
//     and special name, except VM_LOCKED and VM_LOCKONFAULT, which a child
//     never inherits; VM_SEALED stays.
//   - anon_vmas (anon_vma_fork): a VMA with one gets a new anon_vma whose
//     parent is the parent VMA's, and becomes a fork child (its chain links
//     the ancestors too), which changes how it merges (merge.go:
//     anonMergeable) and whose anon_vma a neighbour's first fault may not
//     take (anonVMAPrepare). VM_WIPEONFORK VMAs get none: fresh memory. A
//     VMA whose parent has no anon_vma has none either.
//   - Memory: the breakpoints and SDT semaphore counts of the copied pages
//     (copy_page_range copies the private pages that hold them), not those
//     of wiped or skipped VMAs. Parked semaphore increments
//     (delayed_uprobe) belong to the parent's mm and are not copied.
//   - The heap, stack and gate positions, the mmap base and the
//     configuration (dup_mm copies the mm_struct); the ProbeSource
//     (MMF_HAS_UPROBES: new mappings of the child get probes as the
//     parent's do). Not copied: mlockall(MCL_FUTURE)'s default VM_LOCKED
//     (mm_init keeps none of def_flags that the model has).
//   - Commit accounting: each VM_ACCOUNT VMA is charged to the child as it
//     is copied (forkCharge); a charge refused fails the fork with ENOMEM
//     and the child is torn down (the parent is unchanged).
//
// anon_vma_clone's reuse of an ancestor anon_vma that no VMA uses any more
// is not modelled: the reused anon_vma is one no other VMA of the child
// shares, and we found no sequence where it changes a merge.

// Fork returns a copy of as, as fork(2) makes for the child process
// (dup_mmap), or ENOMEM when the child's commit charge is refused.
//
// Lock order: as's mmap write lock, then the child's (doc.go). The caller
// holds no mmap lock of as; package uprobes calls it under its registry
// mutex so that no probe is registered between the copy and the child's
// attachment (uprobe_dup_mmap's dup_mmap_sem).
func (as *AddressSpace) Fork() (*AddressSpace, error) {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	child := New(as.cfg)
	child.lock.WriteLock()
	defer child.lock.WriteUnlock()
	child.startBrk, child.brk, child.startStack, child.gate = as.startBrk, as.brk, as.startStack, as.gate
	child.probes = as.probes
	bps := as.bpTable()
	var childBps map[uint64]ProbeID
	var parentPages, charged uint64
	if as.cfg.Overcommit == OvercommitNever {
		parentPages = as.committedPages() + as.committedElsewhere()
	}
	for e := range as.index.Load().all() {
		v := e.vma
		as.vmaStartWrite(v)
		f := v.Flags()
		if f&VMDontCopy != 0 {
			continue
		}
		if f&VMAccount != 0 {
			if err := as.forkCharge(parentPages, charged, v.pages()); err != nil {
				child.exitMmap()
				return nil, err
			}
			charged += v.pages()
		}
		n := child.dupVMA(v)
		child.link(n)
		if f&VMWipeOnFork != 0 {
			continue // a clean slate: no page of it is copied
		}
		for a, id := range bps {
			if a >= e.start && a < e.end {
				if childBps == nil {
					childBps = map[uint64]ProbeID{}
				}
				childBps[a] = id
			}
		}
		for a, c := range as.refCtrs {
			if a >= e.start && a < e.end {
				if child.refCtrs == nil {
					child.refCtrs = map[uint64]int{}
				}
				child.refCtrs[a] = c
			}
		}
	}
	if childBps != nil {
		child.bps.Store(&childBps)
	}
	return child, nil
}

// forkCharge is the child's charge for one VM_ACCOUNT VMA of pages pages,
// charged pages having been charged to it already. Under OvercommitNever
// Linux counts every process's commitments: the parent's and the rest of
// the machine's (parentPages) and the child's add up at fork, so that is
// what is checked.
//
// Preconditions: the parent's mmap write lock is held.
func (as *AddressSpace) forkCharge(parentPages, charged, pages uint64) error {
	if as.cfg.Overcommit == OvercommitNever {
		if parentPages+charged+pages > as.cfg.CommitLimit>>PageShift {
			return enomem
		}
		return nil
	}
	return as.enoughMemory(pages)
}

// dupVMA makes the child's copy of the parent's VMA v (vm_area_dup,
// anon_vma_fork), detached.
//
// Preconditions: the mmap write locks of both address spaces are held.
func (as *AddressSpace) dupVMA(v *VMA) *VMA {
	f := v.File()
	if f != nil {
		f.Get()
	}
	n := as.newVMA(v.Start(), v.End(), v.Pgoff(), v.Flags()&^vmLockedMask, f)
	n.name.Store(v.name.Load())
	n.special.Store(v.special.Load())
	if v.huge.Load() != nil {
		// hugetlb_dup_vma_private: the child holds no reservation (its
		// copies of the parent's huge pages are not modelled, hugetlb.go).
		n.huge.Store(&hugeVMA{pages: newHugePages()})
	}
	if a := v.anon.Load(); a != nil && v.Flags()&VMWipeOnFork == 0 {
		n.anon.Store(&AnonVMA{id: anonVMAIDs.Add(1), parent: a})
		n.forkChild.Store(true)
	}
	return n
}

// exitMmap removes every VMA, sealed or not, and forgets the breakpoints
// and counters (exit_mmap).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) exitMmap() {
	for _, v := range as.overlapping(0, TaskSize) {
		as.vmaStartWrite(v)
		as.unlinkFree(v)
	}
	as.dropBreakpoints(0, TaskSize)
	as.dropRefCtrs(0, TaskSize)
	as.refDelayed = nil
}
