package uprobes

// Stress: tasks hit probed addresses while writers change the mappings
// under them (mmap, munmap, mprotect, mremap of the probed VMAs and of
// others, with VMA and File memory reused all the time, Files reopened on
// other inodes) and probes are registered and unregistered.
//
// Ground truth. A global clock orders everything. A writer reads the clock
// before and after each operation, and records for every hit address the
// windows [from, to] during which it mapped a given (inode, offset): a
// window opens at the clock value read before the operation that created
// it and closes at the value read after the one that ended it. A
// registration is alive from the clock before Register to the clock after
// Unregister. A task reads the clock before and after each hit. A hit that
// ran consumer E at address A is right only if, at some instant inside the
// hit, A mapped E's (inode, offset), and at that instant or later inside the
// hit E was registered (the consumers are read after the lookup), and E's
// filter accepts the address space. Everything else (an event of another
// inode or offset, a stale File or VMA, a filtered consumer) is a wrong
// answer, and there must be none. The same workload with validation switched off must
// produce some, or the checker proves nothing.

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"specvma/internal/mmhook"
	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/vfs"
)

const (
	stSlots     = 3
	stSlotBase  = uint64(0x300000000000)
	stChurnBase = uint64(0x500000000000)
	stStable    = uint64(0x3f0000000000)
	stStableIno = 1499
	stInoFirst  = 1400
	stInos      = 6
)

var stOffs = []uint64{0x1010, 0x2010, 0x3010}

type stKey struct {
	id  vfs.InodeID
	off uint64
}

func (k stKey) String() string { return fmt.Sprintf("ino%d+%#x", k.id.Ino, k.off) }

type stWindow struct {
	key      stKey
	from, to uint64
}

// stReg is one registration (one consumer).
type stReg struct {
	key      stKey
	reject   int // address space its filter rejects, or -1
	ret      bool
	from, to uint64
	c        *Consumer
	u        *Uprobe
}

// stRec is a hit that ran consumers (ret: the return that followed it).
type stRec struct {
	as     int
	addr   uint64
	names  []string
	h0, h1 uint64 // the hit
	h2     uint64 // the end of the return, for ret records
	ret    bool
}

type stressOpts struct {
	st       mm.Strategy
	hooks    *mmhook.Hooks
	dur      time.Duration
	seed     int64
	tasksPer int // tasks per address space
}

type stressRig struct {
	t      *testing.T
	o      stressOpts
	s      *System
	spaces []*mm.AddressSpace
	clock  atomic.Uint64
	stop   atomic.Bool

	windows []map[uint64][]stWindow // per space, per hit address; written by that space's slot writer
	regs    []*stReg                // written by the registration writer only
	recs    [][]stRec               // per task
	stats   []TaskStats             // per task

	badCtx  atomic.Int64 // handlers that saw another uprobe, or a filtered space
	msgMu   sync.Mutex
	msgs    []string
	slotOps atomic.Int64
	regOps  atomic.Int64
}

func (r *stressRig) note(format string, a ...any) {
	r.msgMu.Lock()
	if len(r.msgs) < 10 {
		r.msgs = append(r.msgs, fmt.Sprintf(format, a...))
	}
	r.msgMu.Unlock()
}

func stIno(k int) vfs.InodeID { return fxIno(uint64(stInoFirst + k)) }

func stSlot(i int) uint64    { return stSlotBase + uint64(i)*0x100000 }
func stScratch(i int) uint64 { return stSlot(i) + 0x80000 }

// stHitAddrs are the addresses a task of a space hits: the probed pages of
// each slot at home and in its scratch place, and the stable probe.
func stHitAddrs() []uint64 {
	var out []uint64
	for i := 0; i < stSlots; i++ {
		for _, b := range []uint64{stSlot(i), stScratch(i)} {
			out = append(out, b+0x1010, b+0x2010)
		}
	}
	return append(out, stStable+0x1010)
}

