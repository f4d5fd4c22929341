package litmus

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The operational explorer: a transition system over machine states, run
// depth first with every visited state remembered, so each distinct state
// is expanded once however many interleavings reach it.
//
// A state is, per process, the guessed path (op_paths.go), which
// instances are done and what each produced (a register value; for a load
// the write it read; for a store its position in its location's coherence
// order), and the memory: per location the current value, the write that
// put it there and how many writes it has had. A transition performs one
// memory access of one process: any access the rules let go now, not
// necessarily the oldest. Register computations and branches are local
// and deterministic, so they are done as soon as their inputs are (a
// wrong branch guess kills the state). A state with every instance done
// is a final one; since a final state records which write every load
// read and the coherence order, distinct final states are distinct
// executions, which Positive and Negative count as herd does.

// operational is a model given as the ordering rules of a transition
// system.
type operational interface {
	Model
	// order adds to the wait set of each access on the path the earlier
	// accesses the model keeps before it (barriers, acquire, release).
	order(p *opPath)
	// mayForward says whether read j may take its value from the earlier
	// write s of its own process while s is not yet performed.
	mayForward(p *opPath, s, j int) bool
}

type memCell struct{ val, wid, n int64 }

type opThread struct {
	path int
	done set
	val  []int64
	wid  []int64
}

type opState struct {
	th  []opThread
	mem []memCell
}

func (s *opState) clone(p int) *opState {
	c := &opState{th: append([]opThread(nil), s.th...), mem: append([]memCell(nil), s.mem...)}
	t := &c.th[p]
	t.done = append(set(nil), t.done...)
	t.val = append([]int64(nil), t.val...)
	t.wid = append([]int64(nil), t.wid...)
	return c
}

// opStep is one performed access, for the witness.
type opStep struct {
	proc, inst int
	fwd        bool // a load that took the value of its own pending store
	from       int64
	pending    []int // earlier accesses of the process not yet performed: the reordering
	unresolved []int // earlier branches not yet resolved: speculation
}

type opExplorer struct {
	pg      *Program
	opt     Options
	m       operational
	paths   [][]*opPath
	visited *keySet
	// fullKeys keys the visited set by the whole state (every value and
	// the memory) in a Go map: the reference TestOpCompactKeys compares
	// the compact keys with.
	fullKeys bool
	full     map[string]struct{}
	res      *Result
	states   map[string]*State
	observed []CondLoc
	err      error
	steps    []opStep
	key      []byte
}

// writeID names a write: 0 the initial one, else process and instance.
func writeID(p, i int) int64 { return int64(p+1)<<32 | int64(i) }

func splitWID(w int64) (p, i int) { return int(w>>32) - 1, int(w & 0xffffffff) }

func exploreOp(pg *Program, opt Options, m operational, start time.Time) (*Result, error) {
	x := &opExplorer{pg: pg, opt: opt, m: m, visited: newKeySet(), states: map[string]*State{},
		fullKeys: opt.fullKeys, full: map[string]struct{}{}}
	x.res = &Result{Test: pg.Test, Model: m.Name()}
	x.observed = observedLocs(pg)
	x.res.observed = x.observed
	for p := range pg.Procs {
		ps, err := buildPaths(pg, p)
		if err != nil {
			return nil, err
		}
		for _, path := range ps {
			x.prepare(path)
		}
		x.paths = append(x.paths, ps)
	}
	// One initial state per combination of guessed paths.
	init := &opState{mem: make([]memCell, len(pg.Vars))}
	for l, v := range pg.Init {
		init.mem[l] = memCell{val: v}
	}
	var combo func(p int, s *opState)
	combo = func(p int, s *opState) {
		if x.halted() {
			return
		}
		if p == len(pg.Procs) {
			for q := range s.th {
				if !x.settle(s, q) {
					return
				}
			}
			x.visit(s)
			return
		}
		for k, path := range x.paths[p] {
			c := &opState{th: append(append([]opThread(nil), s.th...), opThread{path: k,
				done: newSet(len(path.insts)), val: make([]int64, len(path.insts)), wid: make([]int64, len(path.insts))}), mem: s.mem}
			t := &c.th[p]
			for i := range path.insts {
				if path.insts[i].kind == iFence {
					t.done.add(i)
				}
			}
			combo(p+1, c)
		}
	}
	combo(0, init)
	if x.err != nil {
		return nil, x.err
	}
	x.res.States = sortStates(x.states)
	x.res.Elapsed = time.Since(start)
	return x.res, nil
}

