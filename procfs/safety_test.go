package procfs

// Tests for the safety steps of the maps reader and PROCMAP_QUERY (the
// table in doc.go); internal/safety removes each step and requires its
// test to fail. Deterministic: mm's test hooks stop the reader or start a
// writer at the point where the step matters.

import (
	"errors"
	"testing"

	"specvma/errno"
	"specvma/internal/mmhook"
	"specvma/internal/testsupport"
	"specvma/mm"
)

const stepBase = uint64(0x7e0000000000)

// mapAnon maps n anonymous pages with prot at page p of stepBase.
func mapAnon(t *testing.T, as *mm.AddressSpace, p, n uint64, prot int) {
	t.Helper()
	if _, err := as.Mmap(stepBase+p*mm.PageSize, n*mm.PageSize, prot, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
		t.Fatal(err)
	}
}

// copyUnderReuse reads (read) an address space holding one VMA, X; when
// the reader is about to copy X, which it has read-locked, a writer
// unmaps X and maps memory in a second address space, which gets X's VMA
// memory. While the reader holds the read lock the writer must wait for
// it (the WaitRefs hook says it does); a reader that dropped the lock
// before copying lets the writer finish first and copies the VMA's next
// life. It returns what read printed, and what it printed with no writer.
func copyUnderReuse(t *testing.T, read func(as *mm.AddressSpace) string) (got, want string) {
	h := &mmhook.Hooks{View: &mmhook.View{}}
	as := mm.New(mm.Config{Test: h})
	h2 := &mmhook.Hooks{View: &mmhook.View{}}
	as2 := mm.New(mm.Config{Test: h2})
	defer as.Exit()
	defer as2.Exit()
	mapAnon(t, as, 0, 2, mm.ProtRead)
	x := h.View.VMA(stepBase)
	want = read(as)

	waiting, done := make(chan struct{}, 1), make(chan error, 1)
	h.WaitRefs = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	h.BeforeLockedCopy = testsupport.Once(func() {
		go func() {
			err := as.Munmap(stepBase, 2*mm.PageSize)
			if err == nil {
				_, err = as2.Mmap(stepBase+64*mm.PageSize, 3*mm.PageSize, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0)
			}
			done <- err
		}()
		select {
		case <-waiting: // the reader's lock holds the writer off
		case err := <-done: // nothing held it off: it unmapped X and reused its memory
			done <- err
		}
	})
	got = read(as)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h2.View.VMA(stepBase+64*mm.PageSize) != x {
		t.Fatal("setup: the second address space did not reuse X's VMA memory")
	}
	return got, want
}

// TestMapsCopiesUnderLock (maps-copy-locked): the vmalock maps reader
// copies the VMA it read-locked before it drops the lock; the other order
// prints whatever the memory holds by then (here another address space's
// VMA).
func TestMapsCopiesUnderLock(t *testing.T) {
	got, want := copyUnderReuse(t, func(as *mm.AddressSpace) string {
		text, _ := ReadAll(as, ReadVMALock)
		return string(text)
	})
	if got != want {
		t.Errorf("maps read while X was unmapped and its VMA reused:\n%s\nwant (X as it was):\n%s", got, want)
	}
}

// TestQueryCopiesUnderLock (query-copy-locked): PROCMAP_QUERY copies the
// VMA it read-locked before it drops the lock.
func TestQueryCopiesUnderLock(t *testing.T) {
	got, want := copyUnderReuse(t, func(as *mm.AddressSpace) string {
		r, err := OpenMaps(as, ReadVMALock).Query(Query{Addr: stepBase})
		if err != nil {
			return err.Error()
		}
		return r.Line()
	})
	if got != want {
		t.Errorf("query while X was unmapped and its VMA reused: %s\nwant (X as it was): %s", got, want)
	}
}

// TestQueryGap (lnext-gap-recheck, seen through PROCMAP_QUERY): P ends at
// the queried address and A starts there; after the query's walk found A
// and before it read-locks it, A's first two pages are mprotected to P's
// protection, so P grows over the address. The address was mapped before
// and after: the query must return P, never ENOENT (no
// COVERING_OR_NEXT: A now starts above it). The NoGapRecheck switch plants
// the bug and must give ENOENT.
func TestQueryGap(t *testing.T) {
	for _, noRecheck := range []bool{false, true} {
		h := &mmhook.Hooks{NoGapRecheck: noRecheck}
		as := mm.New(mm.Config{Test: h})
		mapAnon(t, as, 0, 4, mm.ProtRead|mm.ProtWrite)
		mapAnon(t, as, 4, 8, mm.ProtRead)
		addr := stepBase + 4*mm.PageSize
		h.AfterNextLookup = testsupport.Once(func() {
			if err := as.Mprotect(addr, 2*mm.PageSize, mm.ProtRead|mm.ProtWrite); err != nil {
				t.Error(err)
			}
		})
		r, err := OpenMaps(as, ReadVMALock).Query(Query{Addr: addr})
		bug := errors.Is(err, errno.ENOENT)
		if bug != noRecheck || !bug && (err != nil || r.Start != stepBase || r.End != addr+2*mm.PageSize) {
			t.Errorf("NoGapRecheck=%v: query %#x across the change: %s, %v; want P [%#x, %#x) unless planted",
				noRecheck, addr, r.Line(), err, stepBase, addr+2*mm.PageSize)
		}
		as.Exit()
	}
}
