package mm

import (
	"fmt"
	"testing"

	"specvma/vfs"
)

// TestSeqWraparound shows Jann Horn's point from the review thread: the
// mm-wide speculation is only as good as its counter's width. A writer that
// replaces the mapping under a speculating reader and then takes the mmap
// lock often enough to bring a narrowed sequence count back to the value
// the reader began with makes the reader accept a stale answer. With the
// 64-bit count the same history is caught and the reader falls back.
func TestSeqWraparound(t *testing.T) {
	const base = 0x200000000000
	inoA := vfs.InodeID{Dev: vfs.Dev{Major: 0, Minor: 0x77}, Ino: 1}
	inoB := vfs.InodeID{Dev: vfs.Dev{Major: 0, Minor: 0x77}, Ino: 2}
	for _, tc := range []struct {
		bits      int
		wantStale bool
	}{{0, false}, {4, true}} {
		hooks := &Hooks{SeqBits: tc.bits}
		as := New(Config{Test: hooks})
		fa := vfs.NewFile("/a", vfs.InodeFor(inoA), vfs.ORdonly)
		fb := vfs.NewFile("/b", vfs.InodeFor(inoB), vfs.ORdonly)
		if _, err := as.Mmap(base, PageSize, ProtRead|ProtExec, MapPrivate|MapFixed, fa, 0); err != nil {
			t.Fatal(err)
		}
		once := false
		hooks.AfterTryBegin = func() {
			if once {
				return
			}
			once = true
			// One write hold replaces the mapping (two counts)...
			if _, err := as.Mmap(base, PageSize, ProtRead|ProtExec, MapPrivate|MapFixed, fb, 0); err != nil {
				t.Error(err)
			}
			// ...and seven more bring a 4-bit count all the way round.
			for i := 0; i < 7; i++ {
				if err := as.Mprotect(base, PageSize, ProtRead|ProtExec); err != nil {
					t.Error(err)
				}
			}
		}
		got, ok, why := Resolve(as, base, MMSeq, func(m Mapping) (vfs.InodeID, bool) {
			return m.Inode.ID(), true
		})
		if !ok {
			t.Fatalf("bits %d: nothing resolved", tc.bits)
		}
		stale := got == inoA
		if stale != tc.wantStale {
			t.Errorf("bits %d: resolved %v (fallback %v); stale answer %v, want %v", tc.bits, got, why, stale, tc.wantStale)
		}
		if !tc.wantStale && why != SeqChanged {
			t.Errorf("bits %d: fallback %v, want %v", tc.bits, why, SeqChanged)
		}
		if tc.wantStale && why != FastPath {
			t.Errorf("bits %d: fallback %v, want the (wrong) fast path", tc.bits, why)
		}
		as.Exit()
		fa.Put()
		fb.Put()
	}
}

// wrapBits are the widths the wraparound tests run: the real 64 bits, and
// 4 bits, where a wrap takes eight write holds.
var wrapBits = []int{0, 4}

// TestWrapStartWriteSkipsDrain: vmaStartWrite takes "vm_lock_seq equals
// the mm count" to mean "already write-locked in this hold" and returns
// without draining readers. A VMA read-locked and untouched while the
// count comes round to the value it last stored looks exactly like that:
// with 4 bits the eighth write hold after the VMA's last write lock changes
// it under its reader without waiting; with 64 bits the writer waits.
func TestWrapStartWriteSkipsDrain(t *testing.T) {
	for _, bits := range wrapBits {
		t.Run(fmt.Sprintf("bits=%d", bits), func(t *testing.T) {
			h := &Hooks{SeqBits: bits}
			as, addr, _ := hookCase(t, h)
			defer as.Exit()
			v, fail := as.lockVMA(addr)
			if fail != readOK {
				t.Fatalf("lockVMA: %s", fail)
			}
			// Empty write holds until the next hold's count (4 bits) is
			// the VMA's vm_lock_seq: seven of them.
			for i := 0; (as.lock.Seq()+1)&15 != v.lockSeq.Load()&15; i++ {
				as.lock.WriteLock()
				as.lock.WriteUnlock()
			}
			s1 := snapVMA(v)
			waited, finish := writerWaits(t, h, func() error { return as.Mprotect(concRegion(1), PageSize, ProtRead) })
			s2 := snapVMA(v)
			v.EndRead()
			finish()
			changed := s1 != s2
			if bits == 4 && (waited || !changed) {
				t.Errorf("4 bits: the writer waited=%v, VMA changed=%v; want the drain skipped and the VMA changed under its reader", waited, changed)
			}
			if bits == 0 && (!waited || changed) {
				t.Errorf("64 bits: the writer waited=%v, VMA changed=%v; want a wait and no change", waited, changed)
			}
			if changed {
				t.Logf("changed under the read lock: %+v -> %+v", s1, s2)
			}
		})
	}
}

// TestWrapVMASeqAcceptsTorn: vmaseq trusts an unchanged vm_lock_seq. A
// reader stopped between its loads of vm_start and vm_pgoff while a writer
// splits the VMA in place (start and offset move), the count comes round,
// and a writer write-locks the VMA again in the hold whose count equals
// the value the reader loaded: with 4 bits the recheck passes and the
// reader combines the old start with the new offset; with 64 bits it
// falls back.
func TestWrapVMASeqAcceptsTorn(t *testing.T) {
	for _, bits := range wrapBits {
		t.Run(fmt.Sprintf("bits=%d", bits), func(t *testing.T) {
			h := &Hooks{SeqBits: bits}
			as, addr, _ := hookCase(t, h)
			defer as.Exit()
			v := as.findRCU(addr)
			vs := v.lockSeq.Load()
			ran := false
			h.AfterStartLoad = func() {
				if ran {
					return
				}
				ran = true
				if err := as.Mprotect(concRegion(1)+PageSize, 3*PageSize, ProtRead); err != nil {
					t.Fatal(err) // v keeps [+1 page, +4 pages) at offset 1 page
				}
				for i := 0; i < 16 && (as.lock.Seq()+1)&15 != vs&15; i++ {
					as.lock.WriteLock()
					as.lock.WriteUnlock()
				}
				if err := as.Mprotect(concRegion(1)+PageSize, 3*PageSize, ProtRead|ProtWrite); err != nil {
					t.Fatal(err) // write-locks v again, in the hold counting vs
				}
			}
			m, ok, why := Resolve(as, addr, VMASeq, identity)
			if !ran {
				t.Fatal("the hook never ran")
			}
			err := checkAnswer(1, addr, m, ok)
			if bits == 4 && (err == nil || why != FastPath) {
				t.Errorf("4 bits: fallback %s, checker: %v; want a torn answer from the fast path", why, err)
			}
			if bits == 0 && (err != nil || why != VMAChanged) {
				t.Errorf("64 bits: fallback %s, checker: %v; want vma_changed and a right answer", why, err)
			}
			if err != nil {
				t.Logf("accepted: %v", err)
			}
		})
	}
}