func (x *opExplorer) halted() bool { return x.err != nil || x.res.Stopped }

// prepare computes each instance's wait set: its dependencies, what the
// engine keeps in order for every model, then the model's rules.
func (x *opExplorer) prepare(p *opPath) {
	var branches []int
	var addrs []int // address dependencies of every earlier access
	for j := range p.insts {
		o := &p.insts[j]
		o.wait = newSet(len(p.insts))
		for _, d := range o.addrDeps {
			o.wait.add(d)
		}
		for _, d := range o.valDeps {
			o.wait.add(d)
		}
		if o.kind == iRMWWrite {
			o.wait.add(o.pair) // performed after its read, atomically (see try)
		}
		if o.isWrite() {
			for _, b := range branches {
				o.wait.add(b)
			}
			for _, a := range addrs {
				o.wait.add(a)
			}
		}
		// Same-location program order, where both locations are
		// constants (the rest is checked when the access is tried): a
		// store after every earlier access; a load after the earlier
		// loads back to the latest store that may write its location
		// (it can take that store's value without waiting for them).
		if o.cloc >= 0 {
			for i := j - 1; i >= 0; i-- {
				e := &p.insts[i]
				if o.isWrite() {
					if e.cloc == o.cloc {
						o.wait.add(i)
					}
					continue
				}
				if e.isWrite() && (e.cloc == o.cloc || e.cloc < 0) {
					break
				}
				if e.isRead() && e.cloc == o.cloc {
					o.wait.add(i)
				}
			}
		}
		if o.kind == iBranch {
			branches = append(branches, j)
		}
		if o.isAccess() {
			addrs = append(addrs, o.addrDeps...)
		}
	}
	x.m.order(p)
}

// reg is the value of register slot s as instance j of thread t sees it.
func (x *opExplorer) reg(s *opState, p, j, slot int) int64 {
	t := &s.th[p]
	src := x.paths[p][t.path].insts[j].src[slot]
	if src < 0 {
		return x.pg.Procs[p].RegInit[slot]
	}
	return t.val[src]
}

func (x *opExplorer) eval(s *opState, p, j int, e *cexpr) int64 {
	return evalWith(e, func(slot int) int64 { return x.reg(s, p, j, slot) })
}

// loc is the location an access addresses; ok is false while the address
// is not known, and for an address that is no shared variable: a run-time
// error once no unresolved guess before it could make the path a wrong
// one, else (on a path that may be mis-speculated) the access just
// cannot execute.
func (x *opExplorer) loc(s *opState, p, j int) (int, bool) {
	t := &s.th[p]
	path := x.paths[p][t.path]
	o := &path.insts[j]
	if o.cloc >= 0 {
		return o.cloc, true
	}
	for _, d := range o.addrDeps {
		if !t.done.has(d) {
			return 0, false
		}
	}
	a := x.eval(s, p, j, o.in.addr)
	if !isAddr(a, len(x.pg.Vars)) {
		for i := 0; i < j; i++ {
			if k := path.insts[i].kind; (k == iBranch || k == iRMWRead) && !t.done.has(i) {
				return 0, false
			}
		}
		if x.err == nil {
			x.err = &Error{x.pg.Test.File, o.in.Line, fmt.Sprintf("%s: the address is not a shared variable (value %d)", o.in.Text, a)}
		}
		return 0, false
	}
	return int(a - addrBase), true
}

func waitDone(done, wait set) bool {
	for i, w := range wait {
		if done[i]&w != w {
			return false
		}
	}
	return true
}

// settle does every local instruction of process p whose inputs are
// ready, in program order; it reports false when a branch guess was
// wrong. Only the process that just performed an access can have newly
// ready ones.
func (x *opExplorer) settle(s *opState, p int) bool {
	t := &s.th[p]
	path := x.paths[p][t.path]
	for j := range path.insts {
		o := &path.insts[j]
		if !o.local() || t.done.has(j) || !waitDone(t.done, o.wait) {
			continue
		}
		v := x.eval(s, p, j, o.in.val)
		if o.kind == iBranch && (v != 0) != o.guess {
			return false
		}
		t.val[j] = v
		t.done.add(j)
	}
	return true
}

