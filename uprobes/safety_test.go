package uprobes

// Tests for the safety steps of the registry and the trigger path that no
// older test pins down alone (the table in doc.go names a test for every
// step; internal/safety removes each step and runs it).

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"specvma/internal/testsupport"
	"specvma/mm"
)

// dyingLookup registers a uprobe, drops its only reference and, from the
// BeforeErase hook (the uprobe is dying and still in the table), runs
// lookup; it returns what lookup found.
func dyingLookup(t *testing.T, lookup func(r *Registry) *Uprobe) *Uprobe {
	t.Helper()
	r := NewRegistry()
	c := consumer("dying")
	u := mustRegister(t, r, ino(3), 0x30, c)
	var found *Uprobe
	ran := false
	r.SetTestHooks(&TestHooks{BeforeErase: func(d *Uprobe) {
		if d == u && !ran {
			ran = true
			found = lookup(r)
		}
	}})
	if err := r.Unregister(u, c); err != nil {
		t.Fatal(err)
	}
	if !ran {
		t.Fatal("the hook never ran")
	}
	return found
}

// TestFindRefusesDying (find-tryget): Find meets a uprobe whose count
// reached zero and whose erase is pending; taking a reference anyway would
// raise the count from zero and hand out memory that is about to be freed.
func TestFindRefusesDying(t *testing.T) {
	if u := dyingLookup(t, func(r *Registry) *Uprobe { return r.Find(ino(3), 0x30) }); u != nil {
		t.Fatalf("Find returned a dying uprobe (refs %d)", u.Refs())
	}
}

// TestFindRCURefusesDying (findrcu-dying): the same for FindRCU, which
// takes no reference: a dying uprobe's consumers list is its last one.
func TestFindRCURefusesDying(t *testing.T) {
	u := dyingLookup(t, func(r *Registry) *Uprobe {
		rd := r.RCU().NewReader()
		defer rd.Close()
		rd.Lock()
		defer rd.Unlock()
		return r.FindRCU(ino(3), 0x30)
	})
	if u != nil {
		t.Fatalf("FindRCU returned a dying uprobe (refs %d)", u.Refs())
	}
}

// missDuringWrite starts lookup while a table writer is between its begin
// and end: the lookup must retry (counted in Stats.Retries) and not return
// a miss until the writer is done.
func missDuringWrite(t *testing.T, lookup func(r *Registry) *Uprobe) {
	t.Helper()
	r := NewRegistry()
	r.beginWrite()
	done := make(chan *Uprobe, 1)
	go func() { done <- lookup(r) }()
	for r.Stats().Retries == 0 {
		select {
		case <-done:
			r.endWrite()
			t.Fatal("a miss was returned while the sequence count was odd")
		default:
			runtime.Gosched()
		}
	}
	select {
	case <-done:
		t.Fatal("a miss was returned while the sequence count was odd")
	default:
	}
	r.endWrite()
	if u := <-done; u != nil {
		t.Fatalf("lookup = %p after the write", u)
	}
}

// TestFindRCUMissRetriesDuringWrite (findrcu-miss-seq): a writer between
// its begin and end may have the table in any state; a miss seen then is
// no answer.
func TestFindRCUMissRetriesDuringWrite(t *testing.T) {
	missDuringWrite(t, func(r *Registry) *Uprobe {
		rd := r.RCU().NewReader()
		defer rd.Close()
		rd.Lock()
		defer rd.Unlock()
		return r.FindRCU(ino(1), 0)
	})
}

// probedSpace returns a System with one address space that maps fake
// inode ino at fxBase (four pages, r-x).
func probedSpace(t *testing.T, ino uint64) (*System, *Registry, *mm.AddressSpace) {
	t.Helper()
	s := NewSystem()
	as := mm.New(mm.Config{})
	s.Attach(as)
	fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	return s, s.Registry(), as
}

