package uprobes

// Writers forced into each window of each lockless path (mmhook.Hooks, and the
// registry's TestHooks on FindRCU): the validated path must fall back and
// answer for the state after the write; with validation switched off the
// same history must give a wrong answer, which shows that the validation is
// what makes answers right (and that these tests can see the difference).

import (
	"sync"
	"testing"

	"specvma/internal/mmhook"
	"specvma/mm"
	"specvma/vfs"
)

// Inodes of the hook rig: the probed mapping's, the one whose File reuses
// the probed mapping's File memory, and the one mapped in its place. Each
// has its own event at the same offset, so every possible confusion names a
// different event.
const (
	hkOld, hkReuse, hkNew = 1201, 1202, 1203
	hkAddr                = fxBase + 0x1010
)

type hookRig struct {
	t    *testing.T
	s    *System
	as   *mm.AddressSpace
	h    *mmhook.Hooks
	view *mmhook.View
	f1   *vfs.File // the probed VMA's File
	v    any       // the probed VMA's identity (mmhook.View.VMA)
	keep []*vfs.File
	ran  bool
}

// newHookRig builds the rig on an address space whose sequence counts are
// seqBits wide (0: 64).
func newHookRig(t *testing.T, seqBits int) *hookRig {
	r := &hookRig{t: t, s: NewSystem(), view: &mmhook.View{}}
	r.h = &mmhook.Hooks{SeqBits: seqBits, View: r.view}
	r.as = mm.New(mm.Config{Test: r.h})
	r.s.Attach(r.as)
	fxEvent(t, r.s, "p:hk/old /fx/bin:0x1010", hkOld)
	fxEvent(t, r.s, "p:hk/reuse /fx/bin:0x1010", hkReuse)
	fxEvent(t, r.s, "p:hk/new /fx/bin:0x1010", hkNew)
	r.f1 = fxMap(t, r.as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, hkOld, 0)
	r.v = r.view.VMA(fxBase)
	if got := fxBPs(r.as); !fxSameAddrs(got, []uint64{hkAddr}) {
		t.Fatalf("breakpoints %#x", got)
	}
	t.Cleanup(func() {
		for _, f := range r.keep {
			f.Put()
		}
		r.as.Exit()
	})
	return r
}

// detach is the writer that unmaps the probed VMA (freeing it and its File)
// and opens a File on hkReuse, which gets the freed File's memory.
func (r *hookRig) detach() {
	r.ran = true
	if err := r.as.Munmap(fxBase, 4*fxPage); err != nil {
		r.t.Error(err)
	}
	f := fxOpen(hkReuse)
	r.keep = append(r.keep, f)
	if f != r.f1 {
		r.t.Error("the File cache did not reuse the unmapped File: the test proves nothing")
	}
}

// replace is detach, then a mapping of hkNew at the same address, which
// gets the freed VMA's memory.
func (r *hookRig) replace() {
	r.detach()
	fxMap(r.t, r.as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, hkNew, 0)
	if r.view.VMA(fxBase) != r.v {
		r.t.Error("the VMA cache did not reuse the unmapped VMA: the test proves nothing")
	}
}

func (r *hookRig) hit(st mm.Strategy) (string, Result) {
	task := r.s.NewTask(r.as, st)
	defer task.Exit()
	return fxHit(task, hkAddr)
}

