package uprobes

import (
	"runtime"
	"testing"
)

// TestExitEndsLeaseSection: a task that exits with return instances pending
// ends the lease section its first instance opened, so a free that waits on
// the leases does not wait LeaseTimeout for a task that is gone (Linux
// releases them in uprobe_free_utask).
func TestExitEndsLeaseSection(t *testing.T) {
	s, _, task, _ := leaseWorld(t)
	if r := task.Hit(0x401000); r.Outcome != Fired || task.Depth() != 1 {
		t.Fatalf("hit: %v, depth %d", r.Outcome, task.Depth())
	}
	if s.Registry().Leases().Quiescent() {
		t.Fatal("a pending return instance holds no lease section")
	}
	task.Exit()
	if !s.Registry().Leases().Quiescent() {
		t.Fatal("after Exit the task's lease section is still open: frees would wait LeaseTimeout for it")
	}
}

// TestOneReclaimer: frees deferred while a reader is inside its section go
// to one reclaimer goroutine per registry, however many there are (the
// model of call_rcu's batching), and all of them complete once the reader
// leaves.
func TestOneReclaimer(t *testing.T) {
	const frees = 200
	r := NewRegistry()
	rd := r.RCU().NewReader()
	defer rd.Close()
	before := runtime.NumGoroutine()
	rd.Lock()
	c := consumer("reclaim")
	for i := range frees {
		u := mustRegister(t, r, ino(7), uint64(i)*2, c)
		if err := r.Unregister(u, c); err != nil {
			t.Fatal(err)
		}
	}
	if n := runtime.NumGoroutine() - before; n > 1 {
		t.Errorf("%d goroutines for %d deferred frees, want one reclaimer", n, frees)
	}
	if live := r.Live(); live != frees {
		t.Errorf("%d uprobes back in the cache while a reader could still use them", frees-live)
	}
	rd.Unlock()
	r.Barrier()
	if live := r.Live(); live != 0 {
		t.Errorf("after the reader left and Barrier: %d uprobes live", live)
	}
}
