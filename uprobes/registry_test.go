package uprobes

import (
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"specvma/errno"
	"specvma/vfs"
)

func ino(n uint64) vfs.InodeID {
	return vfs.InodeID{Dev: vfs.Dev{Major: 8, Minor: 1}, Ino: n}
}

func consumer(name string) *Consumer { return &Consumer{Name: name} }

func mustRegister(t testing.TB, r *Registry, id vfs.InodeID, off uint64, c *Consumer) *Uprobe {
	t.Helper()
	u, err := r.Register(id, off, 0, c)
	if err != nil {
		t.Fatalf("Register(%v, %#x, %s): %v", id, off, c.Name, err)
	}
	return u
}

// checkFind asserts Find's answer for (id, off): want nil or want itself.
func checkFind(t *testing.T, r *Registry, id vfs.InodeID, off uint64, want *Uprobe) {
	t.Helper()
	got := r.Find(id, off)
	if got != nil {
		defer got.Put()
	}
	if got != want {
		t.Fatalf("Find(%v, %#x) = %p, want %p", id, off, got, want)
	}
}

func TestRegisterFindUnregister(t *testing.T) {
	r := NewRegistry()
	c1, c2 := consumer("uprobes/a"), consumer("uprobes/b")
	u := mustRegister(t, r, ino(1), 0x10, c1)
	if u2 := mustRegister(t, r, ino(1), 0x10, c2); u2 != u {
		t.Fatalf("second consumer got a different uprobe")
	}
	if got := u.Consumers(); len(got) != 2 || got[0] != c1 || got[1] != c2 {
		t.Fatalf("consumers = %v", got)
	}
	if u.Refs() != 2 || r.Live() != 1 || r.Len() != 1 {
		t.Fatalf("refs %d live %d len %d, want 2 1 1", u.Refs(), r.Live(), r.Len())
	}
	if u.Inode() != ino(1) || u.Offset() != 0x10 {
		t.Fatalf("key = %v %#x", u.Inode(), u.Offset())
	}
	checkFind(t, r, ino(1), 0x10, u)
	checkFind(t, r, ino(1), 0x11, nil)
	checkFind(t, r, ino(2), 0x10, nil)
	if err := r.Unregister(u, c1); err != nil {
		t.Fatal(err)
	}
	checkFind(t, r, ino(1), 0x10, u)
	if err := r.Unregister(u, c2); err != nil {
		t.Fatal(err)
	}
	checkFind(t, r, ino(1), 0x10, nil)
	if r.Live() != 0 || r.Len() != 0 {
		t.Fatalf("live %d len %d after last unregister", r.Live(), r.Len())
	}
}

func TestRegisterErrors(t *testing.T) {
	r := NewRegistry()
	c := consumer("g/e")
	u, err := r.Register(ino(1), 0x10, 0x20, c)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		refCtr uint64
		c      *Consumer
		want   errno.Errno
	}{
		{"ref_ctr mismatch", 0x30, consumer("g/x"), errno.EINVAL},
		{"ref_ctr zero vs set", 0, consumer("g/y"), errno.EINVAL},
		{"ref_ctr misaligned", 0x21, consumer("g/z"), errno.EINVAL},
		{"nil consumer", 0x20, nil, errno.EINVAL},
		{"same consumer twice", 0x20, c, errno.EEXIST},
	}
	for _, tc := range cases {
		if _, err := r.Register(ino(1), 0x10, tc.refCtr, tc.c); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if u.Refs() != 1 || r.Live() != 1 || len(u.Consumers()) != 1 {
		t.Fatalf("failed registrations leaked: refs %d live %d consumers %d",
			u.Refs(), r.Live(), len(u.Consumers()))
	}
	if err := r.Unregister(u, consumer("g/other")); !errors.Is(err, errno.ENOENT) {
		t.Fatalf("Unregister of a stranger: %v, want ENOENT", err)
	}
	if err := r.Unregister(u, c); err != nil || r.Live() != 0 {
		t.Fatalf("Unregister: %v, live %d", err, r.Live())
	}
}

func TestFreedUprobeIsReused(t *testing.T) {
	r := NewRegistry()
	c := consumer("g/e")
	u1 := mustRegister(t, r, ino(1), 0x10, c)
	gen := u1.Generation()
	if err := r.Unregister(u1, c); err != nil {
		t.Fatal(err)
	}
	u2 := mustRegister(t, r, ino(2), 0x20, c)
	if u2 != u1 || u2.Generation() != gen+1 {
		t.Fatalf("expected immediate reuse: %p vs %p, gen %d -> %d", u1, u2, gen, u2.Generation())
	}
	if s := r.Stats(); s.Live != 1 || s.Created != 1 || s.Reused != 1 {
		t.Fatalf("stats %+v", s)
	}
	checkFind(t, r, ino(1), 0x10, nil)
	checkFind(t, r, ino(2), 0x20, u2)
}

