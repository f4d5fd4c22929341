package mm

import (
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
