package uprobes

// Lifetimes: once everything is unregistered and unmapped and the grace
// periods are over, no uprobe, VMA, File or goroutine is left behind;
// return instances and read sections keep a uprobe exactly as long as they
// need it.

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/vfs"
)

// fxTakeBaseline records what the VMA and File caches and the runtime hold
// before a test; its Check reports what is left beyond it.
func fxTakeBaseline() testsupport.Baseline {
	return testsupport.TakeBaseline(testsupport.Cache{Name: "VMAs", Stats: mm.LiveVMAs},
		testsupport.Cache{Name: "Files", Stats: vfs.LiveFiles})
}

// TestLifetimeNoLeaks: tasks of every strategy hit entry and return probes
// in two address spaces, the second space's tasks leaving return instances
// pending; then everything is unregistered, unmapped and exited. The
// pending instances are leases: the frees wait LeaseTimeout for them, expire
// them (their uprobes are dying, so they are gone) and complete.
func TestLifetimeNoLeaks(t *testing.T) {
	const text, lib = 1301, 1302
	base := fxTakeBaseline()
	s := NewSystem()
	reg := s.Registry()
	spaces := []*mm.AddressSpace{mm.New(mm.Config{}), mm.New(mm.Config{})}
	for _, as := range spaces {
		s.Attach(as)
		fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, text, 0)
		fxMap(t, as, fxBase+0x100000, 4*fxPage, fxRX, mm.MapPrivate, text, 0)
		fxMap(t, as, fxBase+0x200000, 4*fxPage, fxRX, mm.MapPrivate, lib, 0)
		fxMap(t, as, fxBase+0x300000, 4*fxPage, fxRW, mm.MapPrivate, lib, 0)
	}
	fxEvent(t, s, "p:lt/entry /fx/bin:0x1010", text)
	fxEvent(t, s, "r:lt/ret /fx/bin:0x1010", text)
	fxEvent(t, s, "r:lt/libret /fx/bin:0x2010", lib)
	picky := &Consumer{Name: "lt/picky", Filter: func(as *mm.AddressSpace) bool { return as == spaces[0] }}
	pu, err := reg.Register(fxIno(lib), 0x2010, 0, picky)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Live() != 2 {
		t.Fatalf("live %d, want 2", reg.Live())
	}

	var tasks, pending []*Task
	for i, as := range spaces {
		for _, st := range mm.Strategies() {
			task := s.NewTask(as, st)
			tasks = append(tasks, task)
			for n := 0; n < 3; n++ {
				fxHit(task, fxBase+0x1010)
				fxHit(task, fxBase+0x202010)
			}
			if task.Depth() != 6 {
				t.Fatalf("depth %d, want 6", task.Depth())
			}
			if i == 1 { // leave the second space's instances pending
				pending = append(pending, task)
				continue
			}
			for task.Depth() > 0 {
				task.Return()
			}
		}
	}
	for _, name := range []string{"lt/entry", "lt/ret", "lt/libret"} {
		fxRemove(t, s, name)
	}
	if err := reg.Unregister(pu, picky); err != nil {
		t.Fatal(err)
	}
	reg.Barrier()
	if st := reg.Stats(); st.Live != 0 || reg.Len() != 0 {
		t.Errorf("after Barrier, with expired leases pending: stats %+v, table %d", st, reg.Len())
	}
	for _, as := range spaces {
		if bps := fxBPs(as); len(bps) != 0 {
			t.Errorf("breakpoints left: %#x", bps)
		}
	}
	for _, task := range pending {
		if names, ok := task.ReturnNames(); !ok || len(names) != 0 {
			t.Errorf("return through an expired lease: %q %v, want nothing fired", names, ok)
		}
	}
	for _, task := range tasks {
		task.Exit()
	}
	reg.Barrier()
	if st := reg.Stats(); st.Live != 0 {
		t.Errorf("after Exit and Barrier: stats %+v", st)
	}
	for _, as := range spaces {
		if err := as.Munmap(fxBase, 4*fxPage); err != nil {
			t.Fatal(err)
		}
		as.Exit()
		if as.MapCount() != 0 {
			t.Errorf("map count %d after Exit", as.MapCount())
		}
	}
	base.Check(t)
}

