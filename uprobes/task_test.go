package uprobes

// Functional tests of the trigger path (task.go) over every strategy, and the
// fixtures the other System-level test files share (system_test.go,
// hooks_test.go, stress_test.go, lifetime_test.go).

import (
	"fmt"
	"math/rand"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"specvma/internal/mmhook"
	"specvma/mm"
	"specvma/vfs"
)

// Fixtures. Files are opened on fake inodes (no disk); each test picks its
// own inode numbers so that events never collide across tests.

const (
	fxPage = uint64(mm.PageSize)
	fxRX   = mm.ProtRead | mm.ProtExec
	fxRO   = mm.ProtRead
	fxRW   = mm.ProtRead | mm.ProtWrite
	fxRWX  = mm.ProtRead | mm.ProtWrite | mm.ProtExec
	fxBase = uint64(0x200000000000)
)

// fxIno is the identity of fake inode n (a device no other test uses).
func fxIno(n uint64) vfs.InodeID {
	return vfs.InodeID{Dev: vfs.Dev{Major: 250, Minor: 3}, Ino: n}
}

// fxOpen opens fake inode n read-only: a new open file description.
func fxOpen(n uint64) *vfs.File {
	return vfs.NewFile(fmt.Sprintf("/fx/bin%d", n), vfs.InodeFor(fxIno(n)), vfs.ORdonly)
}

// fxMap maps inode n at addr (MAP_FIXED) and drops the opener's reference,
// so the VMA holds the only one. It returns the File the VMA points at.
func fxMap(t testing.TB, as *mm.AddressSpace, addr, length uint64, prot, flags int, n, off uint64) *vfs.File {
	t.Helper()
	f := fxOpen(n)
	defer f.Put()
	got, err := as.Mmap(addr, length, prot, flags|mm.MapFixed, f, off)
	if err != nil || got != addr {
		t.Fatalf("mmap(%#x, %#x, ino %d, off %#x) = %#x, %v", addr, length, n, off, got, err)
	}
	return f
}

// fxEvent defines an event with a uprobe_events line whose path is fake, on
// fake inode n.
func fxEvent(t testing.TB, s *System, line string, n uint64) *Event {
	t.Helper()
	spec, err := ParseSpec(line)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", line, err)
	}
	ev, err := s.AddEventAt(spec, fxIno(n))
	if err != nil {
		t.Fatalf("AddEventAt(%q): %v", line, err)
	}
	return ev
}

func fxRemove(t testing.TB, s *System, name string) {
	t.Helper()
	if err := s.RemoveEvent(name); err != nil {
		t.Fatalf("RemoveEvent(%s): %v", name, err)
	}
}

