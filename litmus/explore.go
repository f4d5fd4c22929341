package litmus

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// The explorer builds candidate executions depth first. Processes run one
// after another; at each read it branches over the writes the read may take
// its value from: a write already generated (the initial write, an earlier
// process, or its own process earlier), or a value a later process may
// write (the source is chosen when that process has run). After every
// choice the model checks the partial candidate and prunes it when it is
// already forbidden. When all processes have run, the deferred reads get
// their sources, each coherence order is tried, and the model checks the
// complete candidate.

// Options controls one exploration.
type Options struct {
	Model     Model
	MaxStates int64 // stop after this many explored states; 0: no bound
	// FirstPositive stops the search at the first allowed execution whose
	// final state satisfies the proposition: enough for a reachability
	// question (is the outcome possible at all?). The result is then
	// partial (Result.Stopped): Positive is 1, States holds what was found
	// so far, and Negative counts only what came before.
	FirstPositive bool
	// fullKeys (tests only): the operational explorer keys its visited
	// set by the whole state, the reference for the compact keys.
	fullKeys bool
}

// ErrMaxStates is returned (wrapped) when -max-states stops a run.
var ErrMaxStates = errors.New("state bound reached")

// Result is the outcome of exploring a test under a model.
type Result struct {
	Test     *Test
	Model    string
	States   []State // distinct final states, sorted
	Positive int     // allowed executions whose final state satisfies the proposition
	Negative int     // allowed executions whose final state does not
	Explored int64   // states of the search: partial and complete candidates checked
	Complete int64   // complete candidates checked
	Witness  *Witness
	Flags    []string // the model's flags raised by allowed executions (herd's Flag lines), sorted
	Elapsed  time.Duration
	Stopped  bool // FirstPositive ended the search early: the counts are partial
	observed []CondLoc
}

// State is one final state over the observed locations.
type State struct {
	Values []int64 // in the order of Result.observed
	Text   string  // herd's rendering: "1:r0=0; 1:r1=1;"
	Holds  bool    // the proposition holds in this state
	Count  int     // allowed executions ending here
}

type thread struct {
	pc    int
	po    int
	regs  []int64
	taint []set
	ctrl  set
}

func (t *thread) clone() thread {
	c := thread{pc: t.pc, po: t.po, ctrl: t.ctrl}
	c.regs = append([]int64(nil), t.regs...)
	c.taint = append([]set(nil), t.taint...)
	return c
}

type explorer struct {
	pg       *Program
	opt      Options
	ax       axiomatic
	wd       [][]vset
	th       []thread
	ev       []Event
	fences   []fenceEv
	rf       []int
	res      *Result
	states   map[string]*State
	err      error
	nvars    int
	observed []CondLoc
	ar       arena
	// The sizes of the last partial candidate the model allowed: a
	// complete candidate with the same events, no deferred reads and a
	// forced coherence order is that candidate, already checked.
	checkedEv, checkedF int
}

// Explore runs every candidate execution of the program under the model.
func Explore(pg *Program, opt Options) (*Result, error) {
	start := time.Now()
	if opt.Model == nil {
		opt.Model = models["lkmm"]
	}
	if err := expressible(pg, opt.Model); err != nil {
		return nil, err
	}
	if om, ok := opt.Model.(operational); ok {
		return exploreOp(pg, opt, om, start)
	}
	ax, ok := opt.Model.(axiomatic)
	if !ok {
		return nil, fmt.Errorf("model %s can be run by neither explorer", opt.Model.Name())
	}
	wd, err := writeDomains(pg)
	if err != nil {
		return nil, err
	}
	x := &explorer{pg: pg, opt: opt, ax: ax, wd: wd, states: map[string]*State{}, nvars: len(pg.Vars)}
	x.res = &Result{Test: pg.Test, Model: opt.Model.Name()}
	x.observed = observedLocs(pg)
	x.res.observed = x.observed
	for l, v := range pg.Init {
		x.ev = append(x.ev, Event{ID: l, Proc: -1, Po: -1, Write: true, Loc: l, Val: v, RMW: -1})
		x.rf = append(x.rf, -1)
	}
	for _, pc := range pg.Procs {
		t := thread{regs: append([]int64(nil), pc.RegInit...), taint: make([]set, len(pc.Regs))}
		x.th = append(x.th, t)
	}
	x.run(0)
	if x.err != nil {
		return nil, x.err
	}
	x.res.States = sortStates(x.states)
	x.res.Elapsed = time.Since(start)
	return x.res, nil
}

