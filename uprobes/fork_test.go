package uprobes

import (
	"testing"
	"time"

	"specvma/mm"
)

// TestForkInheritsBreakpoints: a forked child's copied text carries the
// parent's breakpoints, so the probe fires in the child's task; a mapping
// the parent left without one (writable at registration) has none in the
// child either; a MADV_DONTFORK mapping is not in the child at all; the
// child's SDT semaphore is the parent's value, copied; the child's new
// mappings get breakpoints; and unregistering takes the breakpoints out of
// both and moves each counter back by the breakpoints it had.
func TestForkInheritsBreakpoints(t *testing.T) {
	const ino = 1201
	s := NewSystem()
	parent := mm.New(mm.Config{})
	s.Attach(parent)
	text, late, dontfork, data := fxBase, fxBase+0x100000, fxBase+0x200000, fxBase+0x300000
	fxMap(t, parent, text, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	fxMap(t, parent, late, 4*fxPage, fxRW, mm.MapPrivate, ino, 0)
	fxMap(t, parent, dontfork, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	fxMap(t, parent, data, fxPage, fxRW, mm.MapPrivate, ino, 0x5000)
	if err := parent.Madvise(dontfork, 4*fxPage, mm.MadvDontFork); err != nil {
		t.Fatal(err)
	}
	ctr := data + 8
	fxEvent(t, s, "p:fx/fork /fx/bin:0x1010(0x5008)", ino)
	if err := parent.Mprotect(late, 4*fxPage, fxRX); err != nil { // too late for a breakpoint
		t.Fatal(err)
	}
	fxWantBPs(t, parent, text+0x1010, dontfork+0x1010)
	child, err := s.Fork(parent)
	if err != nil {
		t.Fatal(err)
	}
	fxWantBPs(t, child, text+0x1010)
	if got := s.RefCtr(child, ctr); got != 2 {
		t.Errorf("child's SDT semaphore %d, want 2 (the parent's, copied)", got)
	}
	fxHitAll(t, s, child, map[uint64]string{
		text + 0x1010:     "fired fx/fork",
		late + 0x1010:     "no_trap -",
		dontfork + 0x1010: "no_trap -",
	})
	// A mapping the child makes later gets the probe (uprobe_mmap).
	fxMap(t, child, fxBase+0x400000, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	fxWantBPs(t, child, text+0x1010, fxBase+0x401010)
	if got := s.RefCtr(child, ctr); got != 3 {
		t.Errorf("child's SDT semaphore after a new mapping %d, want 3", got)
	}
	fxRemove(t, s, "fx/fork")
	fxWantBPs(t, parent)
	fxWantBPs(t, child)
	// The child's counter copied the parent's count of 2, one of them for
	// the MADV_DONTFORK mapping the child does not have; unregistering
	// takes back only the child's own two breakpoints, so it stays at 1,
	// as in Linux.
	if p, c := s.RefCtr(parent, ctr), s.RefCtr(child, ctr); p != 0 || c != 1 {
		t.Errorf("after unregister: SDT semaphores %d (parent), %d (child), want 0, 1", p, c)
	}
	fxHitAll(t, s, child, map[uint64]string{text + 0x1010: "no_trap -"})
}

// TestForkUnattached: the child of an address space no System instruments
// is not instrumented either.
func TestForkUnattached(t *testing.T) {
	const ino = 1202
	s := NewSystem()
	parent := mm.New(mm.Config{})
	fxMap(t, parent, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	child, err := s.Fork(parent)
	if err != nil {
		t.Fatal(err)
	}
	fxEvent(t, s, "p:fx/none /fx/bin:0x1010", ino)
	fxWantBPs(t, child)
}

// TestForkExcludesRegistration: a probe registered while a fork copies
// the address space must reach the child, through the copy or through its
// own installation; System.Fork holds regMu from the copy to the child's
// attachment, so a registration that starts in between waits for it. If
// it did not wait, the registration would install the breakpoint in the
// parent only, after the copy, and miss the child, not attached yet.
func TestForkExcludesRegistration(t *testing.T) {
	const ino = 1203
	s := NewSystem()
	parent := mm.New(mm.Config{})
	s.Attach(parent)
	fxMap(t, parent, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	done := make(chan struct{})
	var regErr error
	spec, err := ParseSpec("p:fx/race /fx/bin:0x1010")
	if err != nil {
		t.Fatal(err)
	}
	s.Registry().SetTestHooks(&TestHooks{AfterForkCopy: func() {
		go func() {
			defer close(done)
			_, regErr = s.AddEventAt(spec, fxIno(ino))
		}()
		select { // give it time to run into the fork, if nothing stops it
		case <-done:
		case <-time.After(50 * time.Millisecond):
		}
	}})
	child, err := s.Fork(parent)
	if err != nil {
		t.Fatal(err)
	}
	s.Registry().SetTestHooks(nil)
	<-done
	if regErr != nil {
		t.Fatal(regErr)
	}
	fxWantBPs(t, parent, fxBase+0x1010)
	fxWantBPs(t, child, fxBase+0x1010)
}

// TestTaskForkReturns: a task forked inside a probed function (dup_utask)
// returns from it too: the child's task has the parent's pending return
// instances, holding references of its own, so both fire the return probe,
// and once both have returned and the event is gone the uprobe is freed.
// The child also gets the parent's [uprobes] area back (dup_xol_work),
// which fork itself does not copy.
func TestTaskForkReturns(t *testing.T) {
	const ino = 1204
	base := fxTakeBaseline()
	s := NewSystem()
	parent := mm.New(mm.Config{})
	s.Attach(parent)
	fxMap(t, parent, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	fxEvent(t, s, "r:fx/ret /fx/bin:0x1010", ino)
	pt := s.NewTask(parent, mm.MMSeq)
	if got, _ := fxHit(pt, fxBase+0x1010); got != "fired -" || pt.Depth() != 1 {
		t.Fatalf("hit: %s, depth %d", got, pt.Depth())
	}
	// The parent's [uprobes] area (as a live process's loaded model has
	// it): fork skips it (VM_DONTCOPY), Task.Fork maps it again in a child
	// with pending returns, not in one without.
	const xol = 0x7fffffffe000
	xolFlags := mm.VMExec | mm.VMMayExec | mm.VMDontCopy | mm.VMIO
	if err := parent.Install(mm.Info{Start: xol, End: xol + fxPage, Flags: xolFlags, Special: "[uprobes]"}); err != nil {
		t.Fatal(err)
	}
	bare, err := s.Fork(parent)
	if err != nil {
		t.Fatal(err)
	}
	s.NewTask(parent, mm.MMSeq).Fork(bare).Exit()
	if v, ok := bare.Lookup(xol); ok {
		t.Errorf("a child forked with no pending return has %+v", v)
	}
	bare.Exit()
	child, err := s.Fork(parent)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := child.Lookup(xol); ok {
		t.Fatal("fork copied the [uprobes] area")
	}
	ct := pt.Fork(child)
	if ct.Depth() != 1 {
		t.Fatalf("the child's task has %d pending returns, want 1", ct.Depth())
	}
	if v, ok := child.Lookup(xol); !ok || v.Special != "[uprobes]" || v.Flags != xolFlags || v.End != xol+fxPage {
		t.Errorf("the child's [uprobes] area: %+v (%v)", v, ok)
	}
	for name, task := range map[string]*Task{"child": ct, "parent": pt} {
		names, ok := task.ReturnNames()
		if !ok || len(names) != 1 || names[0] != "fx/ret" {
			t.Errorf("%s's return fired %v (%v), want fx/ret", name, names, ok)
		}
	}
	ct.Exit()
	pt.Exit()
	fxRemove(t, s, "fx/ret")
	child.Exit()
	parent.Exit()
	s.Registry().Barrier()
	if st := s.Registry().Stats(); st.Live != 0 || s.Registry().Len() != 0 {
		t.Errorf("after both returns, the unregister and Barrier: stats %+v, table %d", st, s.Registry().Len())
	}
	base.Check(t)
}
