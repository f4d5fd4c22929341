// Package mm models a Linux process address space: VMAs with Linux 6.x's
// semantics for mmap, munmap, mprotect, mremap, madvise (the advice that
// changes VMA flags), mlock and friends, mseal, brk, fork (fork.go: the
// child's copy, and how fork children's anon_vmas merge afterwards), page
// faults and anonymous names (errno for errno, split for split, merge for
// merge), commit
// accounting under each overcommit mode (commit.go), the resource limits
// RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK and RLIMIT_STACK (rlimit.go,
// mlock.go, fault.go), hugetlbfs and
// MAP_HUGETLB mappings with their pool of huge pages and its reservations
// (hugetlb.go), the mmap lock
// with its sequence count, per-VMA locks, and the lockless paths that read
// all of it without the mmap lock.
//
// # API
//
// For programs that model or inspect address spaces: New, then Mmap,
// Munmap, Mprotect, Mremap, SetAnonName, Fault and Fork, with Linux's errno;
// Lookup, VMAs and Snapshot copy VMAs out (Info) under the mmap read lock;
// Install and SetLayout build an address space from a live process's maps.
// Resolve (and ResolveOrTrap) maps an address to its file page with one of
// four Strategies, three of them without the mmap lock.
//
// For /proc/PID/maps readers (package procfs): ReadLock and ReadUnlock (the
// shared side of the mmap lock only) with NextVMALocked; LockNextVMA, which
// hands out a read-locked VMA to copy with LockedInfo and release with
// VMA.EndRead; the validated snapshot walk (SnapshotBegin, SnapshotNextVMA);
// SpeculateTryBegin and SpeculateRetry, to validate lockless reads against
// the mm sequence count.
//
// For the uprobe subsystem (package uprobes; mm does not import it), the
// breakpoint layer (probe.go, breakpoint.go, refctr.go): SetProbeSource
// with a ProbeSource, InstallProbe and RemoveProbe, Breakpoint,
// HasBreakpoint and Breakpoints, RefCounter.
//
// For tests of this module: Config.Test (package internal/mmhook) opens
// windows inside the lockless paths, drops validation steps and narrows the
// sequence count; everything else tests use stays unexported (export_test.go).
//
// # Objects
//
// An AddressSpace (mm_struct) owns a VMA index, a persistent B+tree
// published through an atomic pointer (tree.go), and a mmapLock
// (mmaplock.go: a sync.RWMutex and the sequence count; a waiter spins
// briefly on a holder before it blocks, as rwsem's optimistic spinning).
// A writer publishes each range store — a split, a merge, a MAP_FIXED
// replacement, an munmap — as one tree version (store.go). A VMA (vm_area_struct, vma.go) points at a vfs.File (an
// open file description) which points at a vfs.Inode. VMA and File memory
// comes from type-stable caches and is reused at once after a free, by any
// address space: a pointer read without a lock may name a different object
// by the time it is used.
//
// # Lock order (the whole system)
//
// This is the one statement of the lock order for every package of
// specvma; uprobes, procfs and the rest point here. A lock may be taken
// while holding the locks above it in this tree, never one below it:
//
//	uprobes.Registry.regMu      register/unregister, consumer lists, System.Attach (register_rwsem),
//	  |                         System.Fork (dup_mmap_sem: no registration during a fork)
//	  uprobes.System.mu         attached address spaces and events (Detach holds it across SetProbeSource)
//	    mmap lock               write: every change (Mmap ... InstallProbe, RemoveProbe, SetProbeSource);
//	      |                     read: faults, Lookup/VMAs/Snapshot, ReadLock, Resolve's locked path
//	      child's mmap lock     Fork: the parent's write lock, then the new child's (nested: no one
//	      |                     else can reach the child yet); System.mu only after both are released
//	      VMA write lock        vmaStartWrite: only under the mmap write lock; drains the VMA's readers
//	      ProbeSource.ProbesIn  called by Mmap and Mremap under the mmap write lock (uprobe_mmap);
//	        |                   uprobes answers with lockless registry lookups, then Uprobe.Put, which
//	        uprobes.Registry.treeMu   may erase a dying uprobe under treeMu (uprobes_treelock)
//	      anonMu                anon_vma assignment, under the mmap read lock in faults
//	        slab cache mutexes  internal/slab: VMA, File and Uprobe caches (leaves)
//	uprobes.Registry.pendingMu, rcu.Domain's mutex   leaves: never held while taking another lock
//
// Cross-package edges, each where the lower package calls up through an
// interface or a callback:
//
//   - mm -> uprobes: ProbeSource.ProbesIn runs under the mmap write lock of
//     the address space being changed. It must not call back into that
//     address space, must not take regMu or System.mu (above the mmap lock),
//     and may take treeMu (below it) through Uprobe.Put.
//   - uprobes -> mm: the registry's OnInstall/OnRemove hooks (System's)
//     run under regMu and take System.mu, then each address space's mmap
//     write lock (InstallProbe, RemoveProbe), one at a time.
//   - Resolve's find callback runs under a VMA read lock or the mmap read
//     lock: it must not block and must take no mmap lock (mmhook.Hooks.
//     CheckFind turns a violation into a panic in tests).
//
// Not locks in this order: VMA read locks (lockVMA, LockNextVMA) are taken
// without the mmap lock and never wait, and a writer waits for them only
// while it holds nothing but the mmap write lock; RCU read sections and
// return-instance leases (internal/rcu) never block a writer, so a task may
// take the mmap read lock inside one (Task.Hit's fallback). What must never
// happen inside a read section, or under any lock above, is waiting for a
// grace period (rcu.Domain.Synchronize, uprobes.Registry.Barrier).
//
// Functions state what they require with a "Preconditions:" line, or by a
// Locked suffix: in mm the caller holds the mmap lock, either mode
// (vmasLocked, NextVMALocked); in uprobes' registry it holds treeMu
// (eraseLocked). Exported functions without either take what they need
// themselves and must be called with no mmap lock of that address space
// held.
//
// # Writers
//
// Every change runs under the mmap write lock, which makes the sequence
// count odd. Before changing a VMA a writer write-locks it: it drains the
// VMA's readers and stores the (odd) sequence into the VMA's lockSeq, before
// any other field changes. New VMAs get the same store first, even when
// their memory is reused. The tree is replaced, never edited: each change
// publishes a new version with one atomic store. Removing a VMA write-locks
// it, publishes a tree without it, marks it detached (refcnt 0, after
// waiting for transient readers to leave), drops its File reference and
// frees it.
// Unlocking makes the sequence even, which releases every VMA write lock at
// once.
//
// # Lockless readers (resolve.go, vmalock.go)
//
// A reader loads the tree pointer (the RCU read section: Go's garbage
// collector keeps every version it can reach alive) and then, depending on
// the strategy, validates:
//
//   - mmseq (SpeculateTryBegin / SpeculateRetry): begin only on an even
//     sequence; read VMA, File, inode and offset; accept only if the
//     sequence is unchanged. No writer ran, so nothing read was changed,
//     freed or reused.
//   - vmaseq: load the VMA's generation, then its lockSeq, and refuse if
//     lockSeq equals the mm sequence; read; accept only if the VMA still
//     belongs to this address space, is still attached, has the same
//     generation and the same lockSeq. Writers that touch other VMAs do not
//     disturb it. lockSeq alone is not enough: the attachment check covers
//     a VMA detached and released before the first load, which lockSeq
//     cannot see, and the generation check covers VMA memory reused by
//     another address space and back, whose lockSeq (a per-mm count) can
//     come back to the very value loaded.
//   - vmalock (lockVMA): take a reference that refuses detached and
//     write-draining VMAs, then recheck lockSeq against the mm sequence with
//     the reference held; the VMA is then stable until EndRead.
//
// Every field such readers touch is a sync/atomic value. Go's atomics are
// sequentially consistent, so a pair of accesses stays in program order;
// what the arguments need is that each pair below is written in this order
// (the kernel gets the same from the barrier named in parentheses):
//
//   - lockSeq before the other fields (vmaStartWrite, newVMA): a reader that
//     finds lockSeq unchanged after its reads read one state (the writer's
//     smp_wmb after vm_lock_seq).
//   - generation before lockSeq, on both sides: newVMA increments the
//     generation and then stores lockSeq, and vmaseq loads the generation
//     and then lockSeq. A reader that saw the new lockSeq therefore saw the
//     new generation too, and one that saw the old generation fails the
//     generation recheck even when the new lockSeq equals the old.
//   - attach before insert (link): markAttached comes before the tree
//     store, so a VMA found in any tree version is attached unless it has
//     since been removed; refcnt 0 then means "removed" to vmaseq's
//     attachment check and to lockVMA's retry (vma_mark_attached before
//     vma_iter_store).
//   - remove before detach (unlinkFree): the tree store without the VMA
//     comes before markDetached, so a reader that finds the VMA detached
//     knows a newer tree lacks it and retries the walk, and the wait for
//     readers to leave covers every reader that got a reference.
//   - reference before recheck (vmaStartRead): the read reference is in
//     place before lockSeq is compared again, so a writer that has not yet
//     stored lockSeq must wait for this reader (the smp_mb in
//     vma_start_read).
//   - sequence bump before unlock, lock before bump (mmapLock): the odd
//     count is visible before any change, the even one only after the last.
//
// A Resolve find callback must not block
// or take an address-space lock (resolve.go states the contract;
// mmhook.Hooks.CheckFind turns a violation into a panic in tests). Misuse panics as
// Go's sync does: a second VMA.EndRead, and a write-side helper
// (vmaStartWrite, newVMA, link, setRange, unlinkFree) called while the
// sequence is even, i.e. without the mmap write lock: one load of the
// sequence, which vmaStartWrite needs anyway. Each lockless path falls back to the
// mmap read lock and reports why (Fallback). The sequence counts are 64 bits
// wide; Config.Test narrows them for wraparound tests and lets tests stop a
// reader inside each window or drop validation.
//
// # Safety steps
//
// Each check, ordering and wait the lockless paths depend on is tagged in
// the source ("// safety:NAME"); removing any one of them alone makes its
// test fail (the harness in internal/safety does that for every row:
// SPECVMA_MUTANTS=1 go test -run TestMutants ./internal/safety/).
//
//	step                     protects against                                   test
//	writelock-order          the count made odd before the rwsem is held: a     TestWriteLockOrder
//	                         waiting writer turns it even under the holder
//	writeunlock-order        the rwsem released before the count is even: the   TestWriteUnlockOrder
//	                         next writer's hold runs with an even count
//	mmseq-refuse-odd         speculating inside a writer's hold, whose count    TestMMSeqRefusesOdd
//	                         does not move before the retry check
//	mmseq-retry              a writer between try_begin and the end: stale or   TestResolveAfterTryBegin
//	                         torn reads, reused File or VMA
//	vmaseq-refuse-locked     reading a VMA write-locked now (its writer will    TestVMASeqRefusesLocked
//	                         not store vm_lock_seq again)
//	vmaseq-range             a VMA from an older tree version that no longer    TestVMASeqRange
//	                         covers the address
//	vmaseq-mm-check          a VMA reused by another address space before the   TestVMASeqMMCheck
//	                         first load
//	vmaseq-detach-check      a VMA detached and freed before the first load     TestVMASeqNeedsDetachCheck
//	vmaseq-generation        a VMA reused elsewhere and back, vm_lock_seq       TestVMASeqCrossMMReuse
//	                         equal by coincidence of two counters
//	vmaseq-recheck           a writer changing the VMA in place between the     TestVMASeqRecheck
//	                         reader's loads (torn start/offset)
//	vmalock-refuse-detached  read-locking a freed VMA (refcnt 0) found through  TestVMALockRefusesDetached
//	                         an older tree version
//	vmalock-exclude          readers let in while a writer drains them          TestStartWriteExcludes
//	vmalock-mm-check         read-locking a VMA now in another address space    TestVMALockMMCheck
//	vmalock-recheck          a writer that write-locked the VMA between the     TestVMALockRecheck
//	                         early check and the reference
//	vmalock-range            a VMA split away from the address before the       TestVMALockRange
//	                         reference was taken
//	startwrite-drain         changing a VMA under a reader's read lock          TestStartWriteDrains
//	detach-wait              freeing a VMA while a transient reader's           TestDetachWaitsForTransientReader
//	                         reference is in it (its EndRead hits the next life)
//	bp-seq                   a task seeing "no breakpoint" in the middle of a   TestHasBreakpointMidWrite
//	                         hold that replaces a probed page (found by
//	                         uprobes' TestLinearizableHits)
//	lnext-seq-first          a writer completing between the walk's lookup     TestLockNextVMAGap
//	                         and its read lock going unnoticed: the gap it
//	                         opened in front of the VMA is trusted
//	lnext-behind             returning a VMA that shrank or moved to end at     TestLockNextVMABehind
//	                         or below the position (a line printed twice,
//	                         the position moving back)
//	lnext-gap-recheck        a gap in front of the VMA reported where a VMA     TestLockNextVMAGap
//	                         existed before and after a change (also through
//	                         PROCMAP_QUERY: procfs' TestQueryGap, ENOENT)
//	lnext-gap-odd            trusting "no change" from a sequence recorded      TestLockNextVMAMidWrite
//	                         odd, while a writer between two stores of one
//	                         call (mremap onto a mapping) fills the gap
//	store-once               a range store (split, merge, MAP_FIXED over a      TestStoresPublishOnce
//	                         mapping, munmap) published in steps: a version
//	                         with a hole where memory is mapped before and
//	                         after, which lock_next_vma's re-lookup confirms
//	snap-begin-even          a snapshot page validated against an odd count:    TestSnapshotMidWrite
//	                         copies from a half-changed tree accepted
//	snap-record-locked       the same after a failed validation: the count is   TestSnapshotMidWrite
//	                         recorded under the mmap read lock, so even
//	snap-validate            a copy of a VMA changed while it was copied        TestSnapshotValidates
//	snap-file-tryget         pinning a File whose last reference is gone:       TestSnapshotPinsLiveFile
//	                         raising a freed count from zero, a double free
//
// Runtime switches and source mutants: the steps above are removed by
// internal/safety's source mutants only, except where a switch in
// mmhook.Hooks removes one at run time too (NoGapRecheck:
// lnext-gap-recheck; PublishEachStep: store-once; NoValidate:
// snap-validate), because procfs/mapsrace's TestPlantedBugs plants
// them in every `go test` to show that the race test catches them; the
// step tests check the switches too. NoValidate also drops the checks of
// Resolve's strategies for the linearizability planted-bug test.
//
// Steps that are not safety steps, so not tagged: vmaStartRead's early
// lockSeq check (the recheck decides; the early one saves a reference),
// vmaStartWrite's return when already write-locked in this hold (the
// wraparound tests show what it assumes), and newVMA's storing lockSeq
// before the other fields (the generation check already covers a reader of
// the previous life); in LockNextVMA, looking up again when the VMA found
// was detached and falling back when it was write-locked or in another
// address space (vmaStartRead refuses those VMAs; what the walk does next
// only decides how soon it answers); in the snapshot walk, the recheck
// that the pinned File is still the VMA's (any change to the VMA moved the
// count, so validation throws such a copy away; the recheck only saves
// the copy).
//
// An invariant rather than a step: in the snapshot walk a failed File pin
// always comes with a moved sequence count (the File of a VMA in a tree
// published after the count was recorded even loses that VMA's reference
// only in freeVMA, under the mmap write lock, whose taking moved the
// count), so the walk counts it as retry_seq and has no reason of its own
// for it; it panics if a pin fails with the count unchanged, which
// TestSnapshotPinsLiveFile (one failed pin, placed) and
// TestSnapshotPinRace (pins failing under a racing writer) check (the
// argument in full at SnapshotNextVMA).
package mm