// TestHooksForceWriterIntoWindow runs each window of mmseq and vmaseq with
// a writer inside, with and without validation.
func TestHooksForceWriterIntoWindow(t *testing.T) {
	const (
		tryBegin = "AfterTryBegin"
		seqLoad  = "AfterLockSeqLoad"
		fileLoad = "AfterFileLoad"
	)
	cases := []struct {
		st       mm.Strategy
		window   string
		write    string // "replace" or "detach"
		want     string // validated: the answer for the state after the write
		why      mm.Fallback
		noValid  string // the answer with mmhook.Hooks.NoValidate
		noValidW string // what is wrong with it
	}{
		// The write lands after the lookup: without the retry check the
		// hit reports the probe of a mapping that is gone.
		{mm.MMSeq, tryBegin, "replace", "fired hk/new", mm.SeqChanged, "fired hk/old", "stale"},
		{mm.MMSeq, tryBegin, "detach", "restart -", mm.SeqChanged, "fired hk/old", "stale"},
		// The write lands between vm_file and f_inode: the File memory now
		// belongs to hkReuse, which was never mapped at the address.
		{mm.MMSeq, fileLoad, "replace", "fired hk/new", mm.SeqChanged, "fired hk/reuse", "wrong"},
		{mm.MMSeq, fileLoad, "detach", "restart -", mm.SeqChanged, "fired hk/reuse", "wrong"},
		{mm.VMASeq, fileLoad, "replace", "fired hk/new", mm.VMAChanged, "fired hk/reuse", "wrong"},
		{mm.VMASeq, fileLoad, "detach", "restart -", mm.VMAChanged, "fired hk/reuse", "wrong"},
		// Between the vm_lock_seq load and everything else: a freed VMA
		// still points at its freed File, whose memory is hkReuse's now.
		{mm.VMASeq, seqLoad, "detach", "restart -", mm.VMAChanged, "fired hk/reuse", "wrong"},
		// Here every read comes after the write and sees the new mapping
		// through the reused VMA: even unvalidated, the answer is right.
		{mm.VMASeq, seqLoad, "replace", "fired hk/new", mm.VMAChanged, "fired hk/new", ""},
	}
	for _, c := range cases {
		for _, noValidate := range []bool{false, true} {
			name := c.st.String() + "/" + c.window + "/" + c.write
			if noValidate {
				name += "/novalidate"
			}
			t.Run(name, func(t *testing.T) {
				r := newHookRig(t, 0)
				write := r.replace
				if c.write == "detach" {
					write = r.detach
				}
				var once sync.Once
				hook := func() { once.Do(write) }
				switch c.window {
				case tryBegin:
					r.h.AfterTryBegin = hook
				case seqLoad:
					r.h.AfterLockSeqLoad = hook
				case fileLoad:
					r.h.AfterFileLoad = hook
				}
				r.h.NoValidate = noValidate
				got, res := r.hit(c.st)
				if !r.ran {
					t.Fatal("the hook never ran")
				}
				if noValidate {
					if got != c.noValid {
						t.Fatalf("without validation: hit = %q, want %q", got, c.noValid)
					}
					if c.noValidW != "" && got == c.want {
						t.Fatal("without validation the answer is still right: the test cannot see the bug")
					}
					if res.Fallback != mm.FastPath {
						t.Errorf("without validation: fallback %v, want none", res.Fallback)
					}
					return
				}
				if got != c.want || res.Fallback != c.why {
					t.Fatalf("hit = %q (fallback %v), want %q (fallback %v)", got, res.Fallback, c.want, c.why)
				}
				// The next hit, with no writer, agrees and takes the fast path
				// where something fires.
				again, res2 := r.hit(c.st)
				if c.write == "replace" && (again != c.want || res2.Fallback != mm.FastPath) {
					t.Errorf("quiescent hit after = %q (%v)", again, res2.Fallback)
				}
				if c.write == "detach" && again != "no_trap -" {
					t.Errorf("quiescent hit after = %q", again)
				}
			})
		}
	}
}

// TestHooksNotOnLockedPaths: the locked and vmalock paths have no window
// (the mmap lock or the VMA read lock excludes writers), so no hook runs.
func TestHooksNotOnLockedPaths(t *testing.T) {
	for _, st := range []mm.Strategy{mm.Locked, mm.VMALock} {
		r := newHookRig(t, 0)
		fail := func() { t.Errorf("%v ran a speculation hook", st) }
		r.h.AfterTryBegin, r.h.AfterLockSeqLoad, r.h.AfterFileLoad = fail, fail, fail
		if got, res := r.hit(st); got != "fired hk/old" || res.Fallback != mm.FastPath {
			t.Errorf("%v: hit = %q (%v)", st, got, res.Fallback)
		}
	}
}

