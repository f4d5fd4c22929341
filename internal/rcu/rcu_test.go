package rcu

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestSynchronizeWaitsForReadersInside(t *testing.T) {
	var d Domain
	r := d.NewReader()
	defer r.Close()
	r.Lock()
	var done atomic.Bool
	go func() { d.Synchronize(); done.Store(true) }()
	time.Sleep(20 * time.Millisecond)
	if done.Load() {
		t.Fatal("Synchronize returned while a reader was inside its section")
	}
	if d.Quiescent() {
		t.Fatal("Quiescent with a reader inside")
	}
	r.Unlock()
	for deadline := time.Now().Add(2 * time.Second); !done.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("Synchronize did not return after the reader left")
		}
		time.Sleep(time.Millisecond)
	}
	if !d.Quiescent() {
		t.Fatal("not quiescent with every reader outside")
	}
}

// A grace period with nobody inside is immediate; one that waits on a
// reader stops waiting once expire says the reader holds nothing.
func TestSynchronizeExpireGivesUp(t *testing.T) {
	var d Domain
	r := d.NewReader()
	defer r.Close()
	r.Lock()
	r.Unlock()
	d.Synchronize() // nobody inside: immediate
	r.Lock()
	defer r.Unlock()
	other := d.NewReader()
	defer other.Close()
	done := make(chan struct{})
	go func() {
		d.SynchronizeExpire(10*time.Millisecond, func(x *Reader) bool { return x == r })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("SynchronizeExpire did not give up on the expired reader")
	}
}

func TestExpireCalledOnlyAfterTimeout(t *testing.T) {
	var d Domain
	r := d.NewReaderFor("owner")
	defer r.Close()
	r.Lock()
	start := time.Now()
	var at time.Duration
	d.SynchronizeExpire(30*time.Millisecond, func(x *Reader) bool {
		if x.Owner() != "owner" {
			t.Errorf("owner %v", x.Owner())
		}
		at = time.Since(start)
		return true
	})
	r.Unlock()
	if at < 30*time.Millisecond {
		t.Errorf("expire called after %v, before the timeout", at)
	}
}
