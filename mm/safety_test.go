package mm

// One test per safety step of the lockless paths (the table in doc.go):
// each fails when its step alone is removed (internal/safety removes them
// one at a time) and passes with it. Deterministic: the hooks stop a reader
// or a writer at the point where the step matters.

import (
	"testing"
	"time"
)

// tearVMA changes v's start without its offset, as a writer that has
// write-locked v is allowed to between two stores; it returns the undo.
func tearVMA(v *VMA) func() {
	old := v.start.Load()
	v.start.Store(old - PageSize)
	return func() { v.start.Store(old) }
}

// lockHeldHook returns a hook that checks, where it runs, that the mmap
// lock's rwsem is held and the count is even (the wrong order shows as
// the other answer to one of the two), and a report of whether it ran.
func lockHeldHook(t *testing.T, as *AddressSpace, what string) (hook func(), ran *bool) {
	ran = new(bool)
	return func() {
		*ran = true
		if as.lock.rw.TryLock() {
			as.lock.rw.Unlock()
			t.Errorf("%s: the rwsem is not held", what)
		}
		if as.lock.Seq()&1 != 0 {
			t.Errorf("%s: the count is odd", what)
		}
	}, ran
}

// TestWriteLockOrder (writelock-order): WriteLock takes the rwsem before it
// makes the count odd. The other order would let a writer that waits for
// the lock turn the count even while the holder is still changing VMAs,
// and lockless readers would speculate on a half-done change.
func TestWriteLockOrder(t *testing.T) {
	h := &Hooks{}
	as := New(Config{Test: h})
	var ran *bool
	h.InWriteLock, ran = lockHeldHook(t, as, "between taking the write lock and the count going odd")
	as.lock.WriteLock()
	if as.lock.Seq()&1 != 1 {
		t.Error("the count is even under the write lock")
	}
	h.InWriteLock = nil
	as.lock.WriteUnlock()
	if !*ran {
		t.Fatal("the hook never ran")
	}
}

// TestWriteUnlockOrder (writeunlock-order): WriteUnlock makes the count
// even before it releases the rwsem. The other order would let the next
// writer take the lock and bump the count first: its hold would run with an
// even count (and store even values into vm_lock_seq), so mmseq and vmaseq
// readers would accept what it is changing.
func TestWriteUnlockOrder(t *testing.T) {
	h := &Hooks{}
	as := New(Config{Test: h})
	var ran *bool
	h.InWriteUnlock, ran = lockHeldHook(t, as, "between the count going even and releasing the write lock")
	as.lock.WriteLock()
	as.lock.WriteUnlock()
	if !*ran {
		t.Fatal("the hook never ran")
	}
}

// underWriter runs read while a writer holds the mmap lock with the VMA at
// hookCase's address write-locked and torn, and returns its fallback.
func underWriter(t *testing.T, read func(as *AddressSpace, addr uint64) (Mapping, Fallback)) (Mapping, Fallback) {
	as, addr, _ := hookCase(t, &Hooks{})
	defer as.Exit()
	v := as.findRCU(addr)
	as.lock.WriteLock()
	as.vmaStartWrite(v)
	undo := tearVMA(v)
	m, why := read(as, addr)
	undo()
	as.lock.WriteUnlock()
	return m, why
}

// TestMMSeqRefusesOdd (mmseq-refuse-odd): a speculation begun while a
// writer holds the lock would read its half-done change, and if the writer
// is still there at the retry check the count has not moved: the odd count
// must be refused at the start.
func TestMMSeqRefusesOdd(t *testing.T) {
	m, why := underWriter(t, func(as *AddressSpace, addr uint64) (Mapping, Fallback) {
		return resolveMMSeq(as, addr, identity)
	})
	if why != SeqBusy {
		t.Fatalf("mmseq under a writer: fallback %s (mapping %+v), want seq_busy", why, m)
	}
}

// TestVMASeqRefusesLocked (vmaseq-refuse-locked): a VMA whose vm_lock_seq
// equals the mm count is being changed; its writer stores nothing more
// into vm_lock_seq, so the recheck cannot see the change: the reader must
// refuse it at the first load.
func TestVMASeqRefusesLocked(t *testing.T) {
	m, why := underWriter(t, func(as *AddressSpace, addr uint64) (Mapping, Fallback) {
		return resolveVMASeq(as, addr, identity)
	})
	if why != VMALocked {
		t.Fatalf("vmaseq on a write-locked VMA: fallback %s (mapping %+v), want vma_locked", why, m)
	}
}