// TestHooksVMASeqDetachCheck: the vmaseq recheck as posted in the thread
// compares vm_lock_seq only. A VMA detached and freed before the reader
// loads vm_lock_seq passes that comparison, and its vm_file names freed
// memory. There is no hook before that load, so the test narrows the
// sequence count to two bits: the munmap then write-locks the VMA with the
// value the reader already loaded, which is what such a reader sees. The
// attachment check catches it; Hooks.NoDetachCheck (the posted version)
// fires the event of an inode that was never mapped there.
func TestHooksVMASeqDetachCheck(t *testing.T) {
	for _, noCheck := range []bool{false, true} {
		r := newHookRig(t, 2)
		r.h.NoDetachCheck = noCheck
		seen := r.view.LockSeq(r.v)
		var once sync.Once
		r.h.AfterLockSeqLoad = func() {
			once.Do(func() {
				for { // empty write sections until the next one is `seen`
					if seq, _ := r.as.SpeculateTryBegin(); (seq+1)&3 == seen {
						break
					}
					r.view.EmptyWriteSection()
				}
				r.detach()
				if got := r.view.LockSeq(r.v); got != seen {
					t.Errorf("vm_lock_seq %d after the munmap, want %d", got, seen)
				}
			})
		}
		got, res := r.hit(mm.VMASeq)
		switch {
		case !r.ran:
			t.Fatal("the hook never ran")
		case noCheck && got != "fired hk/reuse":
			t.Errorf("without the attachment check: hit = %q (%v), want the wrong event hk/reuse", got, res.Fallback)
		case !noCheck && (got != "restart -" || res.Fallback != mm.VMAChanged):
			t.Errorf("with the attachment check: hit = %q (%v), want restart (vma_changed)", got, res.Fallback)
		}
	}
}

// Registry TestHooks on FindRCU, the lookup the trigger path uses.

func TestFindRCURecheckRejectsReusedUprobe(t *testing.T) {
	for _, noRecheck := range []bool{false, true} {
		r := NewRegistry()
		c1, c2 := &Consumer{Name: "g/one"}, &Consumer{Name: "g/two"}
		victim, _ := r.Register(fxIno(1), 0x10, 0, c1)
		var once sync.Once
		r.SetTestHooks(&TestHooks{NoRecheck: noRecheck, AfterLookup: func(u *Uprobe) {
			once.Do(func() {
				// No reader is registered, so the free is immediate and the
				// next registration gets the memory.
				if err := r.Unregister(u, c1); err != nil {
					t.Error(err)
				}
				if u2, _ := r.Register(fxIno(2), 0x20, 0, c2); u2 != u {
					t.Error("the uprobe memory was not reused: the test proves nothing")
				}
			})
		}})
		got := r.FindRCU(fxIno(1), 0x10)
		switch {
		case !noRecheck && got != nil:
			t.Errorf("FindRCU returned %p (key %v %#x) for a key nobody registers", got, got.Inode(), got.Offset())
		case noRecheck && (got != victim || got.Offset() != 0x20):
			t.Errorf("with NoRecheck: got %p, want the reused uprobe %p with the other key", got, victim)
		}
	}
}

// Inside a read section the grace period keeps an erased uprobe from being
// reused, so the lookup cannot see another key even without the recheck.
func TestFindRCUReadSectionDefersReuse(t *testing.T) {
	r := NewRegistry()
	c1, c2 := &Consumer{Name: "g/one"}, &Consumer{Name: "g/two"}
	victim, _ := r.Register(fxIno(1), 0x10, 0, c1)
	var again *Uprobe
	var once sync.Once
	r.SetTestHooks(&TestHooks{NoRecheck: true, AfterLookup: func(u *Uprobe) {
		once.Do(func() {
			if err := r.Unregister(u, c1); err != nil {
				t.Error(err)
			}
			again, _ = r.Register(fxIno(2), 0x20, 0, c2)
		})
	}})
	rd := r.RCU().NewReader()
	defer rd.Close()
	rd.Lock()
	got := r.FindRCU(fxIno(1), 0x10)
	if live := r.Live(); live != 2 {
		t.Errorf("inside the section: %d live uprobes, want 2 (the erased one waits)", live)
	}
	rd.Unlock()
	r.SetTestHooks(nil)
	if got != nil {
		t.Errorf("FindRCU found %p for an erased key", got)
	}
	if again == victim {
		t.Error("the erased uprobe was reused inside a read section")
	}
	r.Barrier()
	if live := r.Live(); live != 1 {
		t.Errorf("after the grace period: %d live, want 1", live)
	}
	if u3, _ := r.Register(fxIno(3), 0x30, 0, &Consumer{Name: "g/three"}); u3 != victim {
		t.Error("after the grace period the memory was not reused")
	}
}