func TestFindReferenceKeepsUprobeAlive(t *testing.T) {
	r := NewRegistry()
	c := consumer("g/e")
	u := mustRegister(t, r, ino(1), 0x10, c)
	f := r.Find(ino(1), 0x10)
	if err := r.Unregister(u, c); err != nil {
		t.Fatal(err)
	}
	if f.Refs() != 1 || r.Live() != 1 {
		t.Fatalf("after unregister: refs %d live %d", f.Refs(), r.Live())
	}
	checkFind(t, r, ino(1), 0x10, u) // still live: a holder keeps it
	f.Put()
	if r.Live() != 0 || r.Len() != 0 {
		t.Fatalf("last Put did not free: live %d len %d", r.Live(), r.Len())
	}
	if u.TryGet() {
		t.Fatal("TryGet succeeded at zero")
	}
}

func TestRegistryHooks(t *testing.T) {
	r := NewRegistry()
	var log []string
	fail := errors.New("install failed")
	r.SetHooks(Hooks{
		OnInstall: func(u *Uprobe, c *Consumer) error {
			log = append(log, fmt.Sprintf("install %s %d", c.Name, len(u.Consumers())))
			if c.Name == "g/bad" {
				return fail
			}
			return nil
		},
		OnRemove: func(u *Uprobe, c *Consumer) {
			log = append(log, fmt.Sprintf("remove %s %d", c.Name, len(u.Consumers())))
		},
	})
	good := consumer("g/good")
	u := mustRegister(t, r, ino(1), 0, good)
	if _, err := r.Register(ino(1), 0, 0, consumer("g/bad")); err != fail {
		t.Fatalf("err = %v, want the hook's", err)
	}
	if err := r.Unregister(u, good); err != nil {
		t.Fatal(err)
	}
	want := []string{"install g/good 1", "install g/bad 2", "remove g/bad 1", "remove g/good 0"}
	if fmt.Sprint(log) != fmt.Sprint(want) {
		t.Fatalf("hooks ran %q, want %q", log, want)
	}
	if r.Live() != 0 || r.Changes() != 2 {
		t.Fatalf("live %d changes %d", r.Live(), r.Changes())
	}
}

// A registration that finds a dying uprobe (count zero, erase pending)
// erases it and creates a new one, as __insert_uprobe does.
func TestRegisterReplacesDyingUprobe(t *testing.T) {
	r := NewRegistry()
	c1, c2 := consumer("g/one"), consumer("g/two")
	old := mustRegister(t, r, ino(1), 0x10, c1)
	held := r.Find(ino(1), 0x10) // so that the last Put is outside Unregister
	if err := r.Unregister(old, c1); err != nil {
		t.Fatal(err)
	}
	var fresh *Uprobe
	r.SetTestHooks(&TestHooks{BeforeErase: func(u *Uprobe) {
		r.SetTestHooks(nil)
		checkFind(t, r, ino(1), 0x10, nil) // dying: not returned
		fresh = mustRegister(t, r, ino(1), 0x10, c2)
	}})
	held.Put()
	if fresh == nil || fresh == old {
		t.Fatalf("no new uprobe replaced the dying one (%p, %p)", fresh, old)
	}
	checkFind(t, r, ino(1), 0x10, fresh)
	if r.Live() != 1 || r.Len() != 1 {
		t.Fatalf("live %d len %d", r.Live(), r.Len())
	}
}

// forceReuseInWindow makes the first lookup's validation window host a
// writer that frees the found uprobe and reuses its memory for (ino(2), 0x20).
func forceReuseInWindow(t *testing.T, r *Registry, noRecheck bool) (victim *Uprobe) {
	c1, c2 := consumer("g/one"), consumer("g/two")
	victim = mustRegister(t, r, ino(1), 0x10, c1)
	var once sync.Once
	r.SetTestHooks(&TestHooks{NoRecheck: noRecheck, AfterLookup: func(u *Uprobe) {
		once.Do(func() {
			if err := r.Unregister(u, c1); err != nil {
				t.Error(err)
			}
			if mustRegister(t, r, ino(2), 0x20, c2) != u {
				t.Error("cache did not reuse the freed uprobe")
			}
		})
	}})
	return victim
}

