package uprobes

// Invariants (task.go): a Task is one thread of a traced process. Hit is
// handle_swbp: inside the task's read section of the registry's RCU domain
// it resolves the address to a uprobe with the task's strategy (mm.Resolve),
// runs the consumers, and for return consumers pushes a return instance
// that holds a reference on the uprobe until Return pops it. Nothing on the
// fast path writes memory another task writes: the read section is marked
// in the task's own cache line, counters are per task, and the uprobe's
// reference count is touched only for return probes. A Task must not be
// used by two goroutines at once.

import (
	"specvma/internal/rcu"
	"specvma/mm"
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
	u    *Uprobe // holds a reference
	addr uint64
}

// Task runs in an address space and hits its breakpoints.
type Task struct {
	sys      *System
	as       *mm.AddressSpace
	strategy mm.Strategy
	rd       *rcu.Reader
	find     func(mm.Mapping) (*Uprobe, bool)
	ctx      Context
	rets     []returnInstance
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
	return t
}

// SetStrategy changes how the task resolves breakpoints.
func (t *Task) SetStrategy(s mm.Strategy) { t.strategy = s }

// Stats returns the task's counters.
func (t *Task) Stats() TaskStats { return t.stats }

// Depth is the number of pending return instances.
func (t *Task) Depth() int { return len(t.rets) }

// Exit drops the task's pending return instances and its reader.
func (t *Task) Exit() {
	for _, ri := range t.rets {
		ri.u.Put()
	}
	t.rets = nil
	t.rd.Close()
}

// Hit executes the instruction at addr: if it is a breakpoint, the task
// traps and handle_swbp runs. It allocates nothing.
func (t *Task) Hit(addr uint64) Result {
	if !t.as.HasBreakpoint(addr) {
		return t.count(Result{Outcome: NoTrap})
	}
	t.rd.Lock()
	u, ok, why := mm.Resolve(t.as, addr, t.strategy, t.find)
	if !ok {
		t.rd.Unlock()
		// No uprobe: is the trap still there (is_trap_at_addr)?
		if _, there := t.as.Breakpoint(addr); there {
			return t.count(Result{Outcome: SIGTRAP, Fallback: why})
		}
		return t.count(Result{Outcome: Restart, Fallback: why})
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

// prepareReturn pushes a return instance (prepare_uretprobe). It takes a
// reference so the uprobe outlives the read section.
func (t *Task) prepareReturn(u *Uprobe, addr uint64) {
	if len(t.rets) >= MaxURetprobeDepth {
		t.stats.Skipped++
		return
	}
	if u.TryGet() {
		t.rets = append(t.rets, returnInstance{u, addr})
	}
}

// Return returns from the innermost probed function: the return consumers
// of its uprobe run (handle_uretprobe_chain). ok is false when no return
// instance is pending.
func (t *Task) Return() (fired int, ok bool) {
	n := len(t.rets)
	if n == 0 {
		return 0, false
	}
	ri := t.rets[n-1]
	t.rets = t.rets[:n-1]
	t.rd.Lock()
	t.ctx.Uprobe, t.ctx.Func = ri.u, ri.addr
	for _, c := range ri.u.Consumers() {
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
	t.rd.Unlock()
	ri.u.Put() // outside the section: the last Put may wait for a grace period
	t.stats.Returns++
	return fired, true
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
