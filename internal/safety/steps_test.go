package safety

// edit replaces Old, which must occur on exactly one of the step's tagged
// lines, by New.
type edit struct{ Old, New string }

// step is one safety step: its tag, the file that holds it, how to remove
// it, and the tests that must fail without it: top-level names, in the
// file's package unless written "DIR/Name" (DIR relative to the module
// root). The first names the step in the package doc's table.
type step struct {
	Tag   string
	File  string // relative to the module root
	Edits []edit
	Tests []string
}

// never makes the condition cond false, keeping it compiled (so that what
// it reads stays used); always makes it true.
func never(cond string) edit  { return edit{cond, "false && (" + cond + ")"} }
func always(cond string) edit { return edit{cond, "true || (" + cond + ")"} }

var steps = []step{
	// mm: the mmap lock and its sequence count (mmaplock.go).
	{"writelock-order", "mm/mmaplock.go",
		[]edit{{"l.rw.Lock()", "l.seq.bump()"}, {"l.seq.bump()", "l.rw.Lock()"}},
		[]string{"TestWriteLockOrder"}},
	{"writeunlock-order", "mm/mmaplock.go",
		[]edit{{"l.seq.bump()", "l.rw.Unlock()"}, {"l.rw.Unlock()", "l.seq.bump()"}},
		[]string{"TestWriteUnlockOrder"}},
	{"mmseq-refuse-odd", "mm/mmaplock.go",
		[]edit{always("seq&1 == 0")},
		[]string{"TestMMSeqRefusesOdd"}},
	{"mmseq-retry", "mm/mmaplock.go",
		[]edit{never("l.seq.load() != seq")},
		[]string{"TestResolveAfterTryBegin"}},
	// mm: vmaseq (resolve.go).
	{"vmaseq-refuse-locked", "mm/resolve.go",
		[]edit{never("vs == as.lock.Seq()")},
		[]string{"TestVMASeqRefusesLocked"}},
	{"vmaseq-range", "mm/resolve.go",
		[]edit{never("addr < m.Start || addr >= m.End")},
		[]string{"TestVMASeqRange"}},
	{"vmaseq-mm-check", "mm/resolve.go",
		[]edit{never("v.mm.Load() != as")},
		[]string{"TestVMASeqMMCheck"}},
	{"vmaseq-detach-check", "mm/resolve.go",
		[]edit{never("(rc == 0 || rc&detachFlag != 0)")},
		[]string{"TestVMASeqNeedsDetachCheck"}},
	{"vmaseq-generation", "mm/resolve.go",
		[]edit{never("v.gen.Load() != gen")},
		[]string{"TestVMASeqCrossMMReuse"}},
	{"vmaseq-recheck", "mm/resolve.go",
		[]edit{never("v.lockSeq.Load() != vs")},
		[]string{"TestVMASeqRecheck"}},
	// mm: VMA locks and detach (vmalock.go).
	{"vmalock-refuse-detached", "mm/vmalock.go",
		[]edit{never("old == 0 || old&detachFlag != 0")},
		[]string{"TestVMALockRefusesDetached"}},
	{"vmalock-exclude", "mm/vmalock.go",
		[]edit{never("old >= refLimit")},
		[]string{"TestStartWriteExcludes"}},
	{"vmalock-mm-check", "mm/vmalock.go",
		[]edit{never("v.mm.Load() != as")},
		[]string{"TestVMALockMMCheck"}},
	{"vmalock-recheck", "mm/vmalock.go",
		[]edit{never("v.lockSeq.Load() == as.lock.Seq() && (h == nil || !h.NoValidate)")},
		[]string{"TestVMALockRecheck"}},
	{"vmalock-range", "mm/vmalock.go",
		[]edit{never("addr < v.Start() || addr >= v.End()")},
		[]string{"TestVMALockRange"}},
	{"startwrite-drain", "mm/vmalock.go",
		[]edit{{"as.waitRefs(v, excludeFlag+1)", ""}},
		[]string{"TestStartWriteDrains"}},
	// mm: what the CPU finds at an address (breakpoint.go).
	{"bp-seq", "mm/breakpoint.go",
		[]edit{{"; ok {", "; true || ok {"}, always("!as.lock.SpeculateRetry(seq)")},
		[]string{"TestHasBreakpointMidWrite"}},
	{"detach-wait", "mm/vmalock.go",
		[]edit{{"as.waitRefs(v, detachFlag)", ""}},
		[]string{"TestDetachWaitsForTransientReader"}},
	// mm: the lockless maps walks (locknext.go).
	{"lnext-seq-first", "mm/locknext.go",
		[]edit{{"seq, unlocked := as.lock.SpeculateTryBegin()", "var seq, unlocked = uint64(0), false"},
			{"v := e.vma", "v := e.vma; seq, unlocked = as.lock.SpeculateTryBegin()"}},
		[]string{"TestLockNextVMAGap"}},
	{"lnext-behind", "mm/locknext.go",
		[]edit{never("from >= v.End()")},
		[]string{"TestLockNextVMABehind"}},
	{"lnext-gap-recheck", "mm/locknext.go",
		[]edit{never("from < v.Start() && (h == nil || !h.NoGapRecheck)")},
		[]string{"TestLockNextVMAGap", "procfs/TestQueryGap"}},
	{"lnext-gap-odd", "mm/locknext.go",
		[]edit{never("!unlocked")},
		[]string{"TestLockNextVMAMidWrite"}},
	{"store-once", "mm/addrspace.go",
		[]edit{never("as.storing > 0 && !as.unbatched()")},
		[]string{"TestStoresPublishOnce"}},
	{"snap-begin-even", "mm/locknext.go",
		[]edit{{"; ok {", "; true || ok {"}},
		[]string{"TestSnapshotMidWrite"}},
	{"snap-record-locked", "mm/locknext.go",
		[]edit{{"as.lock.ReadLock()", ""}, {"as.lock.ReadUnlock()", ""}},
		[]string{"TestSnapshotMidWrite"}},
	{"snap-validate", "mm/locknext.go",
		[]edit{never("as.lock.SpeculateRetry(*seq) && (h == nil || !h.NoValidate)")},
		[]string{"TestSnapshotValidates"}},
	{"snap-file-tryget", "mm/locknext.go",
		[]edit{{"!f.TryGet()", "f.Get() == nil"}},
		[]string{"TestSnapshotPinsLiveFile"}},
	// procfs: what the maps reader and PROCMAP_QUERY do with a read-locked VMA.
	{"maps-copy-locked", "procfs/reader.go",
		[]edit{{"in := v.LockedInfo()", "v.EndRead()"}, {"v.EndRead()", "in := v.LockedInfo()"}},
		[]string{"TestMapsCopiesUnderLock"}},
	{"query-copy-locked", "procfs/query.go",
		[]edit{{"in := v.LockedInfo()", "v.EndRead()"}, {"v.EndRead()", "in := v.LockedInfo()"}},
		[]string{"TestQueryCopiesUnderLock"}},

	// uprobes: the registry's lookups (registry.go).
	{"find-miss-seq", "uprobes/registry.go",
		[]edit{always("s&1 == 0 && r.seq.Load() == s")},
		[]string{"TestFindMissRetriesDuringWrite"}},
	{"find-tryget", "uprobes/registry.go",
		[]edit{{"!u.TryGet()", "u.refs.Add(1) < 0"}},
		[]string{"TestFindRefusesDying"}},
	{"find-key-recheck", "uprobes/registry.go",
		[]edit{always("u.hasKey(k) || (th != nil && th.NoRecheck)")},
		[]string{"TestFindRecheckRejectsReusedUprobe"}},
	{"findrcu-dying", "uprobes/registry.go",
		[]edit{always("u.refs.Load() > 0")},
		[]string{"TestFindRCURefusesDying"}},
	{"findrcu-key-recheck", "uprobes/registry.go",
		[]edit{always("(u.hasKey(k) || th != nil && th.NoRecheck)")},
		[]string{"TestFindRCURecheckRejectsReusedUprobe"}},
	{"findrcu-miss-seq", "uprobes/registry.go",
		[]edit{always("s&1 == 0 && r.seq.Load() == s")},
		[]string{"TestFindRCUMissRetriesDuringWrite"}},
	{"alloc-refs-last", "uprobes/registry.go",
		[]edit{{"u.setKey(k)", "u.refs.Store(1)"}, {"u.refs.Store(1)", "u.setKey(k)"}},
		[]string{"TestAllocRefsLast"}},
	// uprobes: deferred frees (registry.go).
	{"free-quiescent", "uprobes/registry.go",
		[]edit{always("r.rcu.Quiescent() && r.leases.Quiescent()")},
		[]string{"TestOneReclaimer"}},
	{"grace-period", "uprobes/registry.go",
		[]edit{{"r.rcu.Synchronize()", ""}},
		[]string{"TestGracePeriodBeforeLeaseScan"}},
	{"lease-wait", "uprobes/registry.go",
		[]edit{{"r.leases.SynchronizeExpire(LeaseTimeout, expireLeases)", ""}},
		[]string{"TestLeaseExpiresToGone"}},
	{"return-section", "uprobes/registry.go",
		[]edit{{"r.rcu.Synchronize()", ""}},
		[]string{"TestReturnSectionAfterLeaseScan"}},
	// uprobes: return instances and leases (task.go).
	{"return-lease", "uprobes/task.go",
		[]edit{{"t.lease.Lock()", ""}},
		[]string{"TestLeaseExpiresToGone"}},
	{"return-rcu", "uprobes/task.go",
		[]edit{{"t.rd.Lock()", ""}, {"t.rd.Unlock()", ""}},
		[]string{"TestReturnLeaseExpiresDuringReturn"}},
	{"popreturn-cas", "uprobes/task.go",
		[]edit{always("ri.state.CompareAndSwap(w, w&^0xff|riConsumed)")},
		[]string{"TestPopReturnClaimsAgainstExpiry"}},
	{"exit-lease", "uprobes/task.go",
		[]edit{{"t.lease.Unlock()", ""}},
		[]string{"TestExitEndsLeaseSection"}},
}