func TestFindRecheckRejectsReusedUprobe(t *testing.T) {
	r := NewRegistry()
	forceReuseInWindow(t, r, false)
	checkFind(t, r, ino(1), 0x10, nil)
	if r.Stats().Invalid != 1 {
		t.Fatalf("Invalid = %d, want 1", r.Stats().Invalid)
	}
}

// With the recheck switched off, the same history makes Find return a uprobe
// for another key: the validation is what makes the answer right.
func TestNoRecheckReturnsWrongKey(t *testing.T) {
	r := NewRegistry()
	victim := forceReuseInWindow(t, r, true)
	u := r.Find(ino(1), 0x10)
	if u == nil {
		t.Fatal("expected the broken lookup to return the reused uprobe")
	}
	defer u.Put()
	if u != victim || u.Inode() != ino(2) || u.Offset() != 0x20 {
		t.Fatalf("got %p key %v %#x", u, u.Inode(), u.Offset())
	}
}

// A miss while a writer is inside its write section is not believed: Find
// waits for the section to end (find_uprobe_rcu's seqcount retry).
// TestFindMissRetriesDuringWrite (find-miss-seq): a miss seen while a
// writer is between its begin and end is no answer; Find retries.
func TestFindMissRetriesDuringWrite(t *testing.T) {
	missDuringWrite(t, func(r *Registry) *Uprobe { return r.Find(ino(1), 0) })
}

func TestInRange(t *testing.T) {
	r := NewRegistry()
	c := consumer("g/e")
	var us []*Uprobe
	for _, off := range []uint64{0x30, 0x10, 0x20, 0x40} {
		us = append(us, mustRegister(t, r, ino(1), off, c))
	}
	mustRegister(t, r, ino(0), 0x18, c)
	mustRegister(t, r, ino(2), 0x18, c)
	got := r.InRange(ino(1), 0x10, 0x40, nil)
	var offs []uint64
	for _, u := range got {
		offs = append(offs, u.Offset())
		u.Put()
	}
	if fmt.Sprint(offs) != "[16 32 48]" {
		t.Fatalf("InRange offsets %v", offs)
	}
	for _, u := range us {
		if u.Refs() != 1 {
			t.Fatalf("refs leaked: %d", u.Refs())
		}
	}
}

// TestModelRandom drives the registry with a random history and compares
// every answer with a plain map.
func TestModelRandom(t *testing.T) {
	r := NewRegistry()
	rng := rand.New(rand.NewSource(1))
	type reg struct {
		u *Uprobe
		c *Consumer
	}
	model := map[key][]reg{}
	for i := 0; i < 5000; i++ {
		k := key{ino(uint64(rng.Intn(3))), uint64(rng.Intn(6))}
		switch regs := model[k]; {
		case rng.Intn(3) == 0 && len(regs) > 0:
			j := rng.Intn(len(regs))
			if err := r.Unregister(regs[j].u, regs[j].c); err != nil {
				t.Fatal(err)
			}
			model[k] = append(regs[:j:j], regs[j+1:]...)
		case rng.Intn(2) == 0:
			c := consumer(fmt.Sprint(i))
			model[k] = append(regs, reg{mustRegister(t, r, k.id, k.off, c), c})
		}
		u := r.Find(k.id, k.off)
		if (u != nil) != (len(model[k]) > 0) || (u != nil && u != model[k][0].u) {
			t.Fatalf("step %d: Find(%v) = %p, model %v", i, k, u, model[k])
		}
		if u != nil {
			u.Put()
		}
	}
	live := 0
	for _, regs := range model {
		if len(regs) > 0 {
			live++
		}
	}
	if r.Live() != int64(live) || r.Len() != live {
		t.Fatalf("live %d len %d, model %d", r.Live(), r.Len(), live)
	}
}

// stressResult counts what lockless readers saw while writers churned.
type stressResult struct {
	finds, wrongKey, stableMiss atomic.Int64
}

// stress runs readers doing Find against writers that register and
// unregister churn keys (so uprobe memory is reused at once), while stable
// keys stay registered throughout. It stops after d, or as soon as stop says.
func stress(t *testing.T, r *Registry, d time.Duration, stop func(*stressResult) bool) *stressResult {
	const stable, churn, writers, readers = 8, 32, 2, 4
	res := &stressResult{}
	for i := 0; i < stable; i++ {
		mustRegister(t, r, ino(0), uint64(i), consumer("g/stable"))
	}
	var quit atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			churnWriter(t, r, w, writers, churn, &quit)
		}()
	}
	for g := 0; g < readers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stressReader(r, int64(g), stable, churn, res, &quit)
		}()
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && !stop(res) {
		time.Sleep(time.Millisecond)
	}
	quit.Store(true)
	wg.Wait()
	return res
}

