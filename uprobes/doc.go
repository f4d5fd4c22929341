// Package uprobes models the kernel's uprobe subsystem: a registry of probes
// keyed by (inode, file offset), their consumers, the tracefs uprobe_events
// syntax that creates them, the ELF symbol arithmetic that turns a function
// name into a file offset, the breakpoints a System installs in every
// address space that maps a probed file (system.go), and the trigger path a
// Task takes when it hits one (task.go: handle_swbp, uretprobes).
//
// # The trigger path (Task.Hit)
//
// A task that executes a breakpoint enters its read section of the
// registry's RCU domain (internal/rcu), resolves the address to (inode,
// offset) with its strategy (mm.Resolve: locked, mmseq, vmaseq or vmalock),
// looks the uprobe up with FindRCU, which takes no reference, runs the
// consumers, and leaves the section. A uprobe whose last reference is
// dropped is erased at once but returned to the type-stable cache only
// after a grace period (every task that was inside a section has left it),
// so a uprobe found inside a section keeps its identity until the section
// ends: the analogue of RCU Tasks Trace. A return probe pushes a return
// instance, leased (below), which Task.Return pops. When no uprobe is
// found, a breakpoint still there means SIGTRAP and none means the
// unregister raced: restart. Nothing on the fast path writes memory another
// task writes: the read section is marked in the task's own cache line,
// counters are per task, and the uprobe's shared reference count is not
// touched.
//
// # Return instances are leased (task.go)
//
// A return instance holds no reference, as the kernel's hprobes hold none:
// while a task has any, it keeps a section of the registry's lease domain
// open, and a released uprobe is not reused until every lease section that
// could name it has ended. A task that stays away longer than LeaseTimeout
// (a function that does not return) would hold frees up, so the waiting
// side (the registry's reclaimer) expires its leases: each leased instance
// is converted, by compare-and-swap on its state word, into a counted
// reference (stable), which Task.Return later Puts, or marked gone when the
// uprobe is already dying; the task's own pop races with that swap and the
// loser defers to the winner. The state word carries a generation, so a
// slot the task reused is never mistaken for the one that was expired. A
// Task that exits with instances pending ends its lease section. A Task
// must not be used by two goroutines at once (expiry aside).
//
// # Objects and lifetime
//
// A Uprobe comes from a type-stable cache owned by its Registry
// (internal/slab): when its last reference is dropped it is erased from the
// registry and its memory is handed to the next registration at once, the
// analogue of memory freed under SLAB_TYPESAFE_BY_RCU (or, in the kernel,
// memory whose grace period ended while a buggy reader still held it). The
// reference count follows refcount_t: every registered consumer holds one
// reference, every successful Find hands one to its caller, and the count
// never rises again once it has reached zero (TryGet fails at zero).
//
// # The lockless lookup (Find)
//
// The registry publishes an immutable table sorted by key through an
// atomic.Pointer, and keeps a 64-bit sequence count that is odd while a tree
// writer is between its begin and end. Find takes no mutex:
//
//  1. read the sequence count s, load the table, binary-search the key;
//  2. on a hit, TryGet the uprobe (refcount_inc_not_zero) and, holding that
//     reference, recheck the key stored in the object: the table entry may
//     name memory that was freed and reused for another key since the table
//     was published;
//  3. a hit that validates is returned with its reference (the caller Puts);
//  4. a miss, or a hit that fails validation, is believed only if s was even
//     and the count still equals s; otherwise the lookup retries, as
//     find_uprobe_rcu does with uprobes_seqcount.
//
// So a lockless lookup can only err towards "not found" while a writer is
// active, and the sequence count turns that into a retry. Fields a lockless
// reader touches (key, reference count, consumer list) are sync/atomic values;
// a reader trusts the key only after its TryGet succeeded, because
// re-initialisation stores the key before it stores the reference count of
// one (Go atomics are sequentially consistent, which stands in for the
// kernel's release/acquire pairing here).
//
// # Locks
//
// regMu (Registry.regMu, the analogue of register_rwsem) serialises
// register/unregister, the consumer lists and the OnInstall/OnRemove hooks;
// System.mu guards the attached address spaces and the events; treeMu
// (Registry.treeMu, uprobes_treelock) guards the table and its sequence
// count and calls nothing out while held. Their place in the order of the
// whole system, with the mmap locks the hooks take and the edge from
// mm's ProbeSource back into this package, is stated once, in package mm's
// documentation ("Lock order").
//
// Put may run the erase of a dying uprobe, which takes treeMu only, so it may
// be called from anywhere that does not hold treeMu, including under mm locks.
// A free that must wait for a grace period is queued for the registry's
// reclaimer: one goroutine at a time per registry, started on demand, which
// waits one grace period per batch of queued frees (call_rcu's batching) and
// exits when the queue is empty; Registry.Barrier waits for the frees queued
// before it. A Task that exits with return instances pending ends its lease
// section, so no free waits LeaseTimeout for it. Misuse of a read section
// (an Unlock outside one, a nested Lock, Close inside one) panics.
// Hooks must not call Register or Unregister (regMu is held).
//
// # Fork (fork.go)
//
// System.Fork copies an address space (mm.AddressSpace.Fork) under regMu,
// as dup_mmap runs under dup_mmap_sem, which registration excludes, and
// attaches the child, when the parent is attached, without installing
// anything: its breakpoints and SDT semaphore counts are the ones copied
// with the parent's pages (none from MADV_DONTFORK mappings), so a probe
// fires in the child's task, and unregistering removes it from parent and
// child alike, each counter moving back by the breakpoints its own address
// space had. Task.Fork is dup_utask: the child's task gets the parent's
// pending return instances, each with a counted reference of its own (the
// parent's leased ones are converted first, as hprobe_expire does), so
// both return through the return probe; with them it gets the parent's
// [uprobes] execute-out-of-line area at the same address (dup_xol_work),
// which fork does not copy (VM_DONTCOPY). The model's tasks create no
// such area of their own (they do not single-step); a model loaded from a
// live process has the one the process had. Checked against the kernel in
// difftest/uprobetest (TestTaskFork: a target forks inside a function
// with an entry and a return probe).
//
// What is not modelled: the inode size check and instruction-alignment check
// of uprobe_register (the registry keys on an identity, not an inode with a
// size; x86's breakpoint is one byte), and uprobe_unregister_sync (Go's
// garbage collector keeps a Consumer alive while any reader can see it).
//
// # Safety steps
//
// Each check, ordering and wait of the lockless lookups and the lifetime
// rules is tagged in the source ("// safety:NAME"); removing any one of
// them alone makes its test fail (internal/safety's harness does that for
// every row).
//
//	step                 protects against                                       test
//	find-miss-seq        believing a miss while a writer has the table half     TestFindMissRetriesDuringWrite
//	                     changed
//	find-tryget          raising a dying uprobe's count from zero               TestFindRefusesDying
//	find-key-recheck     a table entry naming memory reused for another key     TestFindRecheckRejectsReusedUprobe
//	findrcu-dying        returning a dying uprobe (its erase pending)           TestFindRCURefusesDying
//	findrcu-key-recheck  the same reuse for the reference-free lookup           TestFindRCURecheckRejectsReusedUprobe
//	findrcu-miss-seq     the half-changed table for the reference-free lookup   TestFindRCUMissRetriesDuringWrite
//	alloc-refs-last      a reader holding reused memory from an old table       TestAllocRefsLast
//	                     validating it under the old key mid re-initialisation
//	free-quiescent       freeing at once while a reader is in a section         TestOneReclaimer
//	grace-period         scanning leases before the hit sections that could     TestGracePeriodBeforeLeaseScan
//	                     still take one have ended
//	lease-wait           reusing a uprobe that a return instance leases         TestLeaseExpiresToGone
//	return-section       a Return that popped its lease just before the scan    TestReturnSectionAfterLeaseScan
//	                     gave up on it, still reading the uprobe
//	return-lease         a return instance pushed with no lease section open    TestLeaseExpiresToGone
//	return-rcu           a Return's chain running with nothing holding the      TestReturnLeaseExpiresDuringReturn
//	                     uprobe once its lease is expired
//	exit-lease           a task gone with its lease section open: every free    TestExitEndsLeaseSection
//	                     waits LeaseTimeout for it
//	popreturn-cas        a pop that consumes a leased instance while the        TestPopReturnClaimsAgainstExpiry
//	                     lease scan converts it: the scan's counted reference
//	                     is never dropped, and the uprobe never freed
package uprobes