func newStressRig(t *testing.T, o stressOpts) *stressRig {
	r := &stressRig{t: t, o: o, s: NewSystem()}
	for a := 0; a < 2; a++ {
		as := mm.New(mm.Config{Test: o.hooks})
		r.s.Attach(as)
		r.spaces = append(r.spaces, as)
		fxMap(t, as, stStable, 4*fxPage, fxRX, mm.MapPrivate, stStableIno, 0)
		w := map[uint64][]stWindow{}
		w[stStable+0x1010] = []stWindow{{stKey{fxIno(stStableIno), 0x1010}, 0, math.MaxUint64}}
		r.windows = append(r.windows, w)
	}
	// The stable probe: registration 0, alive throughout.
	r.register(stKey{fxIno(stStableIno), 0x1010}, -1, false)
	r.regs[0].from = 0
	return r
}

// register adds a consumer on k and records it (registration writer only).
func (r *stressRig) register(k stKey, reject int, ret bool) {
	n := len(r.regs)
	g := &stReg{key: k, reject: reject, ret: ret, to: math.MaxUint64}
	name := "st/e" + strconv.Itoa(n)
	var rejectAS *mm.AddressSpace
	if reject >= 0 {
		rejectAS = r.spaces[reject]
	}
	check := func(ctx *Context) {
		u := ctx.Uprobe
		if u.Inode() != k.id || u.Offset() != k.off {
			r.badCtx.Add(1)
			r.note("%s (%v) ran on a uprobe keyed %v+%#x", name, k, u.Inode(), u.Offset())
		}
		if rejectAS != nil && ctx.AS == rejectAS {
			r.badCtx.Add(1)
			r.note("%s ran in the address space its filter rejects", name)
		}
	}
	g.c = &Consumer{Name: name, Return: ret}
	if ret {
		g.c.RetHandler = check
	} else {
		g.c.Handler = check
	}
	if rejectAS != nil {
		g.c.Filter = func(as *mm.AddressSpace) bool { return as != rejectAS }
	}
	r.regs = append(r.regs, g)
	g.from = r.clock.Add(1)
	u, err := r.s.Registry().Register(k.id, k.off, 0, g.c)
	if err != nil {
		r.t.Errorf("Register: %v", err)
	}
	g.u = u
	r.regOps.Add(1)
}

func (r *stressRig) unregister(g *stReg) {
	if err := r.s.Registry().Unregister(g.u, g.c); err != nil {
		r.t.Errorf("Unregister: %v", err)
	}
	g.to = r.clock.Add(1)
	r.regOps.Add(1)
}

// regWriter registers and unregisters consumers on random keys.
func (r *stressRig) regWriter(seed int64) {
	rnd := rand.New(rand.NewSource(seed))
	live := map[stKey][]*stReg{}
	for !r.stop.Load() {
		k := stKey{stIno(rnd.Intn(stInos)), stOffs[rnd.Intn(len(stOffs))]}
		if l := live[k]; len(l) > 0 && (len(l) >= 2 || rnd.Intn(2) == 0) {
			r.unregister(l[0])
			live[k] = l[1:]
		} else {
			reject := -1
			if rnd.Intn(3) == 0 {
				reject = rnd.Intn(2)
			}
			r.register(k, reject, rnd.Intn(4) == 0)
			live[k] = append(live[k], r.regs[len(r.regs)-1])
		}
		runtime.Gosched()
	}
	for _, l := range live {
		for _, g := range l {
			r.unregister(g)
		}
	}
}

// stKeyAt is what addr maps now (the caller is the only writer of its range).
func stKeyAt(as *mm.AddressSpace, addr uint64) (stKey, bool) {
	in, ok := as.Lookup(addr)
	if !ok || in.Inode == nil {
		return stKey{}, false
	}
	return stKey{in.Inode.ID(), in.Pgoff<<mm.PageShift + addr - in.Start}, true
}

