package uprobes

// A Task is one thread of a traced process: Hit (handle_swbp) and Return
// (handle_uretprobe_chain). The package doc states the trigger path and the
// lease protocol of return instances; this file implements both.

import (
	"runtime"
	"sync/atomic"
	"time"

	"specvma/internal/rcu"
	"specvma/mm"
)

// LeaseTimeout is how long a return instance may stay leased before a
// waiting free converts it into a reference (RI_TIMER_PERIOD).
const LeaseTimeout = 100 * time.Millisecond

// Return-instance states, the low byte of the state word.
const (
	riLeased   = 1 // protected by the task's lease section
	riStable   = 2 // holds a counted reference
	riGone     = 3 // the uprobe died before the lease could be converted
	riExpiring = 4 // an expirer is converting it
	riConsumed = 5 // popped by the task
)

// MaxURetprobeDepth is MAX_URETPROBE_DEPTH: deeper return probes are skipped.
const MaxURetprobeDepth = 64

// Outcome is what a Hit amounted to.
type Outcome int

// Hit outcomes.
const (
	NoTrap  Outcome = iota // no breakpoint at the address: the instruction just runs
	Fired                  // a uprobe was found and its consumers ran
	SIGTRAP                // a breakpoint is there but no uprobe: the task gets SIGTRAP
	Restart                // the breakpoint went away meanwhile: re-execute the instruction
)

var outcomeNames = [...]string{"no_trap", "fired", "sigtrap", "restart"}

func (o Outcome) String() string { return outcomeNames[o] }

// Result is one Hit's result.
type Result struct {
	Outcome  Outcome
	Fired    int         // consumers that ran
	Fallback mm.Fallback // why the lockless path fell back, or mm.FastPath
}

// TaskStats count a task's hits by path.
type TaskStats struct {
	Hits      uint64
	FastPath  uint64
	Fallbacks [mm.NumFallbacks]uint64
	Outcomes  [4]uint64
	Returns   uint64
	Skipped   uint64 // return probes skipped at the depth limit
}

type returnInstance struct {
	state atomic.Uint64 // generation<<8 | state
	u     atomic.Pointer[Uprobe]
	addr  uint64
}

// Task runs in an address space and hits its breakpoints.
type Task struct {
	sys      *System
	as       *mm.AddressSpace
	strategy mm.Strategy
	rd       *rcu.Reader
	find     func(mm.Mapping) (*Uprobe, bool)
	ctx      Context
	lease    *rcu.Reader
	rets     [MaxURetprobeDepth]returnInstance
	depth    atomic.Int32
	gen      uint64
	stats    TaskStats
	names    *[]string // when set, Hit records the names of consumers that ran
}

// NewTask starts a task in as that resolves with strategy.
func (s *System) NewTask(as *mm.AddressSpace, strategy mm.Strategy) *Task {
	t := &Task{sys: s, as: as, strategy: strategy, rd: s.reg.RCU().NewReader()}
	reg := s.reg
	t.find = func(m mm.Mapping) (*Uprobe, bool) {
		if m.Inode == nil {
			return nil, false
		}
		u := reg.FindRCU(m.Inode.ID(), m.Offset)
		return u, u != nil
	}
	t.ctx.AS = as
	t.lease = s.reg.Leases().NewReaderFor(t)
	return t
}

// SetStrategy changes how the task resolves breakpoints.
func (t *Task) SetStrategy(s mm.Strategy) { t.strategy = s }

// Stats returns the task's counters.
func (t *Task) Stats() TaskStats { return t.stats }

// Depth is the number of pending return instances.
func (t *Task) Depth() int { return int(t.depth.Load()) }

// Exit drops the task's pending return instances, ends the lease section
// they held open (as uprobe_free_utask does at exit: a free waiting on the
// leases must not wait LeaseTimeout for a task that is gone), and closes
// its readers.
func (t *Task) Exit() {
	leased := t.Depth() > 0
	for t.Depth() > 0 {
		if u, stable := t.popReturn(); u != nil && stable {
			u.Put()
		}
	}
	if leased {
		t.lease.Unlock() // safety:exit-lease
	}
	t.rd.Close()
	t.lease.Close()
}

// Hit executes the instruction at addr: if it is a breakpoint, the task
// traps and handle_swbp runs. It allocates nothing.
func (t *Task) Hit(addr uint64) Result {
	if !t.as.HasBreakpoint(addr) {
		return t.count(Result{Outcome: NoTrap})
	}
	t.rd.Lock()
	u, ok, why, trap := mm.ResolveOrTrap(t.as, addr, t.strategy, t.find)
	if !ok {
		t.rd.Unlock()
		if trap { // a breakpoint with no uprobe behind it
			return t.count(Result{Outcome: SIGTRAP, Fallback: why})
		}
		return t.count(Result{Outcome: Restart, Fallback: why}) // unregister raced
	}
	fired, wantsReturn := t.handlerChain(u, addr)
	if wantsReturn {
		t.prepareReturn(u, addr)
	}
	t.rd.Unlock()
	return t.count(Result{Outcome: Fired, Fired: fired, Fallback: why})
}