// step counts one explored state and enforces the bound.
func (x *explorer) step() bool {
	if x.halted() {
		return false
	}
	x.res.Explored++
	if x.opt.MaxStates > 0 && x.res.Explored > x.opt.MaxStates {
		x.err = fmt.Errorf("%s: stopped after %d states (-max-states %d): %w; the result would be partial, so none is given",
			x.pg.Test.File, x.opt.MaxStates, x.opt.MaxStates, ErrMaxStates)
		return false
	}
	return true
}

func (x *explorer) runErr(in *Instr, format string, args ...any) {
	if x.err == nil {
		x.err = &Error{x.pg.Test.File, in.Line, fmt.Sprintf(format, args...)}
	}
}

func (x *explorer) eval(t *thread, e *cexpr) (int64, set) {
	switch e.op {
	case "const":
		return e.num, nil
	case "reg":
		return t.regs[e.slot], t.taint[e.slot]
	}
	a, ta := x.eval(t, e.x)
	if e.y == nil {
		v, _ := arith(e.op[1:], true, a, 0)
		return v, ta
	}
	b, tb := x.eval(t, e.y)
	v, _ := arith(e.op, false, a, b)
	return v, ta.union(tb)
}

// loc resolves an address expression to a location.
func (x *explorer) loc(t *thread, in *Instr) (int, set, bool) {
	a, ta := x.eval(t, in.addr)
	if !isAddr(a, x.nvars) {
		x.runErr(in, "%s: the address is not a shared variable (value %d)", in.Text, a)
		return 0, nil, false
	}
	return int(a - addrBase), ta, true
}

func (x *explorer) newEvent(p int, t *thread, in *Instr, write bool, loc int, val int64, ann Ann, addr, data set) int {
	id := len(x.ev)
	x.ev = append(x.ev, Event{ID: id, Proc: p, Po: t.po, Write: write, Loc: loc, Val: val, Ann: ann, RMW: -1,
		Addr: addr, Data: data, Ctrl: t.ctrl, Ins: in})
	x.rf = append(x.rf, -1)
	t.po++
	return id
}

// run executes process p from its current pc until its next read, which
// branches, or its end, which moves on to process p+1.
func (x *explorer) run(p int) {
	if x.halted() {
		return
	}
	if p == len(x.pg.Procs) {
		x.leaf()
		return
	}
	// Everything this call does to process p and to the candidate is undone
	// on return, so the caller can try its next choice.
	saved := x.th[p].clone()
	nev, nf := len(x.ev), len(x.fences)
	defer func() {
		x.th[p] = saved
		x.ev, x.rf, x.fences = x.ev[:nev], x.rf[:nev], x.fences[:nf]
	}()
	code := x.pg.Procs[p].Code
	t := &x.th[p]
	for t.pc < len(code) {
		in := &code[t.pc]
		switch in.op {
		case opSet:
			t.regs[in.dst], t.taint[in.dst] = x.eval(t, in.val)
			t.pc++
		case opBranch:
			v, tv := x.eval(t, in.val)
			t.ctrl = t.ctrl.union(tv)
			if v == 0 {
				t.pc = in.target
			} else {
				t.pc++
			}
		case opJump:
			t.pc = in.target
		case opFence:
			f := fenceEv{proc: p, pos: t.po, kind: in.fence, ins: in}
			if in.addr != nil { // synchronize_srcu(s)
				l, _, ok := x.loc(t, in)
				if !ok {
					return
				}
				f.loc = l
			}
			x.fences = append(x.fences, f)
			t.pc++
		case opStore:
			l, ta, ok := x.loc(t, in)
			if !ok {
				return
			}
			v, tv := x.eval(t, in.val)
			x.newEvent(p, t, in, true, l, v, in.writeAnn, ta, tv)
			t.pc++
		case opLoad, opRMW:
			x.read(p, in)
			return
		}
	}
	x.run(p + 1)
}

