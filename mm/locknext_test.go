package mm

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"specvma/vfs"
)

const lnBase uint64 = 0x200000000000

// lnSpace maps P = [base, base+4p) rw-, A = [base+4p, base+12p) r-- and
// N = [base+12p, base+16p) r-x: three VMAs that do not merge.
func lnSpace(t *testing.T, h *Hooks) *AddressSpace {
	t.Helper()
	as := New(Config{Test: h})
	if _, err := as.Mmap(lnBase, 4*PageSize, ProtRead|ProtWrite, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := as.Mmap(lnBase+4*PageSize, 8*PageSize, ProtRead, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := as.Mmap(lnBase+12*PageSize, 4*PageSize, ProtRead|ProtExec, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
		t.Fatal(err)
	}
	return as
}

// onceHook runs f the first time the hook fires.
func onceHook(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

// TestLockNextVMAGap (lnext-gap-recheck, lnext-seq-first) is the gap
// problem of the merged design: a walk positioned at P's end finds A;
// before it read-locks A, A's first two pages are mprotected to P's
// protection, so P grows over them and A (the same VMA) now starts two
// pages above the position. The position was mapped before (by A) and
// after (by P): the walk must return P, never A with a gap in front of it.
// Without the re-lookup, or with the sequence recorded after the lookup
// instead of before it (internal/safety's mutants), the walk returns A.
// The NoGapRecheck switch, which procfs/mapsrace plants, must do the same.
func TestLockNextVMAGap(t *testing.T) {
	for _, noRecheck := range []bool{false, true} {
		h := &Hooks{NoGapRecheck: noRecheck}
		as := lnSpace(t, h)
		from := lnBase + 4*PageSize // P's end
		a := as.vmaAt(from)
		h.AfterNextLookup = onceHook(func() {
			if err := as.Mprotect(from, 2*PageSize, ProtRead|ProtWrite); err != nil {
				t.Error(err)
			}
		})
		var st WalkStats
		v := as.LockNextVMA(from, &st)
		if v == nil {
			t.Fatal("no VMA")
		}
		start := v.Start()
		v.EndRead()
		if a.Start() != from+2*PageSize {
			t.Fatalf("setup: A starts at %#x after the mprotect; want it shrunk in place", a.Start())
		}
		if bug := start > from; bug != noRecheck {
			t.Errorf("NoGapRecheck=%v: walk from %#x returned a VMA at %#x (stats %v); gap reported: %v", noRecheck, from, start, st, bug)
		}
		if !noRecheck && st[WalkFallbackGap] != 1 {
			t.Errorf("stats %v: want one gap fallback", st)
		}
	}
}

// TestLockNextVMABehind (lnext-behind): a walk positioned inside A finds
// A; before it read-locks A, A's last four pages are mprotected to N's
// protection, so N grows down over them and A (the same VMA) now ends
// below the position. The walk must not return A (a maps reader would
// print a line behind the last one and move its position backwards).
func TestLockNextVMABehind(t *testing.T) {
	h := &Hooks{}
	as := lnSpace(t, h)
	from := lnBase + 10*PageSize // inside A
	h.AfterNextLookup = onceHook(func() {
		if err := as.Mprotect(lnBase+8*PageSize, 4*PageSize, ProtRead|ProtExec); err != nil {
			t.Error(err)
		}
	})
	var st WalkStats
	v := as.LockNextVMA(from, &st)
	if v == nil {
		t.Fatal("no VMA")
	}
	end := v.End()
	v.EndRead()
	if end <= from || st[WalkFallbackBehind] != 1 {
		t.Errorf("walk from %#x returned a VMA ending at %#x (stats %v); want N, through one behind fallback", from, end, st)
	}
}

// parkedWriter is a writer stopped in the middle of a call: it holds the
// mmap write lock and a VMA it removed is out of the published tree, not
// yet detached (its BeforeDetach hook).
type parkedWriter struct {
	t      *testing.T
	resume chan struct{}
	done   chan error
}

// park starts write in a goroutine and returns once it is parked; h is
// the address space's Hooks. It may run inside another goroutine's hook.
func park(t *testing.T, h *Hooks, write func() error) *parkedWriter {
	w := &parkedWriter{t: t, resume: make(chan struct{}), done: make(chan error, 1)}
	at := make(chan struct{})
	h.BeforeDetach = onceHook(func() {
		r := w.resume // read before close(at): the test may swap w.resume once it has seen at
		close(at)
		<-r
	})
	go func() { w.done <- write() }()
	select {
	case <-at:
	case err := <-w.done:
		t.Errorf("setup: the writer finished without removing a VMA (%v)", err)
		w.done <- err
	}
	return w
}

// finish lets the writer go on and waits for it.
func (w *parkedWriter) finish() {
	close(w.resume)
	if err := <-w.done; err != nil {
		w.t.Error(err)
	}
}

// answeredMidWrite runs read in a goroutine and reports whether it
// answered while *w (parked before read starts, or by read's own hooks)
// was still parked, instead of going to the mmap read lock, where it waits
// for the writer: deterministic both ways, through the BeforeReadLock
// hook. It then lets the writer finish and waits for read.
func answeredMidWrite(t *testing.T, h *Hooks, w **parkedWriter, read func()) (answered bool) {
	t.Helper()
	atLock, done := make(chan struct{}), make(chan struct{})
	h.BeforeReadLock = onceHook(func() { close(atLock) })
	go func() {
		defer close(done)
		read()
	}()
	select {
	case <-atLock:
	case <-done:
		answered = true
	}
	if *w == nil {
		<-done
		t.Fatal("setup: the writer was never parked")
	}
	(*w).finish()
	<-done
	h.BeforeReadLock = nil
	return answered
}

// replaceP moves N (r-x) onto P's range with MREMAP_FIXED: as in the
// kernel, the destination is unmapped first (a store without P) and the
// moved VMA stored there afterwards, so a writer parked at P's detach
// leaves a published tree with a gap where memory is mapped before and
// after the call. (A MAP_FIXED mmap over P stores its new VMA over P in
// one version: no such tree.)
func replaceP(as *AddressSpace) func() error {
	return func() error {
		_, err := as.Mremap(lnBase+12*PageSize, 4*PageSize, 4*PageSize, MremapMayMove|MremapFixed, lnBase)
		return err
	}
}

// TestLockNextVMAMidWrite (lnext-gap-odd): a gap in front of the VMA found
// is trusted without a re-lookup only if the sequence recorded before the
// lookup was even and is unchanged. The model's writers, like the kernel's,
// publish one tree version per range store, but one call can make several
// stores: an MREMAP_FIXED move onto P first unmaps P (a store without P),
// then stores the moved VMA there. The walk starts inside P while that
// writer is parked between the two stores (the sequence is odd, the tree
// shows a gap where P was) and finds A; before it locks A the writer makes
// its second store and parks again, still holding the mmap lock, so the
// sequence is the same odd value. An unchanged odd sequence proves nothing:
// the walk must look up again, see the moved VMA and go to the mmap read
// lock; trusting the gap (the source mutant) returns A, with a gap where
// memory is mapped.
func TestLockNextVMAMidWrite(t *testing.T) {
	h := &Hooks{}
	as := lnSpace(t, h)
	defer as.Exit()
	from := lnBase + 2*PageSize // inside P
	w := park(t, h, replaceP(as))
	// Between the lookup and the read lock: let the writer make its next
	// store (the moved VMA at P's place) and stop it right after.
	h.AfterNextLookup = onceHook(func() {
		stored := make(chan struct{})
		second := &parkedWriter{t: t, resume: make(chan struct{}), done: w.done}
		h.AfterPublish = onceHook(func() { close(stored); <-second.resume })
		close(w.resume)
		<-stored
		w = second // answeredMidWrite finishes this stop
		if e, ok := as.index.Load().lookup(from); !ok || e.start != lnBase {
			t.Error("setup: the writer's second store did not put the moved VMA at P's place")
		}
	})
	var start, end uint64
	answered := answeredMidWrite(t, h, &w, func() {
		if v := as.LockNextVMA(from, nil); v != nil {
			start, end = v.Start(), v.End()
			v.EndRead()
		}
	})
	if answered || start > from || end <= from {
		t.Errorf("walk from %#x: [%#x, %#x), answered while the writer was parked: %v; want the moved VMA, through the mmap read lock",
			from, start, end, answered)
	}
}

// TestLockNextVMAWriteLocked: a write-locked VMA sends the walk to the mmap
// lock, which waits for the writer and returns the VMA read-locked.
func TestLockNextVMAWriteLocked(t *testing.T) {
	as := lnSpace(t, nil)
	as.lock.WriteLock()
	a := as.vmaAt(lnBase + 4*PageSize)
	as.vmaStartWrite(a)
	done := make(chan *VMA)
	var st WalkStats
	go func() { done <- as.LockNextVMA(lnBase+4*PageSize, &st) }()
	// The walker either waits for the read lock or has not run yet.
	as.lock.WriteUnlock()
	v := <-done
	if v != a || v.refcnt.Load() != 2 {
		t.Fatalf("got %p refcnt %d, want A read-locked", v, v.refcnt.Load())
	}
	v.EndRead()
}

// TestSnapshotValidates (snap-validate): a VMA changed between the
// lockless copy and the sequence check is copied again; without the check
// (the NoValidate switch, which procfs/mapsrace plants) the stale copy is
// returned.
func TestSnapshotValidates(t *testing.T) {
	for _, noValidate := range []bool{false, true} {
		h := &Hooks{NoValidate: noValidate}
		as := lnSpace(t, h)
		h.AfterTryBegin = onceHook(func() {
			if err := as.Mprotect(lnBase+4*PageSize, 8*PageSize, ProtRead|ProtExec); err != nil {
				t.Error(err)
			}
		})
		var st WalkStats
		seq := as.SnapshotBegin()
		in, ok := as.SnapshotNextVMA(lnBase+4*PageSize, &seq, &st)
		if !ok {
			t.Fatal("no VMA")
		}
		stale := in.Flags&VMExec == 0
		if stale != noValidate {
			t.Errorf("NoValidate=%v: stale copy returned: %v (stats %v)", noValidate, stale, st)
		}
		if !noValidate && st[WalkRetrySeq] != 1 {
			t.Errorf("retries %v, want one retry_seq", st)
		}
	}
}

// TestSnapshotMidWrite (snap-begin-even, snap-record-locked): the
// sequence a snapshot walk validates against must be even, recorded while
// no writer holds the lock. A writer parked with P out of the tree, before
// the page begins or when the first copy fails validation, must make the
// walk wait for it under the mmap read lock; recording the odd count
// instead lets the walk copy A from the half-changed tree and validate it
// against a count the parked writer does not move.
func TestSnapshotMidWrite(t *testing.T) {
	for _, retry := range []bool{false, true} {
		h := &Hooks{}
		as := lnSpace(t, h)
		from := lnBase + 2*PageSize // inside P
		var w *parkedWriter
		if retry {
			h.AfterTryBegin = onceHook(func() { w = park(t, h, replaceP(as)) })
		} else {
			w = park(t, h, replaceP(as))
		}
		var in Info
		var ok bool
		answered := answeredMidWrite(t, h, &w, func() {
			seq := as.SnapshotBegin()
			in, ok = as.SnapshotNextVMA(from, &seq, nil)
			ReleaseSnapshot(&in)
		})
		if answered || !ok || in.Start > from || in.Flags&VMExec == 0 {
			t.Errorf("writer parked %s: copy [%#x, %#x) flags %v (found %v), answered while parked: %v; want the replacement of P",
				map[bool]string{false: "before the page", true: "at the retry"}[retry], in.Start, in.End, in.Flags, ok, answered)
		}
	}
}

// TestSnapshotPinsLiveFile (snap-file-tryget): the File the walk read from
// a VMA is freed (its mapping, the only reference, is unmapped) before the
// walk pins it. The pin must be a try-get that refuses a count of zero: a
// plain get would raise a freed File's count from zero, and the release
// after the failed validation would free it a second time (vfs's Get
// panics on it first). The failed pin is a retry_seq: the unmap that freed
// the File moved the count (the walk panics if a failed pin ever comes
// with an unchanged count).
func TestSnapshotPinsLiveFile(t *testing.T) {
	h := &Hooks{}
	as := lnSpace(t, h)
	live, _, _ := vfs.LiveFiles()
	at := lnBase + 16*PageSize
	f := vfs.NewFile("/ln/pin", linInode(1), vfs.ORdonly)
	if _, err := as.Mmap(at, 2*PageSize, ProtRead, MapPrivate|MapFixed, f, 0); err != nil {
		t.Fatal(err)
	}
	f.Put() // the mapping holds the only reference
	h.AfterFileLoad = onceHook(func() {
		if err := as.Munmap(at, 2*PageSize); err != nil {
			t.Error(err)
		}
	})
	var st WalkStats
	seq := as.SnapshotBegin()
	in, ok := as.SnapshotNextVMA(at, &seq, &st)
	ReleaseSnapshot(&in)
	if ok || st[WalkRetrySeq] != 1 {
		t.Errorf("walk over a File freed before the pin: %+v (found %v, stats %v); want nothing, after one retry", in, ok, st)
	}
	if now, _, _ := vfs.LiveFiles(); now != live {
		t.Errorf("live Files %d, %d before", now, live)
	}
}

// TestSnapshotPinRace races the snapshot walk against a writer that maps a
// fresh File (the mapping holding its only reference) and unmaps it, again
// and again, with the walk yielding between reading a VMA's File and
// pinning it, until pins have failed (the unmap freed the File first) and
// copies have been kept, 10 of each: each failed pin must come with a
// moved sequence count (SnapshotNextVMA panics otherwise). Every copy kept
// is the mapping whole, its File pinned; no pin leaks and nothing is freed
// twice (vfs panics on that). At one processor the walk's yield runs the
// writer through its next mapping too, which reuses the freed File and
// VMA (type-stable), so the pin succeeds on the reused File and the
// validation throws the copy away: pins almost never fail, and the test
// is skipped (TestSnapshotPinsLiveFile makes one fail deterministically).
func TestSnapshotPinRace(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs 2 processors to make pins fail")
	}
	var failed atomic.Int64
	h := &Hooks{AfterFileLoad: runtime.Gosched, PinFailed: func() { failed.Add(1) }}
	as := lnSpace(t, h)
	live, _, _ := vfs.LiveFiles()
	at := lnBase + 32*PageSize
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			f := vfs.NewFile("/ln/race", linInode(2), vfs.ORdonly)
			if _, err := as.Mmap(at, PageSize, ProtRead, MapPrivate|MapFixed, f, 0); err != nil {
				t.Error(err)
				return
			}
			f.Put()           // the mapping holds the only reference
			runtime.Gosched() // let the walk find it
			if err := as.Munmap(at, PageSize); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var st WalkStats
	walks, copies := 0, 0
	deadline := time.Now().Add(20 * time.Second)
	for ; failed.Load() < 10 || copies < 10; walks++ {
		if time.Now().After(deadline) {
			t.Errorf("after %d walks: %d failed pins, %d copies; want 10 of each", walks, failed.Load(), copies)
			break
		}
		seq := as.SnapshotBegin()
		in, ok := as.SnapshotNextVMA(at, &seq, &st)
		if ok {
			copies++
			if in.Start != at || in.End != at+PageSize || in.File == nil || in.File.Refs() < 1 || in.Path != "/ln/race" {
				t.Fatalf("copy %+v", in)
			}
		}
		ReleaseSnapshot(&in)
	}
	stop.Store(true)
	<-done
	if now, _, _ := vfs.LiveFiles(); now != live {
		t.Errorf("live Files %d, %d before", now, live)
	}
	if st[WalkRetrySeq] < uint64(failed.Load()) {
		t.Errorf("%d retries for %d failed pins: each failed pin is a retry", st[WalkRetrySeq], failed.Load())
	}
	t.Logf("%d walks, %d copies, %d failed pins, %d retries", walks, copies, failed.Load(), st[WalkRetrySeq])
}

// TestWalksAgree: with no writer, the three walks visit the same VMAs.
func TestWalksAgree(t *testing.T) {
	as := lnSpace(t, nil)
	var locked, vl, snap []Info
	as.lock.ReadLock()
	for pos := uint64(0); ; {
		in, ok := as.NextVMALocked(pos)
		if !ok {
			break
		}
		locked, pos = append(locked, in), in.End
	}
	as.lock.ReadUnlock()
	for pos := uint64(0); ; {
		v := as.LockNextVMA(pos, nil)
		if v == nil {
			break
		}
		in := v.LockedInfo()
		v.EndRead()
		vl, pos = append(vl, in), in.End
	}
	seq := as.SnapshotBegin()
	for pos := uint64(0); ; {
		in, ok := as.SnapshotNextVMA(pos, &seq, nil)
		if !ok {
			break
		}
		ReleaseSnapshot(&in)
		snap, pos = append(snap, in), in.End
	}
	if len(locked) != 3 || len(vl) != 3 || len(snap) != 3 {
		t.Fatalf("walks found %d, %d, %d VMAs; want 3 each", len(locked), len(vl), len(snap))
	}
	for i := range locked {
		if locked[i].Start != vl[i].Start || locked[i].Start != snap[i].Start || locked[i].End != snap[i].End {
			t.Errorf("VMA %d: %+v / %+v / %+v", i, locked[i], vl[i], snap[i])
		}
	}
}