// TestVMASeqRecheck (vmaseq-recheck): a writer that changes the VMA in
// place between the reader's loads (here: mprotect splits off its first
// page, so the VMA's start and offset move) leaves the VMA attached, in
// this address space and in the same life; only vm_lock_seq shows it.
// Without the recheck the reader combines the old start with the new
// offset.
func TestVMASeqRecheck(t *testing.T) {
	h := &Hooks{}
	as, addr, _ := hookCase(t, h)
	defer as.Exit()
	ran := false
	h.AfterStartLoad = func() {
		if !ran {
			ran = true
			if err := as.Mprotect(concRegion(1)+PageSize, 3*PageSize, ProtRead); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, ok, why := Resolve(as, addr, VMASeq, identity)
	if !ran {
		t.Fatal("the hook never ran")
	}
	if err := checkAnswer(1, addr, m, ok); err != nil || why != VMAChanged {
		t.Fatalf("vmaseq across an in-place change: fallback %s, checker: %v; want vma_changed and a right answer", why, err)
	}
}

// TestVMASeqRange (vmaseq-range): a reader that walked a tree version from
// before a split finds a VMA that no longer covers the address, with a
// vm_lock_seq from the finished split that does not move again; without
// the range check it reports a mapping that does not contain the address.
func TestVMASeqRange(t *testing.T) {
	as, addr, _ := hookCase(t, &Hooks{})
	defer as.Exit()
	addr = concRegion(1) + 0x10
	stale := as.treeVersion()
	if err := as.Mprotect(concRegion(1)+2*PageSize, 2*PageSize, ProtRead); err != nil {
		t.Fatal(err)
	}
	m, ok, why := resolveVMASeqFrom(as, stale, addr, identity)
	if err := checkAnswer(1, addr, m, ok); err != nil || why != VMAChanged {
		t.Fatalf("vmaseq on a VMA moved away: fallback %s, checker: %v; want vma_changed and a right answer", why, err)
	}
}

// reuseElsewhere unmaps as1's mapping at region 1 and maps file 1 of
// address space 2 over the same range in as2, which gets the VMA memory;
// it returns that VMA.
func reuseElsewhere(t *testing.T, as1, as2 *AddressSpace) *VMA {
	t.Helper()
	v := as1.findRCU(concRegion(1))
	if err := as1.Munmap(concRegion(1), 4*PageSize); err != nil {
		t.Fatal(err)
	}
	f := concOpen(2, 1)
	defer f.Put()
	if _, err := as2.Mmap(concRegion(1), 4*PageSize, ProtRead|ProtExec, MapPrivate|MapFixed, f, 0); err != nil {
		t.Fatal(err)
	}
	if as2.findRCU(concRegion(1)) != v {
		t.Fatal("the other address space did not reuse the VMA")
	}
	return v
}

// TestVMASeqMMCheck (vmaseq-mm-check): a reader that walked a version from
// before an munmap, preempted before its first load while the VMA is
// reused by another address space, loads that life's generation and
// vm_lock_seq, which do not move again: only vm_mm tells.
func TestVMASeqMMCheck(t *testing.T) {
	as, addr, _ := hookCase(t, &Hooks{})
	as2 := New(Config{})
	defer as.Exit()
	defer as2.Exit()
	stale := as.treeVersion()
	reuseElsewhere(t, as, as2)
	m, ok, why := resolveVMASeqFrom(as, stale, addr, identity)
	if err := checkAnswer(1, addr, m, ok); err != nil || why != VMAChanged {
		t.Fatalf("vmaseq on a VMA of another address space: fallback %s, checker: %v; want vma_changed", why, err)
	}
}

// lockVMAFrom is LockVMA for a reader that walked tree version t: the
// newest version is put back from the BeforeVMARef hook (as must have
// Hooks), so a retry walks the real tree. Single-goroutine tests only.
func lockVMAFrom(as *AddressSpace, t *tree, addr uint64) (*VMA, readFail) {
	h := as.cfg.Test
	cur := as.index.Load()
	next := h.BeforeVMARef
	h.BeforeVMARef = func() {
		as.index.Store(cur)
		if next != nil {
			next()
		}
	}
	as.index.Store(t)
	v, fail := as.lockVMA(addr)
	as.index.Store(cur)
	h.BeforeVMARef = next
	return v, fail
}

// TestVMALockRefusesDetached (vmalock-refuse-detached): a reader that
// walked a version from before an munmap finds the freed VMA. Its
// reference count is zero; taking a reference anyway would read-lock freed
// memory (and corrupt its next life's count).
func TestVMALockRefusesDetached(t *testing.T) {
	as, addr, f := hookCase(t, &Hooks{})
	defer as.Exit()
	stale := as.treeVersion()
	nf := replaceFile(t, as, f, false)
	defer nf.Put()
	_, fail := lockVMAFrom(as, stale, addr)
	if fail != readNoVMA {
		// On readOK the "read lock" is a count of one on freed memory:
		// left as it is, since EndRead would rightly refuse to drop it.
		t.Fatalf("LockVMA through a stale tree: %s, want no_vma after retrying the walk", fail)
	}
}

// TestVMALockMMCheck (vmalock-mm-check): the same stale reader, the VMA
// reused meanwhile by another address space: its vm_lock_seq is the other
// count's, which never equals this one's, so only vm_mm refuses it.
func TestVMALockMMCheck(t *testing.T) {
	as, addr, _ := hookCase(t, &Hooks{})
	as2 := New(Config{})
	defer as.Exit()
	defer as2.Exit()
	stale := as.treeVersion()
	reuseElsewhere(t, as, as2)
	v, fail := lockVMAFrom(as, stale, addr)
	if fail == readOK {
		v.EndRead()
	}
	if fail != readUnstable {
		t.Fatalf("LockVMA on another address space's VMA: %s, want unstable", fail)
	}
}

// TestVMALockRecheck (vmalock-recheck): a writer that write-locks the VMA
// between the reader's early check and its reference (the count was 1, so
// it did not wait) is changing it; the recheck with the reference held is
// what refuses it.
func TestVMALockRecheck(t *testing.T) {
	h := &Hooks{}
	as, addr, _ := hookCase(t, h)
	defer as.Exit()
	v := as.findRCU(addr)
	var undo func()
	h.BeforeVMARef = func() {
		h.BeforeVMARef = nil
		as.lock.WriteLock()
		as.vmaStartWrite(v)
		undo = tearVMA(v)
	}
	got, fail := as.lockVMA(addr)
	if undo == nil {
		t.Fatal("the hook never ran")
	}
	if fail == readOK {
		got.EndRead()
	}
	undo()
	as.lock.WriteUnlock()
	if fail != readWriteLocked {
		t.Fatalf("LockVMA on a VMA write-locked after the early check: %s, want write_locked", fail)
	}
}

// TestVMALockRange (vmalock-range): the VMA found was split between the
// walk and the reference and no longer covers the address; the writer is
// gone, so every lock check passes.
func TestVMALockRange(t *testing.T) {
	h := &Hooks{}
	as, _, _ := hookCase(t, h)
	defer as.Exit()
	addr := concRegion(1) + 0x10
	h.BeforeVMARef = func() {
		h.BeforeVMARef = nil
		if err := as.Mprotect(concRegion(1)+2*PageSize, 2*PageSize, ProtRead); err != nil {
			t.Fatal(err)
		}
	}
	v, fail := as.lockVMA(addr)
	if fail == readOK {
		v.EndRead()
		t.Fatalf("LockVMA returned [%#x, %#x) for %#x", v.Start(), v.End(), addr)
	}
	if fail != readMoved {
		t.Fatalf("LockVMA after a split: %s, want moved", fail)
	}
}

// writerWaits runs write in a goroutine and reports whether it reached a
// wait for readers (the WaitRefs hook) before finishing. h must be as's
// Hooks. The caller then releases what the writer waits for and calls the
// returned function to wait for the writer.
func writerWaits(t *testing.T, h *Hooks, write func() error) (waited bool, finish func()) {
	t.Helper()
	waiting := make(chan struct{}, 1)
	h.WaitRefs = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	done := make(chan error, 1)
	go func() { done <- write() }()
	select {
	case <-waiting:
		waited = true
	case err := <-done:
		done <- err
	}
	return waited, func() {
		if err := <-done; err != nil {
			t.Error(err)
		}
		h.WaitRefs = nil
	}
}

// TestStartWriteDrains (startwrite-drain): a writer that write-locks a
// read-locked VMA waits for the reader; without the wait it changes the
// VMA under the reader's lock.
func TestStartWriteDrains(t *testing.T) {
	h := &Hooks{}
	as, addr, _ := hookCase(t, h)
	defer as.Exit()
	v, fail := as.lockVMA(addr)
	if fail != readOK {
		t.Fatalf("LockVMA: %s", fail)
	}
	s1 := snapVMA(v)
	waited, finish := writerWaits(t, h, func() error { return as.Mprotect(concRegion(1), PageSize, ProtRead) })
	s2 := snapVMA(v)
	v.EndRead()
	finish()
	if !waited {
		t.Error("the writer changed a read-locked VMA without waiting for its reader")
	}
	if s1 != s2 {
		t.Errorf("VMA changed under its read lock: %+v then %+v", s1, s2)
	}
}

// TestStartWriteExcludes (vmalock-exclude): while a writer waits for a
// VMA's readers, new readers are refused; one let in would read the VMA
// while the writer is about to change it, and could keep the writer
// waiting for good.
func TestStartWriteExcludes(t *testing.T) {
	h := &Hooks{}
	as, addr, _ := hookCase(t, h)
	defer as.Exit()
	v, fail := as.lockVMA(addr)
	if fail != readOK {
		t.Fatalf("LockVMA: %s", fail)
	}
	waited, finish := writerWaits(t, h, func() error { return as.Mprotect(concRegion(1), PageSize, ProtRead) })
	if !waited {
		v.EndRead()
		finish()
		t.Fatal("the writer did not wait for the reader")
	}
	v2, fail2 := as.lockVMA(addr)
	if fail2 == readOK {
		v2.EndRead()
	}
	v.EndRead()
	finish()
	if fail2 != readWriteLocked {
		t.Fatalf("a reader arriving while a writer drains got %s, want write_locked", fail2)
	}
}

// TestDetachWaitsForTransientReader (detach-wait): a reader that took its
// reference on a VMA already write-locked by an munmap holds it only until
// its recheck fails; the munmap must not free the VMA before that, or the
// reader's EndRead lands on the VMA's next life. The reader stops after its
// early check until the munmap has write-locked the VMA and taken it out of
// the tree; the munmap stops there until the reader has its reference.
func TestDetachWaitsForTransientReader(t *testing.T) {
	h := &Hooks{}
	as, addr, _ := hookCase(t, h)
	defer as.Exit()
	rAtRef, wAtDetach, rGotRef := make(chan struct{}), make(chan struct{}), make(chan struct{})
	wWaiting, wDone := make(chan struct{}, 1), make(chan error, 1)
	h.BeforeVMARef = func() { close(rAtRef); <-wAtDetach }
	h.BeforeDetach = func() { close(wAtDetach); <-rGotRef }
	h.WaitRefs = func() {
		select {
		case wWaiting <- struct{}{}:
		default:
		}
	}
	waitedFirst := false
	h.AfterVMARef = func() {
		close(rGotRef)
		select {
		case <-wWaiting:
			waitedFirst = true
		case err := <-wDone:
			wDone <- err
		}
	}
	res := make(chan readFail, 1)
	go func() {
		_, fail := as.lockVMA(addr)
		res <- fail
	}()
	<-rAtRef
	go func() { wDone <- as.Munmap(concRegion(1), 4*PageSize) }()
	fail := <-res
	if err := <-wDone; err != nil {
		t.Fatal(err)
	}
	if !waitedFirst {
		t.Error("the munmap freed the VMA while a reader's reference was in it")
	}
	if fail != readWriteLocked {
		t.Errorf("the transient reader got %s, want write_locked", fail)
	}
	if as.findRCU(addr) != nil {
		t.Error("the VMA is still mapped")
	}
}

// TestHasBreakpointMidWrite (bp-seq): a writer changes the breakpoint table
// in several steps within one hold (MAP_FIXED over a probed page removes
// the old page's breakpoint before the new page gets its own). A CPU cannot
// execute from the page in between: HasBreakpoint must not report the
// intermediate "no breakpoint" while the writer holds the lock. The test
// stops a writer there for 200 ms; the lockless read alone would answer at
// once (uprobes' TestLinearizableHits catches the same through histories).
func TestHasBreakpointMidWrite(t *testing.T) {
	as, addr, _ := hookCase(t, &Hooks{})
	defer as.Exit()
	id := ProbeID{Offset: 0x2010}
	as.lock.WriteLock()
	as.editBreakpoints(func(m map[uint64]ProbeID) { m[addr] = id })
	as.lock.WriteUnlock()

	as.lock.WriteLock()
	as.editBreakpoints(func(m map[uint64]ProbeID) { delete(m, addr) }) // the old page's, gone
	got := make(chan bool, 1)
	go func() { got <- as.HasBreakpoint(addr) }()
	select {
	case has := <-got:
		t.Errorf("HasBreakpoint answered %v in the middle of a write hold", has)
		got <- has
	case <-time.After(200 * time.Millisecond):
	}
	as.editBreakpoints(func(m map[uint64]ProbeID) { m[addr] = id }) // the new page's
	as.lock.WriteUnlock()
	if !<-got {
		t.Error("HasBreakpoint: no breakpoint, though every complete hold had one")
	}
}