// slotWriter changes the probed mappings of space a and records windows.
func (r *stressRig) slotWriter(a int, seed int64) {
	rnd := rand.New(rand.NewSource(seed))
	as := r.spaces[a]
	win := r.windows[a]
	type cur struct {
		key stKey
		ok  bool
	}
	now := map[uint64]cur{}
	var decoys []*vfs.File // open Files on other inodes, reusing freed File memory
	open := func() *vfs.File { return fxOpen(uint64(stInoFirst + rnd.Intn(stInos))) }
	prots := []int{fxRX, fxRX, fxRX, fxRO, fxRW, fxRWX, mm.ProtNone}
	for !r.stop.Load() {
		i := rnd.Intn(stSlots)
		home, away := stSlot(i), stScratch(i)
		t0 := r.clock.Add(1)
		switch rnd.Intn(10) {
		case 0, 1, 2: // unmap, reopen on another inode, map again
			_ = as.Munmap(away, 4*fxPage)
			_ = as.Munmap(home, 4*fxPage)
			decoys = append(decoys, open()) // gets the freed File's memory
			f := open()
			flags := mm.MapPrivate
			prot := prots[rnd.Intn(4)]
			if rnd.Intn(6) == 0 {
				flags = mm.MapShared
			}
			_, _ = as.Mmap(home, 4*fxPage, prot, flags|mm.MapFixed, f, uint64(rnd.Intn(2))*fxPage)
			f.Put()
		case 3: // MAP_FIXED over the mapping: the VMA memory is reused at once
			f := open()
			_, _ = as.Mmap(home, 4*fxPage, fxRX, mm.MapPrivate|mm.MapFixed, f, uint64(rnd.Intn(2))*fxPage)
			f.Put()
		case 4, 5:
			base := home
			if _, ok := as.Lookup(away + fxPage); ok {
				base = away
			}
			_ = as.Mprotect(base+uint64(rnd.Intn(4))*fxPage, fxPage, prots[rnd.Intn(len(prots))])
		case 6: // move between home and away
			if _, ok := as.Lookup(home + fxPage); ok {
				_ = as.Munmap(away, 4*fxPage)
				_, _ = as.Mremap(home, 4*fxPage, 4*fxPage, mm.MremapMayMove|mm.MremapFixed, away)
			} else {
				_, _ = as.Mremap(away, 4*fxPage, 4*fxPage, mm.MremapMayMove|mm.MremapFixed, home)
			}
		case 7: // shrink below the probed pages, or grow back in place
			if _, ok := as.Lookup(home + fxPage); ok {
				_, _ = as.Mremap(home, 4*fxPage, fxPage, 0, 0)
			} else {
				_, _ = as.Mremap(home, fxPage, 4*fxPage, 0, 0)
			}
		case 8:
			_ = as.Munmap(home+uint64(1+rnd.Intn(2))*fxPage, fxPage)
		case 9: // the pages move, the old range stays mapped
			_ = as.Munmap(away, 4*fxPage)
			_, _ = as.Mremap(home, 4*fxPage, 4*fxPage, mm.MremapMayMove|mm.MremapFixed|mm.MremapDontUnmap, away)
		}
		var keys [4]cur
		for j, addr := range []uint64{home + 0x1010, home + 0x2010, away + 0x1010, away + 0x2010} {
			keys[j].key, keys[j].ok = stKeyAt(as, addr)
		}
		t1 := r.clock.Add(1)
		for j, addr := range []uint64{home + 0x1010, home + 0x2010, away + 0x1010, away + 0x2010} {
			old, nw := now[addr], keys[j]
			if old == nw {
				continue
			}
			ws := win[addr]
			if old.ok {
				ws[len(ws)-1].to = t1
			}
			if nw.ok {
				ws = append(ws, stWindow{nw.key, t0, math.MaxUint64})
			}
			win[addr] = ws
			now[addr] = nw
		}
		if len(decoys) > 3 {
			decoys[0].Put()
			decoys = decoys[1:]
		}
		r.slotOps.Add(1)
		runtime.Gosched()
	}
	for _, f := range decoys {
		f.Put()
	}
}

