package mm

import "specvma/internal/mmhook"

// Walking the address space one VMA at a time without holding the mmap lock
// across the walk: what /proc/PID/maps readers and PROCMAP_QUERY need. Two
// designs are here, both answering "the first VMA that ends above from":
//
//   - LockNextVMA (lock_next_vma, merged in 6.17): the VMA comes back
//     read-locked, so it cannot change until EndRead.
//   - SnapshotNextVMA (get_vma_snapshot, the earlier RCU proposal): the VMA
//     is copied without any lock and the copy is validated with the mm
//     sequence count.
//
// NextVMALocked is the plain version for a caller holding the mmap lock.

// WalkEvent is something a lockless walk step did besides answering at once.
type WalkEvent int

// Walk events. The Retry ones repeat the lookup without a lock; the
// Fallback ones take the mmap read lock for that step.
const (
	WalkRetryDetached    WalkEvent = iota // lock_next_vma: the VMA found had been detached; looked up again
	WalkFallbackLocked                    // lock_next_vma: the VMA was write-locked (or being drained)
	WalkFallbackUnstable                  // lock_next_vma: the VMA memory belonged to another address space
	WalkFallbackBehind                    // lock_next_vma: the VMA now ends at or below from (it shrank or moved)
	WalkFallbackGap                       // lock_next_vma: a gap before the VMA was not confirmed by a re-lookup
	WalkGapConfirmed                      // lock_next_vma: a gap after a change, confirmed by the re-lookup (no fallback)
	WalkRetrySeq                          // snapshot: the sequence moved (also when the File could not be pinned); the lock re-recorded it
	NumWalkEvents
)

var walkEventNames = [...]string{"retry_detached", "fallback_locked", "fallback_unstable",
	"fallback_behind", "fallback_gap", "gap_confirmed", "retry_seq"}

func (e WalkEvent) String() string { return walkEventNames[e] }

// WalkStats counts walk events by kind. A nil *WalkStats counts nothing.
type WalkStats [NumWalkEvents]uint64

func (s *WalkStats) add(e WalkEvent) {
	if s != nil {
		s[e]++
	}
}

// Add adds o's counts to s.
func (s *WalkStats) Add(o *WalkStats) {
	for i := range s {
		s[i] += o[i]
	}
}

// Layout returns the layout (brk, stack, gate) under the mmap read lock.
func (as *AddressSpace) Layout() Layout {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	return Layout{as.startBrk, as.brk, as.startStack, as.gate}
}

// NextVMALocked returns a copy of the first VMA that ends above from
// (find_vma). The caller holds the mmap lock, in either mode.
func (as *AddressSpace) NextVMALocked(from uint64) (Info, bool) {
	if e, ok := as.index.Load().findVMA(from); ok {
		return e.vma.info(), true
	}
	return Info{}, false
}

// LockNextVMA returns the first VMA that ends above from, read-locked, or
// nil when there is none (lock_next_vma). The caller reads it with
// LockedInfo and releases it with EndRead. It takes no lock on its fast
// path; st counts the retries and fallbacks.
//
// The steps, each needed:
//  1. record the mm sequence before the lookup (a writer that completes
//     between lookup and lock must show up as a change);
//  2. look up the first entry ending above from in the published tree and
//     read-lock its VMA; a detached VMA means a newer tree exists: look up
//     again; a write-locked one falls back to the mmap lock;
//  3. with the lock held, the VMA's range is stable: if it now ends at or
//     below from it moved behind the reader: fall back;
//  4. if it starts above from there is a gap in front of it. The gap is
//     real if nothing changed since step 1; otherwise look up from again:
//     only if the newest tree gives the same VMA is the gap confirmed, else
//     fall back. The re-lookup may run while a writer is mid-change: every
//     published tree version is a layout a reader may see, because a
//     writer publishes each change that replaces a range (a split, a merge,
//     a MAP_FIXED replacement, an munmap) in one version, as the maple
//     tree's range store does (store.go).
func (as *AddressSpace) LockNextVMA(from uint64, st *WalkStats) *VMA {
	h := as.hooks()
	for {
		seq, unlocked := as.lock.SpeculateTryBegin() // safety:lnext-seq-first
		e, ok := as.index.Load().findVMA(from)
		if !ok {
			return nil
		}
		if h != nil && h.AfterNextLookup != nil {
			h.AfterNextLookup()
		}
		v := e.vma // safety:lnext-seq-first: the sequence is recorded above, before the lookup
		switch as.vmaStartRead(v) {
		case readOK:
		case readDetached:
			st.add(WalkRetryDetached)
			continue
		case readUnstable:
			st.add(WalkFallbackUnstable)
			return as.lockNextVMASlow(from)
		default:
			st.add(WalkFallbackLocked)
			return as.lockNextVMASlow(from)
		}
		if from >= v.End() { // safety:lnext-behind
			v.EndRead()
			st.add(WalkFallbackBehind)
			return as.lockNextVMASlow(from)
		}
		if from < v.Start() && (h == nil || !h.NoGapRecheck) { // safety:lnext-gap-recheck
			if !unlocked || as.lock.SpeculateRetry(seq) { // safety:lnext-gap-odd
				if !as.gapConfirmed(from, v) {
					v.EndRead()
					st.add(WalkFallbackGap)
					return as.lockNextVMASlow(from)
				}
				st.add(WalkGapConfirmed)
			}
		}
		return v
	}
}