// fxNames joins sorted names with commas ("-" for none).
func fxNames(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

// fxHit hits addr and returns "OUTCOME NAMES", e.g. "fired fx/a,fx/b".
func fxHit(t *Task, addr uint64) (string, Result) {
	names, r := t.HitNames(addr)
	return r.Outcome.String() + " " + fxNames(names), r
}

// fxBPs lists as's breakpoint addresses.
func fxBPs(as *mm.AddressSpace) []uint64 {
	var out []uint64
	for _, bp := range as.Breakpoints() {
		out = append(out, bp.Addr)
	}
	return out
}

func fxSameAddrs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fxLockless lists the strategies that have a lockless fast path.
func fxLockless() []mm.Strategy { return []mm.Strategy{mm.MMSeq, mm.VMASeq, mm.VMALock} }

// fxWaitBlocked waits until a goroutine whose stack mentions fn is blocked
// with the given wait reason ("sync.RWMutex.Lock": a writer waiting for
// readers to leave, which new readers then queue behind; "sync.Mutex.Lock").
func fxWaitBlocked(t testing.TB, reason, fn string) {
	buf := make([]byte, 1<<20)
	for i := 0; i < 5000; i++ {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "["+reason) && strings.Contains(g, fn) {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine in %s blocked in %s", fn, reason)
}

// TestHitOutcomes checks every outcome of Hit with every strategy: Fired
// with the names of the consumers that ran, NoTrap where there is no
// breakpoint, SIGTRAP where a breakpoint outlived its uprobe, Restart where
// an unregistration removed the breakpoint while the hit was resolving.
func TestHitOutcomes(t *testing.T) {
	const ino, other = 1001, 1002
	for _, st := range mm.Strategies() {
		t.Run(st.String(), func(t *testing.T) {
			s := NewSystem()
			as := mm.New(mm.Config{})
			s.Attach(as)
			text, anon := fxBase, fxBase+0x100000
			fxMap(t, as, text, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
			fxMap(t, as, text+8*fxPage, 4*fxPage, fxRX, mm.MapPrivate, other, 0)
			if _, err := as.Mmap(anon, fxPage, fxRX, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
				t.Fatal(err)
			}
			fxEvent(t, s, "p:fx/b /fx/bin:0x1010", ino)
			fxEvent(t, s, "p:fx/a /fx/bin:0x1010", ino)
			fxEvent(t, s, "p:fx/c /fx/bin:0x2000", ino)
			task := s.NewTask(as, st)
			defer task.Exit()

			for _, c := range []struct {
				addr uint64
				want string
			}{
				{text + 0x1010, "fired fx/a,fx/b"},
				{text + 0x2000, "fired fx/c"},
				{text + 0x1011, "no_trap -"},            // next byte: no breakpoint
				{text + 0x3010, "no_trap -"},            // same file, unprobed offset
				{text + 8*fxPage + 0x1010, "no_trap -"}, // same offset, other inode
				{anon, "no_trap -"},
				{fxBase - fxPage, "no_trap -"}, // nothing mapped
			} {
				got, r := fxHit(task, c.addr)
				if got != c.want {
					t.Errorf("hit %#x = %q, want %q", c.addr, got, c.want)
				}
				if r.Outcome == Fired && r.Fired != strings.Count(got, ",")+1 {
					t.Errorf("hit %#x: Fired = %d for %q", c.addr, r.Fired, got)
				}
				if r.Outcome == Fired && r.Fallback != mm.FastPath {
					t.Errorf("hit %#x with no writer fell back: %v", c.addr, r.Fallback)
				}
			}

			// SIGTRAP: the breakpoint stays in an address space the system
			// forgot, and its uprobe goes away.
			s.Detach(as)
			fxRemove(t, s, "fx/c")
			if got, _ := fxHit(task, text+0x2000); got != "sigtrap -" {
				t.Errorf("stale breakpoint: hit = %q, want sigtrap", got)
			}
			if got := s.Breakpoints(as); len(got) != 2 || !strings.HasSuffix(got[1], " -") {
				t.Errorf("Breakpoints = %q, want the stale one listed with -", got)
			}
			st0 := task.Stats()
			if st0.Outcomes[SIGTRAP] != 1 || st0.Outcomes[Fired] != 2 || st0.Outcomes[NoTrap] != 5 {
				t.Errorf("stats %+v", st0)
			}
		})
	}
}

// TestHitRestart: an unregistration that removes the breakpoint while the
// hit is resolving makes the task re-execute the instruction (Restart), in
// every strategy. The writer runs in the registry's lookup window.
func TestHitRestart(t *testing.T) {
	const ino = 1003
	for _, st := range mm.Strategies() {
		t.Run(st.String(), func(t *testing.T) {
			s := NewSystem()
			as := mm.New(mm.Config{})
			s.Attach(as)
			fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
			ev := fxEvent(t, s, "p:fx/gone /fx/bin:0x1010", ino)
			task := s.NewTask(as, st)
			defer task.Exit()
			var once sync.Once
			var wg sync.WaitGroup
			if st == mm.Locked {
				// The lookup runs under the mmap read lock, so the breakpoint
				// can only be removed once it is dropped: the system forgets
				// the address space (the unregistration leaves it alone), and
				// a writer queues for the write lock to remove it. The trap
				// check shares the lookup's lock hold, so the writer comes
				// too late: SIGTRAP (see want below).
				s.Detach(as)
				s.Registry().SetTestHooks(&TestHooks{AfterLookup: func(u *Uprobe) {
					once.Do(func() {
						fxRemove(t, s, "fx/gone")
						wg.Add(1)
						go func() {
							defer wg.Done()
							as.RemoveProbe(ev.Inode, mm.ProbePoint{Offset: 0x1010})
						}()
						fxWaitBlocked(t, "sync.RWMutex.Lock", "RemoveProbe")
					})
				}})
			} else {
				s.Registry().SetTestHooks(&TestHooks{AfterLookup: func(u *Uprobe) {
					once.Do(func() { fxRemove(t, s, "fx/gone") })
				}})
			}
			got, r := fxHit(task, fxBase+0x1010)
			wg.Wait()
			s.Registry().SetTestHooks(nil)
			want := "restart -"
			if st == mm.Locked {
				// The trap is checked under the same mmap read lock hold as
				// the lookup (as Linux does), so the queued writer cannot
				// remove the breakpoint in between: the stray breakpoint
				// left by the forgotten address space is a SIGTRAP.
				want = "sigtrap -"
			}
			if got != want {
				t.Fatalf("hit = %q (%+v), want %s", got, r, want)
			}
			if st != mm.Locked && r.Fallback != mm.Miss {
				t.Errorf("fallback %v, want miss (the lockless lookup found a dying uprobe)", r.Fallback)
			}
			if got, _ := fxHit(task, fxBase+0x1010); got != "no_trap -" {
				t.Errorf("after restart: %q, want no_trap", got)
			}
		})
	}
}

// TestHitNoSpuriousSIGTRAP: Hit looks the uprobe up (under the mmap read
// lock, on the fallback) and then, after dropping the lock, takes it again
// to ask whether the trap is still there. Linux does both in one hold of
// the read lock (find_active_uprobe_rcu: find_uprobe_rcu, then
// is_trap_at_addr), so a breakpoint written after the lookup cannot be
// seen by the check; with no uprobe and no trap it restarts. Here a writer
// that gets the lock in between (a mapping of another probed file at the
// same address, whose breakpoint uprobe_mmap writes) turns the restart into
// SIGTRAP, which kills a task that never executed that breakpoint. The
// stress test sees this happen a few times per run. The construction: the
// hit's probe is unregistered inside the speculation window, its uprobe
// held dying (erase pending) so that the locked lookup still calls the
// registry's AfterLookup hook, which queues the writer for the mmap lock.
func TestHitNoSpuriousSIGTRAP(t *testing.T) {
	const ino, next = 1007, 1008
	for _, st := range []mm.Strategy{mm.MMSeq, mm.VMASeq} {
		t.Run(st.String(), func(t *testing.T) {
			s := NewSystem()
			reg := s.Registry()
			h := &mmhook.Hooks{}
			as := mm.New(mm.Config{Test: h})
			s.Attach(as)
			fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
			fxEvent(t, s, "p:fx/going /fx/bin:0x1010", ino)
			fxEvent(t, s, "p:fx/coming /fx/bin:0x1010", next)
			erasing, resume, unregistered := make(chan struct{}), make(chan struct{}), make(chan struct{})
			var eraseOnce, unregOnce sync.Once
			var writer sync.WaitGroup
			lookups := 0
			reg.SetTestHooks(&TestHooks{
				BeforeErase: func(*Uprobe) { eraseOnce.Do(func() { close(erasing); <-resume }) },
				AfterLookup: func(*Uprobe) {
					if lookups++; lookups != 2 {
						return // the first is the lockless one
					}
					// Under the mmap read lock of the fallback: no uprobe, no trap.
					if as.HasBreakpoint(fxBase + 0x1010) {
						t.Error("the trap is still there: the construction failed")
					}
					writer.Go(func() {
						f := fxOpen(next)
						defer f.Put()
						if _, err := as.Mmap(fxBase, 4*fxPage, fxRX, mm.MapPrivate|mm.MapFixed, f, 0); err != nil {
							t.Error(err)
						}
					})
					fxWaitBlocked(t, "sync.RWMutex.Lock", "(*AddressSpace).Mmap")
				},
			})
			h.AfterFileLoad = func() {
				unregOnce.Do(func() {
					go func() { defer close(unregistered); fxRemove(t, s, "fx/going") }()
					<-erasing // the breakpoint is gone, the uprobe dying
				})
			}
			task := s.NewTask(as, st)
			defer task.Exit()
			got, r := fxHit(task, fxBase+0x1010)
			close(resume)
			<-unregistered
			writer.Wait()
			reg.SetTestHooks(nil)
			if lookups != 2 {
				t.Fatalf("%d lookups, want 2: the construction failed", lookups)
			}
			if got == "sigtrap -" {
				t.Errorf("hit = %q (%v): the lookup found no uprobe while no trap was there, Linux restarts", got, r.Fallback)
			}
			if again, _ := fxHit(task, fxBase+0x1010); again != "fired fx/coming" {
				t.Errorf("next hit = %q, want fired fx/coming", again)
			}
		})
	}
}

// TestReturnProbes: return consumers fire on Return, innermost first; the
// depth is bounded by MaxURetprobeDepth (deeper return probes are skipped and
// counted, the entry consumers still run).
func TestReturnProbes(t *testing.T) {
	const ino = 1004
	for _, st := range mm.Strategies() {
		t.Run(st.String(), func(t *testing.T) {
			s := NewSystem()
			as := mm.New(mm.Config{})
			s.Attach(as)
			fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
			fxEvent(t, s, "p:fx/outer /fx/bin:0x1000", ino)
			fxEvent(t, s, "r:fx/outer_ret /fx/bin:0x1000", ino)
			fxEvent(t, s, "r:fx/inner_ret /fx/bin:0x2000", ino)
			task := s.NewTask(as, st)
			defer task.Exit()

			if got, _ := fxHit(task, fxBase+0x1000); got != "fired fx/outer" {
				t.Fatalf("outer hit %q", got)
			}
			// A return-only probe fires nothing on entry but pushes an instance.
			if got, r := fxHit(task, fxBase+0x2000); got != "fired -" || r.Fired != 0 {
				t.Fatalf("inner hit %q %+v", got, r)
			}
			if task.Depth() != 2 {
				t.Fatalf("depth %d, want 2", task.Depth())
			}
			for _, want := range []string{"fx/inner_ret", "fx/outer_ret"} {
				names, ok := task.ReturnNames()
				if !ok || fxNames(names) != want {
					t.Fatalf("return = %q %v, want %s", names, ok, want)
				}
			}
			if _, ok := task.Return(); ok {
				t.Fatal("Return with nothing pending reported ok")
			}

			// Nesting beyond the limit.
			const extra = 5
			for i := 0; i < MaxURetprobeDepth+extra; i++ {
				if got, _ := fxHit(task, fxBase+0x1000); got != "fired fx/outer" {
					t.Fatalf("nested hit %d: %q", i, got)
				}
			}
			if task.Depth() != MaxURetprobeDepth {
				t.Fatalf("depth %d, want %d", task.Depth(), MaxURetprobeDepth)
			}
			if sk := task.Stats().Skipped; sk != extra {
				t.Fatalf("skipped %d, want %d", sk, extra)
			}
			for i := 0; i < MaxURetprobeDepth; i++ {
				if names, ok := task.ReturnNames(); !ok || fxNames(names) != "fx/outer_ret" {
					t.Fatalf("return %d: %q %v", i, names, ok)
				}
			}
			if task.Depth() != 0 || task.Stats().Returns != 2+MaxURetprobeDepth {
				t.Fatalf("depth %d, stats %+v", task.Depth(), task.Stats())
			}

			// A return consumer removed while its instance is pending does
			// not fire; the instance still pops.
			fxHit(task, fxBase+0x1000)
			fxRemove(t, s, "fx/outer_ret")
			if names, ok := task.ReturnNames(); !ok || len(names) != 0 {
				t.Fatalf("return after unregister: %q %v", names, ok)
			}
		})
	}
}

// fxScript is a deterministic random history of mappings, registrations and
// hits over two address spaces; run returns its transcript.
type fxScript struct {
	seed  int64
	steps int
}

func (sc fxScript) run(t *testing.T, st mm.Strategy) []string {
	rnd := rand.New(rand.NewSource(sc.seed))
	s := NewSystem()
	spaces := []*mm.AddressSpace{mm.New(mm.Config{}), mm.New(mm.Config{})}
	var tasks []*Task
	for _, as := range spaces {
		s.Attach(as)
		tasks = append(tasks, s.NewTask(as, st))
	}
	defer func() {
		for i, task := range tasks {
			task.Exit()
			spaces[i].Exit()
		}
	}()
	inos := []uint64{1011, 1012, 1013}
	offs := []uint64{0x10, 0x1010, 0x2010, 0x3010}
	slot := func(i int) uint64 { return fxBase + uint64(i)*0x100000 }
	scratch := func(i int) uint64 { return slot(i) + 0x80000 }
	var out []string
	var live []string
	nameN := 0
	for step := 0; step < sc.steps; step++ {
		as := spaces[rnd.Intn(2)]
		i := rnd.Intn(4)
		var op string
		switch rnd.Intn(9) {
		case 0, 1:
			prot := []int{fxRX, fxRX, fxRO, fxRW, fxRWX}[rnd.Intn(5)]
			flags := mm.MapPrivate
			if rnd.Intn(4) == 0 {
				flags = mm.MapShared
				prot &^= mm.ProtWrite
			}
			n, pg := inos[rnd.Intn(3)], uint64(rnd.Intn(2))
			f := fxOpen(n)
			_, err := as.Mmap(slot(i), 4*fxPage, prot, flags|mm.MapFixed, f, pg*fxPage)
			f.Put()
			op = fmt.Sprintf("mmap slot%d ino%d pg%d prot%d flags%d: %v", i, n, pg, prot, flags, err)
		case 2:
			err := as.Munmap(slot(i)+uint64(rnd.Intn(4))*fxPage, uint64(1+rnd.Intn(2))*fxPage)
			op = fmt.Sprintf("munmap slot%d: %v", i, err)
		case 3:
			prot := []int{fxRX, fxRO, fxRW, mm.ProtNone}[rnd.Intn(4)]
			err := as.Mprotect(slot(i)+uint64(rnd.Intn(4))*fxPage, fxPage, prot)
			op = fmt.Sprintf("mprotect slot%d %d: %v", i, prot, err)
		case 4:
			from, to := slot(i), scratch(i)
			if rnd.Intn(2) == 0 {
				from, to = to, from
			}
			got, err := as.Mremap(from, 4*fxPage, 4*fxPage, mm.MremapMayMove|mm.MremapFixed, to)
			op = fmt.Sprintf("mremap slot%d %#x->%#x = %#x: %v", i, from, to, got, err)
		case 5:
			n := uint64(1 + rnd.Intn(4))
			got, err := as.Mremap(slot(i), 4*fxPage, n*fxPage, 0, 0)
			op = fmt.Sprintf("mremap slot%d resize %d = %#x: %v", i, n, got, err)
		case 6, 7:
			kind := "p"
			if rnd.Intn(3) == 0 {
				kind = "r"
			}
			nameN++
			name := fmt.Sprintf("fx/e%d", nameN)
			n, off := inos[rnd.Intn(3)], offs[rnd.Intn(4)]
			spec, _ := ParseSpec(fmt.Sprintf("%s:%s /fx/bin:%#x", kind, name, off))
			_, err := s.AddEventAt(spec, fxIno(n))
			if err == nil {
				live = append(live, name)
			}
			op = fmt.Sprintf("%s %s ino%d %#x: %v", kind, name, n, off, err)
		case 8:
			if len(live) == 0 {
				continue
			}
			k := rnd.Intn(len(live))
			err := s.RemoveEvent(live[k])
			op = fmt.Sprintf("- %s: %v", live[k], err)
			live = append(live[:k], live[k+1:]...)
		}
		out = append(out, op)
		for a, as := range spaces {
			out = append(out, fmt.Sprintf("  as%d bps %q", a, s.Breakpoints(as)))
			for i := 0; i < 4; i++ {
				for _, base := range []uint64{slot(i), scratch(i)} {
					for pg := uint64(0); pg < 5; pg++ {
						addr := base + pg*fxPage + 0x10
						got, r := fxHit(tasks[a], addr)
						if st != mm.Locked && r.Outcome == Fired && r.Fallback != mm.FastPath {
							t.Errorf("step %d: quiescent hit at %#x fell back: %v", step, addr, r.Fallback)
						}
						if got == "no_trap -" {
							continue
						}
						line := fmt.Sprintf("  as%d hit %#x %s", a, addr, got)
						for tasks[a].Depth() > 0 {
							names, _ := tasks[a].ReturnNames()
							line += " ret " + fxNames(names)
						}
						out = append(out, line)
					}
				}
			}
		}
	}
	return out
}

// TestStrategiesAgree replays the same random histories with every strategy:
// the transcripts (breakpoints, outcomes, names, return names) must be equal,
// and with no writer running every lockless hit that fires takes the fast
// path.
func TestStrategiesAgree(t *testing.T) {
	steps := 200
	if testing.Short() {
		steps = 80
	}
	for seed := int64(1); seed <= 3; seed++ {
		sc := fxScript{seed: seed, steps: steps}
		want := sc.run(t, mm.Locked)
		fired := 0
		for _, l := range want {
			if strings.Contains(l, " fired ") {
				fired++
			}
		}
		if fired < 20 {
			t.Fatalf("seed %d: only %d hits fired: the history proves little", seed, fired)
		}
		for _, st := range fxLockless() {
			got := sc.run(t, st)
			for i := 0; i < len(want) || i < len(got); i++ {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Errorf("seed %d, %v differs from locked at line %d:\n got  %s\n want %s", seed, st, i, g, w)
					break
				}
			}
		}
	}
}

// TestHitAllocs: the fast path of Hit allocates nothing.
func TestHitAllocs(t *testing.T) {
	const ino = 1005
	s := NewSystem()
	as := mm.New(mm.Config{})
	s.Attach(as)
	fxMap(t, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	fxEvent(t, s, "p:fx/alloc /fx/bin:0x1010", ino)
	for _, st := range mm.Strategies() {
		task := s.NewTask(as, st)
		fire := testing.AllocsPerRun(1000, func() {
			if r := task.Hit(fxBase + 0x1010); r.Outcome != Fired || r.Fallback != mm.FastPath {
				panic(fmt.Sprintf("%v: %+v", st, r))
			}
		})
		miss := testing.AllocsPerRun(1000, func() { task.Hit(fxBase + 0x1020) })
		task.Exit()
		if st == mm.Locked {
			t.Logf("locked: %v allocs per firing hit", fire)
			continue
		}
		if fire != 0 || miss != 0 {
			t.Errorf("%v: allocs per hit: firing %v, no trap %v; want 0", st, fire, miss)
		}
	}
}

// BenchmarkHit measures one task hitting one probed address, per strategy
// (go test -bench Hit -count 10 | benchstat).
func BenchmarkHit(b *testing.B) {
	const ino = 1006
	s := NewSystem()
	as := mm.New(mm.Config{})
	s.Attach(as)
	fxMap(b, as, fxBase, 4*fxPage, fxRX, mm.MapPrivate, ino, 0)
	for i := uint64(0); i < 16; i++ { // some other VMAs and probes
		fxMap(b, as, fxBase+(8+2*i)*fxPage, fxPage, fxRX, mm.MapPrivate, ino, i*fxPage)
		fxEvent(b, s, fmt.Sprintf("p:fxb/e%d /fx/bin:%#x", i, i*fxPage+0x40), ino)
	}
	fxEvent(b, s, "p:fxb/nop /fx/bin:0x1010", ino)
	for _, st := range mm.Strategies() {
		b.Run(st.String(), func(b *testing.B) {
			task := s.NewTask(as, st)
			defer task.Exit()
			b.ReportAllocs()
			for b.Loop() {
				task.Hit(fxBase + 0x1010)
			}
			if task.Stats().Outcomes[Fired] == 0 {
				b.Fatal("nothing fired")
			}
		})
	}
}