func (x *opExplorer) visit(s *opState) {
	if x.halted() {
		return
	}
	if x.fullKeys {
		x.key = x.encode(s, x.key[:0])
		if _, ok := x.full[string(x.key)]; ok {
			return
		}
		x.full[string(x.key)] = struct{}{}
	} else if x.key = x.encodeState(s, x.key[:0]); !x.visited.insert(x.key) {
		return
	}
	x.res.Explored++
	if x.opt.MaxStates > 0 && x.res.Explored > x.opt.MaxStates {
		x.err = fmt.Errorf("%s: stopped after %d states (-max-states %d): %w; the result would be partial, so none is given",
			x.pg.Test.File, x.opt.MaxStates, x.opt.MaxStates, ErrMaxStates)
		return
	}
	// Later processes first: in a litmus test the observers usually come
	// last, and trying their accesses early reaches the interesting
	// interleavings (a reader's loads overtaken by a writer's rounds)
	// sooner; a full search visits the same states in any order.
	final := true
	for q := range s.th {
		p := len(s.th) - 1 - q
		t := &s.th[p]
		path := x.paths[p][t.path]
		for j := range path.insts {
			if t.done.has(j) {
				continue
			}
			final = false
			o := &path.insts[j]
			if !o.isAccess() || !waitDone(t.done, o.wait) {
				continue
			}
			x.try(s, p, j)
			if x.halted() {
				return
			}
		}
	}
	if final {
		x.final(s)
	}
}

// try performs access j of process p if the rules allow it now.
func (x *opExplorer) try(s *opState, p, j int) {
	t := &s.th[p]
	path := x.paths[p][t.path]
	o := &path.insts[j]
	l, ok := x.loc(s, p, j)
	if !ok {
		return
	}
	step := opStep{proc: p, inst: j}
	var n *opState
	if o.isRead() {
		// The latest earlier same-location access decides: a pending
		// store forwards, a performed one means memory; a pending load
		// must go first. Earlier accesses whose address is not known yet
		// are passed speculatively (checked when they execute).
		var val, from int64
		fromMem := true
		for i := j - 1; i >= 0; i-- {
			e := &path.insts[i]
			if !e.isAccess() {
				continue
			}
			li, known := x.loc(s, p, i)
			if !known || li != l {
				continue
			}
			if e.isRead() {
				// A pending earlier load of the location goes first. (A
				// pruning: the coherence check below would drop the runs
				// in which the later load went first and read newer.)
				if !t.done.has(i) {
					return
				}
				continue
			}
			if !t.done.has(i) {
				if !waitValue(t.done, e) || !x.m.mayForward(path, i, j) {
					return
				}
				fromMem = false
				val, from = x.storeValue(s, p, i), writeID(p, i)
				step.fwd = true
			}
			break
		}
		if fromMem {
			val, from = s.mem[l].val, s.mem[l].wid
		}
		n = s.clone(p)
		nt := &n.th[p]
		nt.wid[j] = from
		nt.val[j] = val
		if o.kind == iRMWRead {
			a := x.eval(s, p, j, o.in.val)
			var b int64
			if o.in.val2 != nil {
				b = x.eval(s, p, j, o.in.val2)
			}
			nw, ret, writes := rmwApply(o.in, val, a, b)
			if writes != o.guess {
				return
			}
			nt.val[j] = ret
			if o.pair >= 0 {
				nt.val[o.pair] = nw
			}
		}
		nt.done.add(j)
		// A later load of this location already performed must not have
		// read an older write than this one.
		if !x.laterReadsOK(n, p, j, l, func(w int64) bool { return x.rank(n, w) < x.rank(n, from) }) {
			return
		}
		step.from = from
	} else {
		for i := 0; i < j; i++ {
			if e := &path.insts[i]; e.isAccess() && !t.done.has(i) {
				if li, known := x.loc(s, p, i); known && li == l {
					return
				}
			}
		}
		if o.kind == iRMWWrite && s.mem[l].wid != t.wid[o.pair] {
			return // another write came between the exclusive pair: it fails
		}
		val := x.storeValue(s, p, j)
		n = s.clone(p)
		nt := &n.th[p]
		me := writeID(p, j)
		n.mem[l] = memCell{val: val, wid: me, n: s.mem[l].n + 1}
		nt.val[j], nt.wid[j] = val, n.mem[l].n
		nt.done.add(j)
		// A later load of this location already performed must have read
		// this write or a later one of this process, not one now older.
		if !x.laterReadsOK(n, p, j, l, func(w int64) bool {
			if w == me || w == 0 {
				return w == 0
			}
			wp, wi := splitWID(w)
			return n.th[wp].done.has(wi)
		}) {
			return
		}
	}
	if !x.settle(n, p) {
		return
	}
	for i := 0; i < j; i++ {
		if t.done.has(i) {
			continue
		}
		switch e := &path.insts[i]; {
		case e.isAccess():
			step.pending = append(step.pending, i)
		case e.kind == iBranch:
			step.unresolved = append(step.unresolved, i)
		}
	}
	x.steps = append(x.steps, step)
	x.visit(n)
	x.steps = x.steps[:len(x.steps)-1]
}