// gapConfirmed reports whether the newest published tree gives v as the
// first VMA ending above from (vma_next from the position again).
func (as *AddressSpace) gapConfirmed(from uint64, v *VMA) bool {
	if h := as.hooks(); h != nil && h.BeforeRelookup != nil {
		h.BeforeRelookup()
	}
	e, found := as.index.Load().findVMA(from)
	return found && e.vma == v
}

// lockNextVMASlow is lock_next_vma_under_mmap_lock: find the VMA under the
// mmap read lock, read-lock it (no writer can hold it now) and drop the
// mmap lock again.
func (as *AddressSpace) lockNextVMASlow(from uint64) *VMA {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	e, ok := as.index.Load().findVMA(from)
	if !ok {
		return nil
	}
	e.vma.refcnt.Add(1) // vma_start_read_locked: attached, and no writer can drain it now
	return e.vma
}

// LockedInfo copies v; the caller holds v's read lock (LockNextVMA) and
// drops it only after the copy.
func (v *VMA) LockedInfo() Info {
	if as := v.mm.Load(); as != nil {
		if h := as.hooks(); h != nil && h.BeforeLockedCopy != nil {
			h.BeforeLockedCopy()
		}
	}
	return v.info()
}

// SnapshotBegin records the mm sequence for SnapshotNextVMA. When a writer
// holds the mmap lock it waits for it, taking the read lock just long
// enough to record an even value.
func (as *AddressSpace) SnapshotBegin() uint64 {
	if seq, ok := as.lock.SpeculateTryBegin(); ok { // safety:snap-begin-even
		return seq
	}
	return as.recordSeqLocked()
}

func (as *AddressSpace) recordSeqLocked() uint64 {
	as.lock.ReadLock()   // safety:snap-record-locked
	seq := as.lock.Seq() // even: no writer while we hold the read lock
	as.lock.ReadUnlock() // safety:snap-record-locked
	return seq
}

// SnapshotNextVMA copies the first VMA that ends above from without taking
// any lock (get_vma_snapshot). The copy is kept only if the mm sequence
// still equals *seq afterwards: then no writer ran since *seq was recorded,
// and the copy is one consistent state. Otherwise it takes the mmap read
// lock only to record the current sequence in *seq, and tries again. The
// copy's File, if any, is pinned (a try-get that refuses a File whose last
// reference is gone): the caller drops it with ReleaseSnapshot.
//
// A failed pin always comes with a moved sequence, so it is a retry_seq
// like any other; SnapshotNextVMA panics if it ever does not. The
// argument: the VMA was found in the tree published when the walk looked
// it up, after *seq was recorded even (no writer in the middle of a
// change: SnapshotBegin and the locked re-record both make sure); a VMA in
// that tree holds a reference to its File, so the pin fails only if the
// VMA dropped that reference or stopped pointing at that File; only
// freeVMA drops it and only newVMA sets the pointer, both under the mmap
// write lock, whose taking advanced the sequence first, and Go's atomics
// are sequentially consistent, so a reader that saw the effect sees the
// advance. VMA and File memory is reused (type-stable), but reuse needs
// the free first. TestSnapshotPinsLiveFile (one failed pin, placed) and
// TestSnapshotPinRace (pins failing under a racing writer) run the check;
// procfs's maps race tests and the monitor bench map no files.
func (as *AddressSpace) SnapshotNextVMA(from uint64, seq *uint64, st *WalkStats) (Info, bool) {
	h := as.hooks()
	for {
		e, found := as.index.Load().findVMA(from)
		var in Info
		pinned := true
		if found {
			in, pinned = snapshotVMA(e.vma, h)
		}
		if h != nil && h.AfterTryBegin != nil {
			h.AfterTryBegin()
		}
		changed := as.lock.SpeculateRetry(*seq) && (h == nil || !h.NoValidate) // safety:snap-validate
		if pinned && !changed {
			return in, found
		}
		ReleaseSnapshot(&in)
		if !pinned && h != nil && h.PinFailed != nil {
			h.PinFailed()
		}
		if !pinned && !as.lock.SpeculateRetry(*seq) {
			panic("mm: snapshot walk: a File pin failed while the mm sequence stayed unchanged (see SnapshotNextVMA)")
		}
		st.add(WalkRetrySeq)
		*seq = as.recordSeqLocked()
	}
}

// snapshotVMA copies v's fields with single loads and pins its File. It
// reports false when the File could not be pinned. h may be nil.
func snapshotVMA(v *VMA, h *mmhook.Hooks) (Info, bool) {
	in := Info{
		Start: v.start.Load(), End: v.end.Load(), Pgoff: v.pgoff.Load(),
		Flags: VMFlags(v.flags.Load()), AnonVMA: v.anon.Load(),
	}
	if f := v.file.Load(); f != nil {
		if h != nil && h.AfterFileLoad != nil {
			h.AfterFileLoad()
		}
		if !f.TryGet() { // safety:snap-file-tryget
			return Info{}, false
		}
		if v.file.Load() != f { // the File we pinned is no longer this VMA's
			f.Put()
			return Info{}, false
		}
		in.File, in.Inode, in.Path = f, f.Inode(), f.Path()
	}
	if p := v.name.Load(); p != nil {
		in.AnonName = *p
	}
	if p := v.special.Load(); p != nil {
		in.Special = *p
	}
	return in, true
}

// ReleaseSnapshot drops the File pin SnapshotNextVMA took.
func ReleaseSnapshot(in *Info) {
	if in.File != nil {
		in.File.Put()
		in.File = nil
	}
}