// churnWriter changes other VMAs of space a: the mm sequence moves, and VMA
// and File memory is reused across spaces.
func (r *stressRig) churnWriter(a int, seed int64) {
	rnd := rand.New(rand.NewSource(seed))
	as := r.spaces[a]
	for !r.stop.Load() {
		at := stChurnBase + uint64(rnd.Intn(8))*2*fxPage
		switch rnd.Intn(5) {
		case 0:
			_, _ = as.Mmap(at, 2*fxPage, fxRW, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0)
		case 1:
			f := fxOpen(uint64(stInoFirst + rnd.Intn(stInos)))
			_, _ = as.Mmap(at, 2*fxPage, fxRX, mm.MapPrivate|mm.MapFixed, f, uint64(rnd.Intn(3))*fxPage)
			f.Put()
		case 2:
			_ = as.Munmap(at, 2*fxPage)
		case 3:
			_ = as.Mprotect(at, fxPage, stChurnProts[rnd.Intn(4)])
		case 4:
			fxOpen(uint64(stInoFirst + rnd.Intn(stInos))).Put()
		}
		runtime.Gosched()
	}
}

var stChurnProts = []int{fxRX, fxRO, fxRW, mm.ProtNone}

// tasker hits the space's addresses until stopped.
func (r *stressRig) tasker(n, a int, seed int64) {
	rnd := rand.New(rand.NewSource(seed))
	task := r.s.NewTask(r.spaces[a], r.o.st)
	defer task.Exit()
	addrs := stHitAddrs()
	var recs []stRec
	for i := 0; !r.stop.Load(); i++ {
		if i%8 == 0 {
			runtime.Gosched() // let the writers in: there are more tasks than CPUs
		}
		addr := addrs[rnd.Intn(len(addrs))]
		h0 := r.clock.Load()
		names, res := task.HitNames(addr)
		h1 := r.clock.Load()
		if addr == stStable+0x1010 && (res.Outcome != Fired || len(names) != 1 || names[0] != "st/e0") {
			r.note("the stable probe's hit gave %v %q", res.Outcome, names)
			r.badCtx.Add(1)
		}
		if res.Outcome == Fired && res.Fired != len(names) {
			r.note("Fired = %d with names %q", res.Fired, names)
			r.badCtx.Add(1)
		}
		if len(names) > 0 && len(recs) < 1<<17 {
			recs = append(recs, stRec{as: a, addr: addr, names: names, h0: h0, h1: h1})
		}
		for task.Depth() > 0 {
			rn, _ := task.ReturnNames()
			if len(rn) > 0 && len(recs) < 1<<17 {
				recs = append(recs, stRec{as: a, addr: addr, names: rn, h0: h0, h1: h1, h2: r.clock.Load(), ret: true})
			}
		}
	}
	r.recs[n] = recs
	r.stats[n] = task.Stats()
}

// run runs the workload for the rig's duration and returns the number of
// wrong answers.
func (r *stressRig) run() (wrong int) {
	nt := 2 * r.o.tasksPer
	r.recs = make([][]stRec, nt)
	r.stats = make([]TaskStats, nt)
	var wg sync.WaitGroup
	seed := r.o.seed
	wg.Go(func() { r.regWriter(seed) })
	for a := range r.spaces {
		wg.Go(func() { r.slotWriter(a, seed+int64(10+a)) })
		wg.Go(func() { r.churnWriter(a, seed+int64(20+a)) })
	}
	for n := 0; n < nt; n++ {
		wg.Go(func() { r.tasker(n, n%2, seed+int64(30+n)) })
	}
	time.Sleep(r.o.dur)
	r.stop.Store(true)
	wg.Wait()
	// Every registration but the stable one is gone: so are their
	// breakpoints.
	for a, as := range r.spaces {
		if bps := fxBPs(as); !fxSameAddrs(bps, []uint64{stStable + 0x1010}) {
			r.note("as%d: breakpoints %#x left after the unregistrations, want only the stable one", a, bps)
			r.badCtx.Add(1)
		}
	}
	return r.check()
}