// TestLifetimeReturnInstance: a leased return instance takes no reference;
// a free that waited LeaseTimeout for the task converts it into one
// (stable), which then holds its uprobe after the unregistration until the
// task returns or exits.
func TestLifetimeReturnInstance(t *testing.T) {
	const ino = 1303
	base := fxTakeBaseline()
	s := NewSystem()
	reg := s.Registry()
	as := mm.New(mm.Config{})
	s.Attach(as)
	fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	ev := fxEvent(t, s, "r:lt/held /fx/bin:0x1010", ino)
	fxEvent(t, s, "p:lt/bystander /fx/bin:0x2010", ino)
	held := ev.Uprobe
	for _, exit := range []bool{false, true} {
		task := s.NewTask(as, mm.VMASeq)
		fxHit(task, fxBase+0x1010)
		fxHit(task, fxBase+0x1010)
		if held.Refs() != 1 {
			t.Fatalf("refs %d, want 1: leased instances take none", held.Refs())
		}
		// An unrelated free waits for the task's lease and expires it.
		fxRemove(t, s, "lt/bystander")
		reg.Barrier()
		if held.Refs() != 3 {
			t.Fatalf("refs %d after expiry, want 3 (the registration and two stable instances)", held.Refs())
		}
		fxRemove(t, s, "lt/held")
		reg.Barrier()
		if reg.Live() != 1 || held.Refs() != 2 || held.Offset() != 0x1010 {
			t.Fatalf("after unregister: live %d, refs %d, offset %#x", reg.Live(), held.Refs(), held.Offset())
		}
		other := fxEvent(t, s, "p:lt/other /fx/bin:0x3010", ino)
		if other.Uprobe == held {
			t.Fatal("a held uprobe was reused")
		}
		if exit {
			task.Exit()
		} else {
			for i := 0; i < 2; i++ {
				if names, ok := task.ReturnNames(); !ok || len(names) != 0 {
					t.Errorf("return after unregister: %q %v", names, ok)
				}
			}
		}
		reg.Barrier()
		if reg.Live() != 1 {
			t.Errorf("exit=%v: live %d, want 1 (lt/other)", exit, reg.Live())
		}
		if !exit {
			task.Exit()
		}
		// Same events again for the next round.
		fxRemove(t, s, "lt/other")
		ev = fxEvent(t, s, "r:lt/held /fx/bin:0x1010", ino)
		fxEvent(t, s, "p:lt/bystander /fx/bin:0x2010", ino)
		held = ev.Uprobe
	}
	fxRemove(t, s, "lt/held")
	fxRemove(t, s, "lt/bystander")
	reg.Barrier()
	if reg.Live() != 0 {
		t.Errorf("live %d at the end, want 0", reg.Live())
	}
	as.Exit()
	base.Check(t)
}

// TestReturnLeaseExpiresDuringReturn: Return pops a leased instance
// (leased -> consumed) and then runs the uprobe's return consumers with
// nothing but the task's lease section protecting the uprobe (it no longer
// enters the RCU read section). A free waiting for that section expires it
// after LeaseTimeout; expireLeases skips the consumed instance and reports
// that the task holds nothing, so the grace period ends and the uprobe is
// freed and reused while its consumers are still running. In Linux the
// instance's SRCU read lock is held until hprobe_finalize, after
// handle_uretprobe_chain, and the chain runs under rcu_read_lock_trace.
// Here a return handler that takes longer than LeaseTimeout (a consumer
// that unregisters itself, as a one-shot probe does) sees its uprobe's
// memory given to another registration.
func TestReturnLeaseExpiresDuringReturn(t *testing.T) {
	const ino = 1305
	s := NewSystem()
	reg := s.Registry()
	as := mm.New(mm.Config{})
	s.Attach(as)
	fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	var u *Uprobe
	var freed, reused bool
	var sawKey uint64
	var once sync.Once
	var c *Consumer
	c = &Consumer{Name: "lt/oneshot", Return: true, RetHandler: func(ctx *Context) {
		once.Do(func() {
			if err := reg.Unregister(u, c); err != nil {
				t.Error(err)
			}
			// Run long: as long as the task is here, the free must wait.
			for deadline := time.Now().Add(4 * LeaseTimeout); time.Now().Before(deadline) && reg.Live() > 0; {
				time.Sleep(time.Millisecond)
			}
			freed = reg.Live() == 0
			next, err := reg.Register(fxIno(ino), 0x3010, 0, &Consumer{Name: "lt/next"})
			if err != nil {
				t.Error(err)
			}
			reused = next == ctx.Uprobe
			sawKey = ctx.Uprobe.Offset()
		})
	}}
	var err error
	if u, err = reg.Register(fxIno(ino), 0x1010, 0, c); err != nil {
		t.Fatal(err)
	}
	task := s.NewTask(as, mm.MMSeq)
	defer task.Exit()
	if got, _ := fxHit(task, fxBase+0x1010); got != "fired -" || task.Depth() != 1 {
		t.Fatalf("hit %q depth %d", got, task.Depth())
	}
	if _, ok := task.Return(); !ok {
		t.Fatal("no return instance")
	}
	if freed || reused || sawKey != 0x1010 {
		t.Errorf("while its return handler ran, the uprobe was freed=%v, reused=%v; ctx.Uprobe's offset became %#x (want 0x1010)",
			freed, reused, sawKey)
	}
	reg.Barrier()
}