// source is a choice for a read: a generated write, or (src -2) a value
// some later process writes.
type source struct {
	src int
	val int64
}

func (x *explorer) read(p int, in *Instr) {
	t := &x.th[p]
	l, ta, ok := x.loc(t, in)
	if !ok {
		return
	}
	var choices []source
	for i := range x.ev {
		e := &x.ev[i]
		if e.Write && e.Loc == l {
			choices = append(choices, source{i, e.Val})
		}
	}
	seen := map[int64]bool{}
	for q := p + 1; q < len(x.wd); q++ {
		for v := range x.wd[q][l] {
			if !seen[v] {
				seen[v] = true
				choices = append(choices, source{-2, v})
			}
		}
	}
	sortSources(choices)
	if in.mustWrite {
		// spin_lock: only the sources its cmpxchg succeeds on.
		want, _ := x.eval(t, in.val)
		kept := choices[:0]
		for _, c := range choices {
			if c.val == want {
				kept = append(kept, c)
			}
		}
		choices = kept
	}
	saved := t.clone()
	nev, nf := len(x.ev), len(x.fences)
	for _, c := range choices {
		if !x.step() {
			return
		}
		x.apply(p, in, l, ta, c)
		if x.ax.Check(newGraph(&x.ar, x.ev, x.fences, x.rf, nil)) == "" {
			x.checkedEv, x.checkedF = len(x.ev), len(x.fences)
			x.run(p)
		}
		x.th[p] = saved.clone()
		t = &x.th[p]
		x.ev, x.rf, x.fences = x.ev[:nev], x.rf[:nev], x.fences[:nf]
		if x.halted() {
			return
		}
	}
}

// apply performs a read (or a read-modify-write) that takes its value from c.
func (x *explorer) apply(p int, in *Instr, l int, ta set, c source) {
	t := &x.th[p]
	if in.op == opLoad {
		r := x.newEvent(p, t, in, false, l, c.val, in.readAnn, ta, nil)
		x.rf[r] = c.src
		t.regs[in.dst] = c.val
		t.taint[in.dst] = setWith(nil, r)
		t.pc++
		return
	}
	v, tv := x.eval(t, in.val)
	var v2 int64
	if in.val2 != nil {
		var tv2 set
		v2, tv2 = x.eval(t, in.val2)
		tv = tv.union(tv2)
	}
	nw, ret, writes := rmwApply(in, c.val, v, v2)
	full := in.fullFence && writes
	if full {
		x.fences = append(x.fences, fenceEv{proc: p, pos: t.po, kind: FenceMb, ins: in})
	}
	ann := in.readAnn
	if !writes && ann == AnnNoreturn {
		ann = AnnOnce
	}
	r := x.newEvent(p, t, in, false, l, c.val, ann, ta, nil)
	x.rf[r] = c.src
	if writes {
		w := x.newEvent(p, t, in, true, l, nw, in.writeAnn, ta, tv)
		x.ev[r].RMW, x.ev[w].RMW = w, r
	}
	if full {
		x.fences = append(x.fences, fenceEv{proc: p, pos: t.po, kind: FenceMb, ins: in})
	}
	t.regs[in.dst] = ret
	t.taint[in.dst] = setWith(nil, r)
	t.pc++
}

func setWith(s set, i int) set {
	need := i/64 + 1
	if len(s) < need {
		s = append(append(set(nil), s...), make(set, need-len(s))...)
	} else {
		s = append(set(nil), s...)
	}
	s.add(i)
	return s
}