// waitValue says whether a pending store's value is known.
func waitValue(done set, e *opInst) bool {
	for _, d := range e.valDeps {
		if !done.has(d) {
			return false
		}
	}
	return true
}

// storeValue is the value a store writes (its value dependencies done).
func (x *opExplorer) storeValue(s *opState, p, i int) int64 {
	o := &x.paths[p][s.th[p].path].insts[i]
	if o.kind == iRMWWrite {
		switch o.in.rmw {
		case rmwXchg:
		case rmwCmpxchg:
			return x.eval(s, p, i, o.in.val2)
		default:
			return s.th[p].val[i] // computed from the value read
		}
	}
	return x.eval(s, p, i, o.in.val)
}

// rank orders writes to one location by coherence as far as it is fixed:
// the initial write, the performed ones by position, then the pending
// ones of a process in program order.
func (x *opExplorer) rank(s *opState, w int64) int64 {
	if w == 0 {
		return 0
	}
	p, i := splitWID(w)
	if s.th[p].done.has(i) {
		return s.th[p].wid[i]
	}
	return 1<<40 + int64(i)
}

// laterReadsOK checks the performed loads after j in p's program order
// that read location l: bad(w) says their source w is now incoherent.
func (x *opExplorer) laterReadsOK(s *opState, p, j, l int, bad func(int64) bool) bool {
	t := &s.th[p]
	path := x.paths[p][t.path]
	for k := j + 1; k < len(path.insts); k++ {
		if e := &path.insts[k]; e.isRead() && t.done.has(k) {
			if lk, _ := x.loc(s, p, k); lk == l && bad(t.wid[k]) {
				return false
			}
		}
	}
	return true
}

// encode appends the whole state: the reference key (fullKeys).
func (x *opExplorer) encode(s *opState, b []byte) []byte {
	for p := range s.th {
		t := &s.th[p]
		b = binary.AppendUvarint(b, uint64(t.path))
		for _, w := range t.done {
			b = binary.AppendUvarint(b, w)
		}
		for i := range t.val {
			if t.done.has(i) {
				b = binary.AppendVarint(b, t.val[i])
				b = binary.AppendVarint(b, t.wid[i])
			}
		}
	}
	for _, c := range s.mem {
		b = binary.AppendVarint(b, c.val)
		b = binary.AppendVarint(b, c.wid)
		b = binary.AppendVarint(b, c.n)
	}
	return b
}

// final records a final state: one execution.
func (x *opExplorer) final(s *opState) {
	vals := make([]int64, len(x.observed))
	for i, o := range x.observed {
		if o.Proc >= 0 {
			t := &s.th[o.Proc]
			slot := x.pg.Procs[o.Proc].slot(o.Name)
			if src := x.paths[o.Proc][t.path].final[slot]; src >= 0 {
				vals[i] = t.val[src]
			} else {
				vals[i] = x.pg.Procs[o.Proc].RegInit[slot]
			}
		} else {
			vals[i] = s.mem[x.pg.varIndex(o.Name)].val
		}
	}
	x.res.Complete++
	if record(x.pg, x.res, x.states, vals, x.opt.FirstPositive) {
		x.res.Witness = x.witness(s, vals)
	}
}
