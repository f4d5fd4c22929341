package mm

import (
	"testing"
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

// TestLockNextVMAGap is the gap problem of the merged design: a walk
// positioned at P's end finds A; before it read-locks A, A's first two
// pages are mprotected to P's protection, so P grows over them and A (the
// same VMA) now starts two pages above the position. The position was
// mapped before (by A) and after (by P): the walk must return P, never A
// with a gap in front of it. Each step is needed: without the re-lookup,
// or with the sequence recorded after the lookup instead of before it,
// the walk returns A.
func TestLockNextVMAGap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		plant   func(*Hooks)
		wantBug bool
	}{
		{"correct", func(*Hooks) {}, false},
		{"no gap recheck", func(h *Hooks) { h.NoGapRecheck = true }, true},
		{"sequence after lookup", func(h *Hooks) { h.SeqAfterLookup = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Hooks{}
			tc.plant(h)
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
			if bug := start > from; bug != tc.wantBug {
				t.Errorf("walk from %#x returned a VMA at %#x (stats %v); gap reported: %v, want %v", from, start, st, bug, tc.wantBug)
			}
			if !tc.wantBug && st[WalkFallbackGap] != 1 {
				t.Errorf("stats %v: want one gap fallback", st)
			}
		})
	}
}

// TestLockNextVMABehind: a walk positioned inside A finds A; before it
// read-locks A, A's last four pages are mprotected to N's protection, so
// N grows down over them and A (the same VMA) now ends below the
// position. The walk must not return A (a maps reader would print a line
// behind the last one and move its position backwards).
func TestLockNextVMABehind(t *testing.T) {
	for _, noCheck := range []bool{false, true} {
		h := &Hooks{NoBehindCheck: noCheck}
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
		bug := v.End() <= from
		v.EndRead()
		if bug != noCheck {
			t.Errorf("NoBehindCheck=%v: returned a VMA ending at or below the position: %v (stats %v)", noCheck, bug, st)
		}
		if !noCheck && st[WalkFallbackBehind] != 1 {
			t.Errorf("stats %v: want one behind fallback", st)
		}
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

// TestSnapshotValidates: a VMA changed between the lockless copy and the
// sequence check is copied again; without the check the stale copy is
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