func churnWriter(t *testing.T, r *Registry, w, writers, churn int, quit *atomic.Bool) {
	c := consumer(fmt.Sprintf("g/w%d", w))
	for i := 0; !quit.Load(); i++ {
		off := uint64(w + writers*(i%(churn/writers)))
		u, err := r.Register(ino(1), off, 0, c)
		if err != nil {
			t.Error(err)
			return
		}
		if err := r.Unregister(u, c); err != nil {
			t.Error(err)
			return
		}
	}
}

func stressReader(r *Registry, seed int64, stable, churn int, res *stressResult, quit *atomic.Bool) {
	rng := rand.New(rand.NewSource(seed))
	for !quit.Load() {
		id, off := ino(1), uint64(rng.Intn(churn))
		if rng.Intn(4) == 0 {
			id, off = ino(0), uint64(rng.Intn(stable))
		}
		u := r.Find(id, off)
		res.finds.Add(1)
		if u == nil {
			if id == ino(0) {
				res.stableMiss.Add(1)
			}
			continue
		}
		if u.Inode() != id || u.Offset() != off || u.Refs() < 1 {
			res.wrongKey.Add(1)
		}
		u.Put()
	}
}

func stressDuration() time.Duration {
	if testing.Short() {
		return 100 * time.Millisecond
	}
	return 500 * time.Millisecond
}

func TestConcurrentFindWithReuse(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		r := NewRegistry()
		res := stress(t, r, stressDuration(), func(*stressResult) bool { return false })
		checkStress(t, r, res)
	})
	// Yielding between lookup and validation puts writers into the window:
	// the recheck must then reject reused memory, and Find stay right.
	t.Run("widened", func(t *testing.T) {
		r := NewRegistry()
		r.SetTestHooks(&TestHooks{AfterLookup: func(*Uprobe) { runtime.Gosched() }})
		res := stress(t, r, 10*time.Second, func(*stressResult) bool { return r.Stats().Invalid >= 10 })
		checkStress(t, r, res)
		if r.Stats().Invalid == 0 {
			t.Error("the recheck never rejected reused memory: the window was not exercised")
		}
	})
}

func checkStress(t *testing.T, r *Registry, res *stressResult) {
	t.Helper()
	t.Logf("finds %d, stats %+v", res.finds.Load(), r.Stats())
	if n := res.wrongKey.Load(); n != 0 {
		t.Errorf("Find returned %d uprobes with another key", n)
	}
	if n := res.stableMiss.Load(); n != 0 {
		t.Errorf("Find missed a permanently registered uprobe %d times", n)
	}
	if s := r.Stats(); s.Reused == 0 {
		t.Errorf("no memory reuse happened: the test proved nothing (%+v)", s)
	}
	if r.Live() != 8 {
		t.Errorf("live %d after the churn, want the 8 stable ones", r.Live())
	}
}

// The same workload with the key recheck switched off must be caught: the
// readers' own check sees a uprobe with another key.
func TestConcurrentNoRecheckFails(t *testing.T) {
	r := NewRegistry()
	r.SetTestHooks(&TestHooks{NoRecheck: true, AfterLookup: func(*Uprobe) { runtime.Gosched() }})
	res := stress(t, r, 10*time.Second, func(res *stressResult) bool { return res.wrongKey.Load() > 0 })
	t.Logf("finds %d, wrong %d, stats %+v", res.finds.Load(), res.wrongKey.Load(), r.Stats())
	if res.wrongKey.Load() == 0 {
		t.Fatal("with validation off, no reader saw a wrong key: the stress test cannot detect the bug")
	}
}

func TestFindAllocs(t *testing.T) {
	r := NewRegistry()
	for i := uint64(0); i < 64; i++ {
		mustRegister(t, r, ino(i%4), i*16, consumer("g/e"))
	}
	hit := testing.AllocsPerRun(1000, func() {
		if u := r.Find(ino(2), 2*16); u != nil {
			u.Put()
		}
	})
	miss := testing.AllocsPerRun(1000, func() { r.Find(ino(2), 3) })
	if hit != 0 || miss != 0 {
		t.Fatalf("allocs per Find: hit %v, miss %v; want 0", hit, miss)
	}
}

func BenchmarkFind(b *testing.B) {
	r := NewRegistry()
	for i := uint64(0); i < 1024; i++ {
		mustRegister(b, r, ino(i%8), i*16, consumer("g/e"))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			i++
			if u := r.Find(ino(i%8), (i%1024)*16); u != nil {
				u.Put()
			}
		}
	})
}