// covered reports whether g may have run in a hit of addr in space a: at
// some instant c1 of the hit [h0, h1] the address mapped g's key (the
// lookup), and at some instant c2 >= c1 before the end (h1 for an entry, h2
// for the return that followed) g was registered, since the consumers are
// read after the lookup, as handler_chain and handle_uretprobe_chain do.
func (r *stressRig) covered(a int, addr uint64, g *stReg, ret bool, h0, h1, h2 uint64) bool {
	end := h1
	if ret {
		end = h2
	}
	ws := r.windows[a][addr]
	j := sort.Search(len(ws), func(i int) bool { return ws[i].from > h1 }) - 1
	for ; j >= 0 && ws[j].to >= h0; j-- {
		w := ws[j]
		if w.key != g.key {
			continue
		}
		c1 := max(h0, w.from)
		if c1 <= min(h1, w.to) && max(c1, g.from) <= min(end, g.to) {
			return true
		}
	}
	return false
}

func (r *stressRig) check() (wrong int) {
	for _, recs := range r.recs {
		for _, rec := range recs {
			for _, name := range rec.names {
				n, err := strconv.Atoi(strings.TrimPrefix(name, "st/e"))
				if err != nil || n >= len(r.regs) {
					r.note("unknown consumer %q", name)
					wrong++
					continue
				}
				g := r.regs[n]
				var why string
				switch {
				case g.reject == rec.as:
					why = "its filter rejects the space"
				case g.ret != rec.ret:
					why = "an entry/return mix-up"
				case !r.covered(rec.as, rec.addr, g, rec.ret, rec.h0, rec.h1, rec.h2):
					why = "the address never mapped " + g.key.String() + " while it was registered"
				default:
					continue
				}
				wrong++
				r.note("as%d hit %#x [%d,%d] ran %s (%v, registered [%d,%d]): %s; windows %v",
					rec.as, rec.addr, rec.h0, rec.h1, name, g.key, g.from, g.to, why, r.windowsNear(rec))
			}
		}
	}
	return wrong + int(r.badCtx.Load())
}

func (r *stressRig) windowsNear(rec stRec) []stWindow {
	var out []stWindow
	for _, w := range r.windows[rec.as][rec.addr] {
		if w.to >= rec.h0 && w.from <= rec.h1 {
			out = append(out, w)
		}
	}
	return out
}

// teardown unmaps and exits everything and checks that nothing is left.
func (r *stressRig) teardown(base testsupport.Baseline) {
	for _, as := range r.spaces {
		as.Exit()
	}
	reg := r.s.Registry()
	for _, g := range r.regs[:1] {
		r.unregister(g)
	}
	reg.Barrier()
	if st := reg.Stats(); st.Live != 0 {
		r.t.Errorf("after the run: %d uprobes live (%+v)", st.Live, st)
	}
	base.Check(r.t)
}

func (r *stressRig) summary() (fired int, fast, fallbacks uint64, line string) {
	var tot TaskStats
	for _, s := range r.stats {
		tot.Hits += s.Hits
		tot.FastPath += s.FastPath
		for i := range s.Fallbacks {
			tot.Fallbacks[i] += s.Fallbacks[i]
		}
		for i := range s.Outcomes {
			tot.Outcomes[i] += s.Outcomes[i]
		}
	}
	for _, recs := range r.recs {
		for _, rec := range recs {
			if rec.addr != stStable+0x1010 {
				fired++
			}
		}
	}
	var b strings.Builder
	// SIGTRAP should not happen in this workload (every breakpoint has a
	// uprobe); it does, rarely: see TestHitNoSpuriousSIGTRAP.
	fmt.Fprintf(&b, "%v: %d hits (", r.o.st, tot.Hits)
	for o, n := range tot.Outcomes {
		fmt.Fprintf(&b, " %v=%d", Outcome(o), n)
	}
	fmt.Fprintf(&b, " ), %d churned hits ran consumers; fast %d, fallbacks", fired, tot.FastPath)
	for f, n := range tot.Fallbacks {
		if n > 0 {
			fmt.Fprintf(&b, " %v=%d", mm.Fallback(f), n)
			fallbacks += n
		}
	}
	fmt.Fprintf(&b, "; %d slot ops, %d registrations", r.slotOps.Load(), r.regOps.Load())
	return fired, tot.FastPath, fallbacks, b.String()
}

func stressDur() time.Duration {
	if testing.Short() {
		return 100 * time.Millisecond
	}
	return 300 * time.Millisecond
}

