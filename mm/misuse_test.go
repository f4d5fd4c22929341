package mm

import (
	"testing"

	"specvma/internal/testsupport"
)

// TestMisusePanics: misuse panics, as Go's sync package does, instead of
// corrupting the lock state: a second EndRead for one read lock (it would
// eat the attach reference, or a writer's flag), and the write-side helpers
// called without the mmap write lock (the sequence count is even).
func TestMisusePanics(t *testing.T) {
	as, addr, _ := hookCase(t, &Hooks{})
	defer as.Exit()
	v, fail := as.lockVMA(addr)
	if fail != readOK {
		t.Fatalf("lockVMA: %s", fail)
	}
	v.EndRead()
	testsupport.MustPanic(t, "EndRead without a read lock", v.EndRead)
	v.refcnt.Store(1) // repair what the refused EndRead took

	testsupport.MustPanic(t, "without the mmap write lock", func() { as.vmaStartWrite(v) })
	testsupport.MustPanic(t, "without the mmap write lock", func() { as.setRange(v, v.Start(), v.End(), v.Pgoff()) })
	testsupport.MustPanic(t, "without the mmap write lock", func() { as.unlinkFree(v) })
	testsupport.MustPanic(t, "without the mmap write lock", func() { as.newVMA(0x1000, 0x2000, 0, 0, nil) })
	if err := as.checkInvariants(); err != nil {
		t.Fatalf("after the refused calls: %v", err)
	}
}

// TestFindContract: a find callback that takes an mmap lock deadlocks
// against a writer (it runs under the VMA read lock or the mmap read lock);
// with Hooks.CheckFind it panics instead, on every strategy, whether the
// lock is this address space's or another's with the same Hooks. A find
// that only reads passes.
func TestFindContract(t *testing.T) {
	h := &Hooks{CheckFind: true}
	as, addr, _ := hookCase(t, h)
	defer as.Exit()
	other := New(Config{Test: h})
	for _, s := range Strategies() {
		if _, ok, _ := Resolve(as, addr, s, identity); !ok {
			t.Fatalf("%s: a reading find found nothing", s)
		}
		testsupport.MustPanic(t, "find callback took an mmap lock", func() {
			Resolve(as, addr, s, func(m Mapping) (Info, bool) { return as.Lookup(addr) })
		})
		testsupport.MustPanic(t, "find callback took an mmap lock", func() {
			Resolve(as, addr, s, func(m Mapping) (int, bool) { other.SetLayout(Layout{}); return 0, true })
		})
	}
	// Outside find the same goroutine may take the lock.
	if _, ok := as.Lookup(addr); !ok {
		t.Fatal("Lookup after the checks found nothing")
	}
}