// TestLifetimeReadSectionDefersFree: a uprobe unregistered while a task is
// inside its read section (between the lookup and the handlers) is not
// freed, and so not reused, until the task leaves the section.
func TestLifetimeReadSectionDefersFree(t *testing.T) {
	const ino = 1304
	base := fxTakeBaseline()
	s := NewSystem()
	reg := s.Registry()
	as := mm.New(mm.Config{})
	s.Attach(as)
	fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	ev := fxEvent(t, s, "p:lt/racy /fx/bin:0x1010", ino)
	victim := ev.Uprobe
	var once sync.Once
	var during int64
	var next *Event
	reg.SetTestHooks(&TestHooks{AfterLookup: func(u *Uprobe) {
		once.Do(func() {
			fxRemove(t, s, "lt/racy")
			during = reg.Live()
			next = fxEvent(t, s, "p:lt/next /fx/bin:0x3010", ino)
		})
	}})
	task := s.NewTask(as, mm.MMSeq)
	got, _ := fxHit(task, fxBase+0x1010)
	reg.SetTestHooks(nil)
	if got != "restart -" {
		t.Errorf("hit = %q, want restart", got)
	}
	if during != 1 {
		t.Errorf("inside the section: live %d, want 1 (the free waits for the reader)", during)
	}
	if next.Uprobe == victim {
		t.Error("memory of a uprobe erased inside a read section was reused before the section ended")
	}
	reg.Barrier()
	if reg.Live() != 1 {
		t.Errorf("after the grace period: live %d, want 1", reg.Live())
	}
	fxRemove(t, s, "lt/next")
	task.Exit()
	reg.Barrier()
	if reg.Live() != 0 {
		t.Errorf("live %d, want 0", reg.Live())
	}
	as.Exit()
	base.Check(t)
}

// TestBarrierConcurrentWithRelease: Barrier is documented as
// rcu_barrier, "waits until every uprobe released so far is back in the
// cache", which Linux allows at any time. It was sync.WaitGroup.Wait on the
// group that every deferred free Adds to, and a WaitGroup forbids an Add
// from zero concurrent with a Wait: called while other goroutines release
// uprobes (a reader is in its section, so the frees are deferred), Go panics
// ("WaitGroup is reused before previous Wait has returned", "WaitGroup
// misuse: Add called concurrently with Wait"), sometimes in the releasing
// goroutine, and the race detector reports a race inside the WaitGroup. The
// workload runs in a child process so that a crash does not take the
// other tests with it.
func TestBarrierConcurrentWithRelease(t *testing.T) {
	if os.Getenv("UPROBES_BARRIER_CHILD") == "1" {
		barrierWhileReleasing(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBarrierConcurrentWithRelease$", "-test.count=1")
	cmd.Env = append(os.Environ(), "UPROBES_BARRIER_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "panic:") || strings.Contains(l, "DATA RACE") ||
				strings.Contains(l, "race detected") || strings.Contains(l, "registry.go") {
				lines = append(lines, l)
			}
		}
		t.Errorf("Barrier while uprobes are being released (child: %v):\n%s", err, strings.Join(lines, "\n"))
	}
}

func barrierWhileReleasing(t *testing.T) {
	r := NewRegistry()
	rd := r.RCU().NewReader()
	defer rd.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // a task going in and out of its read section
		for !stop.Load() {
			rd.Lock()
			time.Sleep(10 * time.Microsecond)
			rd.Unlock()
		}
	})
	wg.Go(func() { // probes coming and going
		c := &Consumer{Name: "lt/barrier"}
		for !stop.Load() {
			u, err := r.Register(fxIno(1306), 0x10, 0, c)
			if err != nil {
				t.Error(err)
				return
			}
			if err := r.Unregister(u, c); err != nil {
				t.Error(err)
			}
		}
	})
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		r.Barrier()
	}
	stop.Store(true)
	wg.Wait()
	r.Barrier()
	if r.Live() != 0 {
		t.Errorf("live %d", r.Live())
	}
}