func stReuse() (files, vmas int64) {
	_, _, f := vfs.LiveFiles()
	_, _, v := mm.LiveVMAs()
	return f, v
}

// TestStressHits runs the workload with every strategy; with the lockless
// strategies once more with windows widened by yielding inside them. There
// must be no wrong answer, and the run must have exercised what it claims
// (memory reuse, hits that fired on churned mappings, fast paths).
func TestStressHits(t *testing.T) {
	type variant struct {
		st    mm.Strategy
		hooks *mmhook.Hooks
		name  string
	}
	var vs []variant
	for _, st := range mm.Strategies() {
		vs = append(vs, variant{st, nil, st.String()})
	}
	// Yield in one window in three, not in every one: on one CPU a yield
	// in every window lets a churn writer in every time, so every mmseq
	// attempt would fall back and the fast path would go untested.
	yield := func() func() {
		var n atomic.Uint32
		return func() {
			if n.Add(1)%3 == 0 {
				runtime.Gosched()
			}
		}
	}
	vs = append(vs,
		variant{mm.MMSeq, &mmhook.Hooks{AfterFileLoad: yield(), AfterTryBegin: yield(), CheckFind: true}, "mmseq-widened"},
		variant{mm.VMASeq, &mmhook.Hooks{AfterFileLoad: yield(), AfterLockSeqLoad: yield(), CheckFind: true}, "vmaseq-widened"})
	for i, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			// Rounds until the runs together exercised what the test claims
			// (memory reuse, hits that fired on churned mappings, fast
			// paths), 5 s at most: one short round on a loaded machine or
			// one CPU may not get there, and that is no failure of the code.
			var reused, fired, fast bool
			deadline := time.Now().Add(5 * time.Second)
			for round := 0; !(reused && fired && (fast || v.st == mm.Locked)); round++ {
				if round > 0 && time.Now().After(deadline) {
					break
				}
				base := fxTakeBaseline()
				f0, v0 := stReuse()
				r := newStressRig(t, stressOpts{st: v.st, hooks: v.hooks, dur: stressDur(), seed: int64(100*(i+1) + round), tasksPer: 2})
				wrong := r.run()
				nfired, nfast, _, line := r.summary()
				t.Log(line)
				for _, m := range r.msgs {
					t.Error(m)
				}
				if wrong != 0 {
					t.Errorf("%d wrong answers", wrong)
				}
				f1, v1 := stReuse()
				reused = reused || f1 != f0 && v1 != v0 && r.s.Registry().Stats().Reused != 0
				fired = fired || nfired > 0
				fast = fast || nfast > 0
				r.teardown(base)
			}
			if !reused {
				t.Error("no memory reuse of Files, VMAs and uprobes in one run: the test proves nothing")
			}
			if !fired {
				t.Error("no hit on a churned mapping ran a consumer: the run proves nothing")
			}
			if v.st != mm.Locked && !fast {
				t.Error("the lockless path never answered")
			}
		})
	}
}

// TestStressNoValidateIsCaught: the same workload with validation switched
// off (the planted bug) must produce wrong answers that the checker sees.
func TestStressNoValidateIsCaught(t *testing.T) {
	yield := func() { runtime.Gosched() }
	for _, st := range []mm.Strategy{mm.MMSeq, mm.VMASeq} {
		t.Run(st.String(), func(t *testing.T) {
			hooks := &mmhook.Hooks{NoValidate: true, AfterFileLoad: yield, AfterLockSeqLoad: yield}
			deadline := time.Now().Add(5 * time.Second)
			for round := 1; ; round++ {
				r := newStressRig(t, stressOpts{st: st, hooks: hooks, dur: stressDur(), seed: int64(7000 + round), tasksPer: 2})
				wrong := r.run()
				_, _, _, line := r.summary()
				for _, as := range r.spaces {
					as.Exit()
				}
				if wrong > 0 {
					t.Logf("round %d: %d wrong answers caught, e.g. %s (%s)", round, wrong, r.msgs[0], line)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("with validation off, %d rounds gave no wrong answer: the checker cannot see the bug (%s)", round, line)
				}
			}
		})
	}
}