// TestGracePeriodBeforeLeaseScan (grace-period): a deferred free first
// waits for the hit sections that could have found the uprobe, and only
// then scans the lease sections. A hit that found the uprobe and has not
// yet pushed its return instance has no lease yet: a scan before its
// section ends would miss the lease it is about to take, the uprobe would
// be freed and reused under it, and the return would run the next owner's
// consumers. Here the entry handler unregisters its own uprobe and lingers
// before the return instance is pushed.
func TestGracePeriodBeforeLeaseScan(t *testing.T) {
	const ino = 1306
	s, reg, as := probedSpace(t, ino)
	var u *Uprobe
	var once sync.Once
	var c *Consumer
	c = &Consumer{Name: "gp/oneshot", Return: true, Handler: func(*Context) {
		once.Do(func() {
			if err := reg.Unregister(u, c); err != nil {
				t.Error(err)
			}
			time.Sleep(50 * time.Millisecond) // the reclaimer runs meanwhile
		})
	}}
	var err error
	if u, err = reg.Register(fxIno(ino), 0x1010, 0, c); err != nil {
		t.Fatal(err)
	}
	task := s.NewTask(as, mm.MMSeq)
	defer task.Exit()
	if r := task.Hit(fxBase + 0x1010); r.Outcome != Fired || task.Depth() != 1 {
		t.Fatalf("hit: %v, depth %d", r.Outcome, task.Depth())
	}
	reg.Barrier()
	next, err := reg.Register(fxIno(ino), 0x3010, 0, &Consumer{Name: "gp/next", Return: true})
	if err != nil {
		t.Fatal(err)
	}
	names, ok := task.ReturnNames()
	if !ok || len(names) != 0 {
		t.Errorf("the return ran %v (uprobe reused: %v); want nothing, its uprobe is gone", names, next == u)
	}
	if err := reg.Unregister(next, next.Consumers()[0]); err != nil {
		t.Fatal(err)
	}
	reg.Barrier()
}

// inProbedFunction registers a return probe (consumer name) at 0x1010 of
// file ino in a probedSpace and has a new task hit it: the task sits in the
// probed function with one leased return instance. The caller ends the
// task (Exit).
func inProbedFunction(t *testing.T, ino uint64, name string) (*Registry, *Uprobe, *Consumer, *Task) {
	t.Helper()
	s, reg, as := probedSpace(t, ino)
	c := &Consumer{Name: name, Return: true}
	u, err := reg.Register(fxIno(ino), 0x1010, 0, c)
	if err != nil {
		t.Fatal(err)
	}
	task := s.NewTask(as, mm.MMSeq)
	if r := task.Hit(fxBase + 0x1010); r.Outcome != Fired || task.Depth() != 1 {
		task.Exit()
		t.Fatalf("hit: %v, depth %d", r.Outcome, task.Depth())
	}
	return reg, u, c, task
}

// TestReturnSectionAfterLeaseScan (return-section): a deferred free waits,
// last, for the hit sections that began after its first wait. The task's
// Return pops its leased instance (leased -> consumed) inside such a
// section; the lease scan, timing out meanwhile, finds nothing leased and
// stops waiting for the task. Only that last wait keeps the uprobe from
// being freed and reused before the Return reads its consumers. Here the
// uprobe is unregistered while the task sits in its probed function, and
// the Return stops after its pop for up to 3 LeaseTimeouts.
func TestReturnSectionAfterLeaseScan(t *testing.T) {
	const ino = 1307
	reg, u, c, task := inProbedFunction(t, ino, "rs/ret")
	defer task.Exit()
	if err := reg.Unregister(u, c); err != nil { // queued: the task holds a lease
		t.Fatal(err)
	}
	// Let the reclaimer pass its first wait (no hit section is open) and
	// start the lease scan before the Return opens its section. (Were it
	// slower, its first wait would cover the Return and the test would
	// pass without showing the last wait's use, never fail wrongly.)
	time.Sleep(LeaseTimeout / 2)
	var next *Uprobe
	reg.SetTestHooks(&TestHooks{AfterPop: func(p *Uprobe) {
		for deadline := time.Now().Add(3 * LeaseTimeout); time.Now().Before(deadline) && reg.Live() > 0; {
			time.Sleep(time.Millisecond)
		}
		var err error
		if next, err = reg.Register(fxIno(ino), 0x3010, 0, &Consumer{Name: "rs/next", Return: true}); err != nil {
			t.Error(err)
		}
	}})
	names, ok := task.ReturnNames()
	reg.SetTestHooks(nil)
	if !ok || len(names) != 0 {
		t.Errorf("the return ran %v (uprobe reused: %v); want nothing", names, next == u)
	}
	if next != nil {
		if err := reg.Unregister(next, next.Consumers()[0]); err != nil {
			t.Fatal(err)
		}
	}
	reg.Barrier()
}

