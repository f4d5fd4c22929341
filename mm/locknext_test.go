package mm

import (
	"testing"

	"specvma/internal/testsupport"
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

// walkAcross runs LockNextVMA from from, with change run once between the
// walk's lookup and its read lock (h is as's Hooks), and returns the range
// of the VMA it returned and the walk's events.
func walkAcross(t *testing.T, h *Hooks, as *AddressSpace, from uint64, change func()) (start, end uint64, st WalkStats) {
	t.Helper()
	h.AfterNextLookup = testsupport.Once(change)
	v := as.LockNextVMA(from, &st)
	if v == nil {
		t.Fatal("no VMA")
	}
	start, end = v.Start(), v.End()
	v.EndRead()
	return start, end, st
}

// mprotecting returns a change that mprotects n pages at addr to prot.
func mprotecting(t *testing.T, as *AddressSpace, addr, n uint64, prot int) func() {
	return func() {
		if err := as.Mprotect(addr, n*PageSize, prot); err != nil {
			t.Error(err)
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
		start, _, st := walkAcross(t, h, as, from, mprotecting(t, as, from, 2, ProtRead|ProtWrite))
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
	_, end, st := walkAcross(t, h, as, from, mprotecting(t, as, lnBase+8*PageSize, 4, ProtRead|ProtExec))
	if end <= from || st[WalkFallbackBehind] != 1 {
		t.Errorf("walk from %#x returned a VMA ending at %#x (stats %v); want N, through one behind fallback", from, end, st)
	}
}

// parkedWriter is a writer stopped in the middle of a change: it holds the
// mmap write lock, a VMA it removes is out of the published tree, and what
// replaces it is not in yet (its BeforeDetach hook). The model's writers
// publish such intermediate trees; the maple tree's range stores do not,
// which is why the model's walks need the steps shown by the tests below.
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
	h.BeforeDetach = testsupport.Once(func() { close(at); <-w.resume })
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
	h.BeforeReadLock = testsupport.Once(func() { close(atLock) })
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

// replaceP maps fresh anonymous r-x memory over [base, base+n pages),
// which P covers: the model removes P (publishing a tree without it)
// before it inserts the new VMA.
func replaceP(as *AddressSpace, n uint64) func() error {
	return func() error {
		_, err := as.Mmap(lnBase, n*PageSize, ProtRead|ProtExec, MapPrivate|MapAnonymous|MapFixed, nil, 0)
		return err
	}
}

// TestLockNextVMAMidWrite (lnext-gap-odd, lnext-relookup-odd,
// lnext-relookup-retry, lnext-end-recheck): a gap in front of the VMA
// found, or after the last one, is trusted only if no writer was changing
// the tree. Each case parks a writer with P out
// of the tree and its replacement not yet in, so the tree shows a gap
// where memory is mapped before and after the change:
//
//   - before the walk: the sequence recorded at the start is odd, so the
//     unchanged sequence proves nothing and the gap must be re-looked-up;
//   - before the re-lookup: the walk saw a real change (P grew over the
//     position) and re-looks-up while the writer is parked: the re-lookup
//     must refuse the odd sequence;
//   - during the re-lookup: the writer parks between the re-lookup's
//     sequence load and its walk: the re-lookup must see the sequence move;
//   - replacing the last VMA, N, before the walk: the half-changed tree has
//     no VMA above the position at all, which must not end the walk
//     (found while writing procfs' TestLinearizableMaps: the maple tree has
//     no such intermediate state, so lock_next_vma trusts "none" at once).
//
// In every case the walk must go to the mmap read lock and return the
// replacement, never A from the half-changed tree. The last case plants
// NoRelookupValidate (the switch procfs/mapsrace uses) and wants A.
func TestLockNextVMAMidWrite(t *testing.T) {
	for _, tc := range []struct {
		name       string
		when       string // when the writer parks: "walk", "relookup", "inside", "end"
		noValidate bool
	}{
		{"writer before the walk", "walk", false},
		{"writer before the re-lookup", "relookup", false},
		{"writer during the re-lookup", "inside", false},
		{"writer replacing the last VMA", "end", false},
		{"planted: re-lookup unvalidated", "relookup", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Hooks{NoRelookupValidate: tc.noValidate}
			as := lnSpace(t, h)
			from := lnBase + 4*PageSize // P's end: the mprotect below grows P over it
			var w *parkedWriter
			switch tc.when {
			case "walk":
				from = lnBase + 2*PageSize // inside P
				w = park(t, h, replaceP(as, 4))
			case "end":
				from = lnBase + 13*PageSize // inside N, the last VMA
				w = park(t, h, func() error {
					_, err := as.Mmap(lnBase+12*PageSize, 4*PageSize, ProtRead, MapPrivate|MapAnonymous|MapFixed, nil, 0)
					return err
				})
			default:
				grow := mprotecting(t, as, from, 2, ProtRead|ProtWrite)
				h.AfterNextLookup = testsupport.Once(func() {
					grow()
					if tc.when == "relookup" {
						w = park(t, h, replaceP(as, 6))
					}
				})
				if tc.when == "inside" {
					h.BeforeRelookup = testsupport.Once(func() { w = park(t, h, replaceP(as, 6)) })
				}
			}
			var start, end uint64
			answered := answeredMidWrite(t, h, &w, func() {
				if v := as.LockNextVMA(from, nil); v != nil {
					start, end = v.Start(), v.End()
					v.EndRead()
				}
			})
			bug := answered || start > from || end <= from
			if bug != tc.noValidate {
				t.Errorf("walk from %#x: [%#x, %#x), answered while the writer was parked: %v; want the bug: %v",
					from, start, end, answered, tc.noValidate)
			}
		})
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
		h.AfterTryBegin = testsupport.Once(func() {
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
			h.AfterTryBegin = testsupport.Once(func() { w = park(t, h, replaceP(as, 4)) })
		} else {
			w = park(t, h, replaceP(as, 4))
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
// panics on it first).
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
	h.AfterFileLoad = testsupport.Once(func() {
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