func sortSources(cs []source) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(cs[j], cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func less(a, b source) bool {
	if (a.src == -2) != (b.src == -2) {
		return b.src == -2
	}
	if a.src != b.src {
		return a.src < b.src
	}
	return a.val < b.val
}

// leaf completes a candidate: sources for deferred reads, then every
// coherence order, each checked in full.
func (x *explorer) leaf() {
	var deferred []int
	for i := range x.ev {
		if !x.ev[i].Write && x.rf[i] == -2 {
			deferred = append(deferred, i)
		}
	}
	rf := append([]int(nil), x.rf...)
	x.resolve(deferred, rf, len(deferred) == 0)
}

func (x *explorer) resolve(deferred []int, rf []int, noneDeferred bool) {
	if x.halted() {
		return
	}
	if len(deferred) == 0 {
		x.coOrders(rf, noneDeferred)
		return
	}
	r := &x.ev[deferred[0]]
	for i := range x.ev {
		w := &x.ev[i]
		if w.Write && w.Loc == r.Loc && w.Val == r.Val && w.Proc > r.Proc {
			rf[r.ID] = i
			x.resolve(deferred[1:], rf, noneDeferred)
		}
	}
	rf[r.ID] = -2
}

// coOrders enumerates the coherence orders: per location, the initial
// write first, then every interleaving of the processes' writes that keeps
// each process's own writes in program order.
func (x *explorer) coOrders(rf []int, noneDeferred bool) {
	perLoc := make([][][]int, x.nvars) // loc -> proc -> writes in po order
	for l := range perLoc {
		perLoc[l] = make([][]int, len(x.pg.Procs))
	}
	for i := range x.ev {
		e := &x.ev[i]
		if e.Write && !e.isInit() {
			perLoc[e.Loc][e.Proc] = append(perLoc[e.Loc][e.Proc], i)
		}
	}
	// With no deferred read and every location written by at most one
	// process, the only coherence order is the partial one.
	forced := noneDeferred
	for l := range perLoc {
		writers := 0
		for _, ws := range perLoc[l] {
			if len(ws) > 0 {
				writers++
			}
		}
		if writers > 1 {
			forced = false
		}
	}
	order := make([][]int, x.nvars)
	var byLoc func(l int)
	byLoc = func(l int) {
		if x.halted() {
			return
		}
		if l == x.nvars {
			x.complete(rf, order, forced)
			return
		}
		heads := make([]int, len(x.pg.Procs))
		order[l] = []int{l}
		var pick func()
		pick = func() {
			done := true
			for q, ws := range perLoc[l] {
				if heads[q] < len(ws) {
					done = false
					order[l] = append(order[l], ws[heads[q]])
					heads[q]++
					pick()
					heads[q]--
					order[l] = order[l][:len(order[l])-1]
				}
			}
			if done {
				byLoc(l + 1)
			}
		}
		pick()
	}
	byLoc(0)
}

func (x *explorer) complete(rf []int, co [][]int, forced bool) {
	if !x.step() {
		return
	}
	x.res.Complete++
	g := newGraph(&x.ar, x.ev, x.fences, rf, co)
	if !(forced && len(x.ev) == x.checkedEv && len(x.fences) == x.checkedF) && x.ax.Check(g) != "" {
		return
	}
	if fl, ok := x.ax.(flagger); ok {
		for _, f := range fl.flags(g) {
			if !slices.Contains(x.res.Flags, f) {
				x.res.Flags = append(x.res.Flags, f)
				slices.Sort(x.res.Flags)
			}
		}
	}
	vals := make([]int64, len(x.observed))
	for i, o := range x.observed {
		if o.Proc >= 0 {
			vals[i] = x.th[o.Proc].regs[x.pg.Procs[o.Proc].slot(o.Name)]
		} else {
			l := x.pg.varIndex(o.Name)
			last := co[l][len(co[l])-1]
			vals[i] = x.ev[last].Val
		}
	}
	if record(x.pg, x.res, x.states, vals, x.opt.FirstPositive) {
		x.res.Witness = x.witness(g, co, vals)
	}
}

// halted says the search is over: an error, or FirstPositive found one.
func (x *explorer) halted() bool { return x.err != nil || x.res.Stopped }