// TestAllocRefsLast (alloc-refs-last): a registration that reuses a freed
// uprobe's memory stores the new key before the reference count of one. A
// reader that still has the memory from an old table version, and looks it
// up under the old key, fails TryGet until the count is stored, and sees
// the new key once it is; with the count stored first it would validate
// the memory as the old key's uprobe while it is being given to another.
func TestAllocRefsLast(t *testing.T) {
	r := NewRegistry()
	c0, c1 := consumer("alloc/old"), consumer("alloc/new")
	u0 := mustRegister(t, r, ino(5), 0x50, c0)
	old := r.tab.Load()
	if err := r.Unregister(u0, c0); err != nil {
		t.Fatal(err)
	}
	var stale *Uprobe
	ran := false
	r.SetTestHooks(&TestHooks{BeforeRefs: func(u *Uprobe) {
		if u != u0 || ran {
			return
		}
		ran = true
		cur := r.tab.Load()
		r.tab.Store(old) // the reader walks the version from before the free
		stale = r.Find(ino(5), 0x50)
		r.tab.Store(cur)
	}})
	u1 := mustRegister(t, r, ino(5), 0x60, c1)
	r.SetTestHooks(nil)
	if !ran {
		t.Fatal("the registration did not reuse the freed uprobe")
	}
	if stale != nil {
		stale.Put()
		t.Fatalf("a stale lookup of the old key got the uprobe being re-initialised (offset now %#x)", stale.Offset())
	}
	if err := r.Unregister(u1, c1); err != nil {
		t.Fatal(err)
	}
}

// TestPopReturnClaimsAgainstExpiry (popreturn-cas): a Return pops a leased
// return instance while the lease scan expires it. The scan converts the
// lease into a counted reference between the task's load of the state word
// and its claim (the BeforeClaim hook runs the scan there); the claim is a
// compare-and-swap, which then fails, so the task reads the word again,
// takes the counted reference and drops it after the chain. A plain store
// would consume the instance as leased and leak the scan's reference: the
// uprobe would never be freed.
func TestPopReturnClaimsAgainstExpiry(t *testing.T) {
	reg, u, c, task := inProbedFunction(t, 1308, "pc/ret")
	defer task.Exit()
	refs := u.Refs()
	expired := false
	reg.SetTestHooks(&TestHooks{BeforeClaim: testsupport.Once(func() { expired = expireLeases(task.lease) })})
	_, ok := task.Return()
	reg.SetTestHooks(nil)
	if !expired || !ok {
		t.Fatalf("the scan ran in the claim's window: %v; the return ran: %v", expired, ok)
	}
	if got := u.Refs(); got != refs {
		t.Errorf("the uprobe holds %d references after the return, %d before it: the scan's reference leaked", got, refs)
	}
	if err := reg.Unregister(u, c); err != nil {
		t.Fatal(err)
	}
	reg.Barrier()
	if live := reg.Live(); live != 0 {
		t.Errorf("%d uprobes live after unregistering", live)
	}
}