// handlerChain runs u's entry consumers that accept this address space.
func (t *Task) handlerChain(u *Uprobe, addr uint64) (fired int, wantsReturn bool) {
	t.ctx.Uprobe, t.ctx.Addr, t.ctx.Func = u, addr, addr
	for _, c := range u.Consumers() {
		if !c.Wants(t.as) {
			continue
		}
		if c.IsReturn() {
			wantsReturn = true
			if c.Handler == nil {
				continue
			}
		}
		if c.Handler != nil {
			c.Handler(&t.ctx)
		}
		fired++
		if t.names != nil && !c.IsReturn() {
			*t.names = append(*t.names, c.Name)
		}
	}
	return fired, wantsReturn
}

// prepareReturn pushes a leased return instance (prepare_uretprobe). It
// runs inside the hit's read section, where u cannot be reused; the lease
// section, opened with the first instance, keeps it so afterwards.
func (t *Task) prepareReturn(u *Uprobe, addr uint64) {
	d := t.depth.Load()
	if d >= MaxURetprobeDepth {
		t.stats.Skipped++
		return
	}
	if d == 0 {
		t.lease.Lock() // safety:return-lease
	}
	ri := &t.rets[d]
	t.gen++
	ri.u.Store(u)
	ri.addr = addr
	ri.state.Store(t.gen<<8 | riLeased)
	t.depth.Store(d + 1)
}

// popReturn takes the innermost instance off the stack. It returns the
// uprobe to run (nil when it is gone) and whether the task now owns a
// counted reference on it.
func (t *Task) popReturn() (u *Uprobe, stable bool) {
	d := t.depth.Load() - 1
	ri := &t.rets[d]
	for {
		w := ri.state.Load()
		switch w & 0xff {
		case riLeased:
			if th := t.sys.reg.test.Load(); th != nil && th.BeforeClaim != nil {
				th.BeforeClaim()
			}
			if ri.state.CompareAndSwap(w, w&^0xff|riConsumed) { // safety:popreturn-cas
				u = ri.u.Load()
			} else {
				continue
			}
		case riStable:
			u, stable = ri.u.Load(), true
		case riExpiring:
			runtime.Gosched() // an expirer holds it: wait for its verdict
			continue
		}
		ri.state.Store(w&^0xff | riConsumed)
		t.depth.Store(d)
		return u, stable
	}
}

// Return returns from the innermost probed function: the return consumers
// of its uprobe run (handle_uretprobe_chain). ok is false when no return
// instance is pending.
func (t *Task) Return() (fired int, ok bool) {
	if t.depth.Load() == 0 {
		return 0, false
	}
	t.rd.Lock() // safety:return-rcu; keeps a popped, leased uprobe alive while its chain runs
	u, stable := t.popReturn()
	if th := t.sys.reg.test.Load(); th != nil && th.AfterPop != nil {
		th.AfterPop(u)
	}
	if u != nil {
		t.ctx.Uprobe, t.ctx.Func = u, t.rets[t.depth.Load()].addr
		for _, c := range u.Consumers() {
			if !c.IsReturn() || !c.Wants(t.as) {
				continue
			}
			if c.RetHandler != nil {
				c.RetHandler(&t.ctx)
			}
			fired++
			if t.names != nil {
				*t.names = append(*t.names, c.Name)
			}
		}
	}
	t.rd.Unlock() // safety:return-rcu
	if t.depth.Load() == 0 {
		t.lease.Unlock()
	}
	if stable {
		u.Put() // the converted lease's reference; a last Put queues the free, it never waits
	}
	t.stats.Returns++
	return fired, true
}

// expireLeases converts every leased instance of the task owning rd into a
// counted reference, or marks it gone (hprobe_expire). Another goroutine
// runs it: a grace period that has waited LeaseTimeout for this task. It
// returns once no instance is leased or being expired, so the caller may
// stop waiting for the task's lease section.
func expireLeases(rd *rcu.Reader) bool {
	t, ok := rd.Owner().(*Task)
	if !ok {
		return false
	}
	for i := range t.rets {
		ri := &t.rets[i]
		for {
			w := ri.state.Load()
			if w&0xff == riExpiring {
				runtime.Gosched() // another expirer's verdict is pending
				continue
			}
			if w&0xff != riLeased {
				break
			}
			u := ri.u.Load()
			if !ri.state.CompareAndSwap(w, w&^0xff|riExpiring) {
				continue
			}
			if u.TryGet() {
				ri.state.Store(w&^0xff | riStable)
			} else {
				ri.state.Store(w&^0xff | riGone)
			}
			break
		}
	}
	return true
}

func (t *Task) count(r Result) Result {
	t.stats.Hits++
	t.stats.Outcomes[r.Outcome]++
	if r.Outcome != NoTrap {
		if r.Fallback == mm.FastPath {
			t.stats.FastPath++
		} else {
			t.stats.Fallbacks[r.Fallback]++
		}
	}
	return r
}

// HitNames is Hit, also returning the names of the consumers that ran.
func (t *Task) HitNames(addr uint64) ([]string, Result) {
	var names []string
	t.names = &names
	r := t.Hit(addr)
	t.names = nil
	return names, r
}

// ReturnNames is Return, also returning the names of the consumers that ran.
func (t *Task) ReturnNames() ([]string, bool) {
	var names []string
	t.names = &names
	_, ok := t.Return()
	t.names = nil
	return names, ok
}
