package litmus

import "fmt"

// The kernel primitives the explorer understands, and how each compiles.
// The semantics follow the LKMM's definitions: fully ordered RMWs behave as
// smp_mb(); read; write; smp_mb(), _acquire and _release RMWs put the
// annotation on their read or write, non-value-returning atomics are
// unordered and their read is marked Noreturn.

type primKind uint8

const (
	pLoad primKind = iota
	pStore
	pFence
	pRMW
	pNop
	pLock
	pUnlock
	pTrylock
	pIsLocked
	pSrcuLock
	pSrcuUnlock
	pSrcuSync
	pUnsupported
)

type prim struct {
	kind     primKind
	deref    bool // the location argument is written *p (READ_ONCE style), not p
	ann      Ann  // loads and stores
	fence    FenceKind
	trailMb  bool // smp_store_mb: a store then smp_mb
	rmw      rmwKind
	order    string // RMW ordering: "mb", "once", "acquire", "release"
	noreturn bool
	retNew   bool
	valFirst bool  // atomic_add(v, p) style
	sub      bool  // subtract the operand
	constOp  int64 // inc/dec: the operand is this constant (1)
	hasConst bool
	test     string // "==0" or "<0": *_and_test, add_negative
	why      string // pUnsupported: the reason
}

var primitives = map[string]prim{
	"READ_ONCE":           {kind: pLoad, deref: true, ann: AnnOnce},
	"rcu_dereference":     {kind: pLoad, deref: true, ann: AnnOnce},
	"smp_load_acquire":    {kind: pLoad, ann: AnnAcquire},
	"atomic_read":         {kind: pLoad, ann: AnnOnce},
	"atomic_read_acquire": {kind: pLoad, ann: AnnAcquire},

	"WRITE_ONCE":         {kind: pStore, deref: true, ann: AnnOnce},
	"rcu_assign_pointer": {kind: pStore, deref: true, ann: AnnRelease},
	"smp_store_release":  {kind: pStore, ann: AnnRelease},
	"smp_store_mb":       {kind: pStore, deref: true, ann: AnnOnce, trailMb: true},
	"atomic_set":         {kind: pStore, ann: AnnOnce},
	"atomic_set_release": {kind: pStore, ann: AnnRelease},

	"smp_mb":                    {kind: pFence, fence: FenceMb},
	"smp_rmb":                   {kind: pFence, fence: FenceRmb},
	"smp_wmb":                   {kind: pFence, fence: FenceWmb},
	"smp_mb__before_atomic":     {kind: pFence, fence: FenceBeforeAtomic},
	"smp_mb__after_atomic":      {kind: pFence, fence: FenceAfterAtomic},
	"barrier":                   {kind: pNop},
	"rcu_read_lock":             {kind: pFence, fence: FenceRcuLock},
	"rcu_read_unlock":           {kind: pFence, fence: FenceRcuUnlock},
	"synchronize_rcu":           {kind: pFence, fence: FenceSyncRcu},
	"synchronize_rcu_expedited": {kind: pFence, fence: FenceSyncRcu},

	"spin_lock":                      {kind: pLock},
	"spin_unlock":                    {kind: pUnlock},
	"spin_trylock":                   {kind: pTrylock},
	"spin_is_locked":                 {kind: pIsLocked},
	"smp_mb__after_spinlock":         {kind: pFence, fence: FenceAfterSpinlock},
	"smp_mb__after_unlock_lock":      {kind: pFence, fence: FenceAfterUnlockLock},
	"srcu_read_lock":                 {kind: pSrcuLock},
	"srcu_read_unlock":               {kind: pSrcuUnlock},
	"synchronize_srcu":               {kind: pSrcuSync},
	"synchronize_srcu_expedited":     {kind: pSrcuSync},
	"smp_mb__after_srcu_read_unlock": {kind: pFence, fence: FenceAfterSrcuUnlock},
}

func init() {
	orders := map[string]string{"": "mb", "_relaxed": "once", "_acquire": "acquire", "_release": "release"}
	for sfx, ord := range orders {
		primitives["xchg"+sfx] = prim{kind: pRMW, rmw: rmwXchg, order: ord}
		primitives["atomic_xchg"+sfx] = prim{kind: pRMW, rmw: rmwXchg, order: ord}
		primitives["cmpxchg"+sfx] = prim{kind: pRMW, rmw: rmwCmpxchg, order: ord}
		primitives["atomic_cmpxchg"+sfx] = prim{kind: pRMW, rmw: rmwCmpxchg, order: ord}
		for _, op := range []string{"add", "sub", "inc", "dec"} {
			p := prim{kind: pRMW, rmw: rmwAdd, order: ord, sub: op == "sub" || op == "dec"}
			if op == "inc" || op == "dec" {
				p.constOp, p.hasConst = 1, true
			} else {
				p.valFirst = true
			}
			ret := p
			ret.retNew = true
			primitives["atomic_"+op+"_return"+sfx] = ret
			primitives["atomic_fetch_"+op+sfx] = p
		}
	}
	for _, op := range []string{"add", "sub", "inc", "dec"} {
		p := prim{kind: pRMW, rmw: rmwAdd, order: "once", noreturn: true, sub: op == "sub" || op == "dec"}
		if op == "inc" || op == "dec" {
			p.constOp, p.hasConst = 1, true
		} else {
			p.valFirst = true
		}
		primitives["atomic_"+op] = p
	}
	for _, op := range []string{"sub", "inc", "dec"} {
		p := prim{kind: pRMW, rmw: rmwAdd, order: "mb", retNew: true, test: "==0", sub: op != "inc"}
		if op == "sub" {
			p.valFirst = true
		} else {
			p.constOp, p.hasConst = 1, true
		}
		primitives["atomic_"+op+"_and_test"] = p
	}
	primitives["atomic_add_negative"] = prim{kind: pRMW, rmw: rmwAdd, order: "mb", retNew: true, test: "<0", valFirst: true}
}

// call compiles a primitive call; dst is the result slot or -1. It reports
// whether the primitive returns a value.
func (c *compiler) call(e *Expr, dst int) (bool, error) {
	p, ok := primitives[e.Name]
	if !ok {
		return false, c.errf(e.Line, "unknown primitive %s()", e.Name)
	}
	want := map[primKind]int{pLoad: 1, pStore: 2, pFence: 0, pNop: 0, pLock: 1, pUnlock: 1, pTrylock: 1,
		pIsLocked: 1, pSrcuLock: 1, pSrcuUnlock: 2, pSrcuSync: 1}
	nargs := -1
	switch p.kind {
	case pUnsupported:
		return false, c.errf(e.Line, "unsupported primitive %s(): %s", e.Name, p.why)
	case pRMW:
		switch {
		case p.rmw == rmwCmpxchg:
			nargs = 3
		case p.hasConst:
			nargs = 1
		default:
			nargs = 2
		}
	default:
		nargs = want[p.kind]
	}
	if len(e.Args) != nargs {
		return false, c.errf(e.Line, "%s() takes %d argument(s), found %d", e.Name, nargs, len(e.Args))
	}
	text := exprString(e)
	switch p.kind {
	case pNop:
		return false, nil
	case pFence:
		return false, c.emit(Instr{op: opFence, Line: e.Line, Text: text, dst: -1, fence: p.fence})
	case pLoad:
		a, err := c.location(e.Name, e.Args[0], p.deref)
		if err != nil {
			return false, err
		}
		if dst < 0 {
			dst = c.temp()
		}
		return true, c.emit(Instr{op: opLoad, Line: e.Line, Text: text, dst: dst, addr: a, readAnn: p.ann})
	case pLock, pUnlock, pTrylock, pIsLocked:
		return c.lockCall(e, p.kind, dst, text)
	case pSrcuLock, pSrcuUnlock, pSrcuSync:
		return c.srcuCall(e, p.kind, dst, text)
	case pStore:
		a, err := c.location(e.Name, e.Args[0], p.deref)
		if err != nil {
			return false, err
		}
		v, err := c.expr(e.Args[1])
		if err != nil {
			return false, err
		}
		if dst >= 0 {
			return false, nil
		}
		if err := c.emit(Instr{op: opStore, Line: e.Line, Text: text, dst: -1, addr: a, val: v, writeAnn: p.ann}); err != nil {
			return false, err
		}
		if p.trailMb {
			return false, c.emit(Instr{op: opFence, Line: e.Line, Text: text, dst: -1, fence: FenceMb})
		}
		return false, nil
	}
	// RMW.
	locArg, valArg := e.Args[0], (*Expr)(nil)
	if p.valFirst {
		locArg, valArg = e.Args[1], e.Args[0]
	} else if !p.hasConst {
		valArg = e.Args[1]
	}
	a, err := c.location(e.Name, locArg, false)
	if err != nil {
		return false, err
	}
	var v, v2 *cexpr
	if p.hasConst {
		v = &cexpr{op: "const", num: p.constOp}
	} else if v, err = c.expr(valArg); err != nil {
		return false, err
	}
	if p.sub {
		v = &cexpr{op: "u-", x: v}
	}
	if p.rmw == rmwCmpxchg {
		if v2, err = c.expr(e.Args[2]); err != nil {
			return false, err
		}
	}
	in := Instr{op: opRMW, Line: e.Line, Text: text, dst: dst, addr: a, val: v, val2: v2, rmw: p.rmw, retNew: p.retNew}
	switch p.order {
	case "mb":
		in.fullFence = true
	case "acquire":
		in.readAnn = AnnAcquire
	case "release":
		in.writeAnn = AnnRelease
	}
	if p.noreturn {
		in.readAnn = AnnNoreturn
	}
	if p.noreturn && dst >= 0 {
		return false, nil
	}
	if in.dst < 0 {
		in.dst = c.temp()
	}
	if p.test != "" {
		res := in.dst
		if err := c.emit(in); err != nil {
			return false, err
		}
		op := "=="
		if p.test == "<0" {
			op = "<"
		}
		final := dst
		if final < 0 {
			final = c.temp()
		}
		return true, c.emit(Instr{op: opSet, Line: e.Line, dst: final, val: &cexpr{op: op, x: &cexpr{op: "reg", slot: res}, y: &cexpr{op: "const"}}})
	}
	return !p.noreturn, c.emit(in)
}

// location compiles the location argument of a primitive: *p for the
// READ_ONCE family, p for the others. p is a pointer parameter or a
// register holding an address (an address dependency).
func (c *compiler) location(name string, a *Expr, deref bool) (*cexpr, error) {
	if deref {
		if a.Kind != EDeref {
			return nil, c.errf(a.Line, "%s() wants *p, found %s", name, exprString(a))
		}
		a = a.X
	} else if a.Kind == EDeref {
		return nil, c.errf(a.Line, "%s() wants a pointer p, not *p", name)
	}
	if a.Kind == EName {
		if _, isReg := c.slots[a.Name]; !isReg && !c.params[a.Name] {
			if _, isVar := c.index[a.Name]; isVar {
				return nil, c.errf(a.Line, "%s is not a parameter of P%d", a.Name, c.pc.ID)
			}
			return nil, c.errf(a.Line, "undeclared register or parameter %s", a.Name)
		}
	}
	return c.expr(a)
}

// operand prints a sub-expression, in parentheses when it is a binary one.
func operand(e *Expr) string {
	if e.Kind == EBinary {
		return "(" + exprString(e) + ")"
	}
	return exprString(e)
}

// exprString prints an expression back in C syntax, for witnesses.
func exprString(e *Expr) string {
	switch e.Kind {
	case ENum:
		return fmt.Sprint(e.Num)
	case EName:
		return e.Name
	case EDeref:
		return "*" + exprString(e.X)
	case EAddr:
		return "&" + e.Name
	case EUnary:
		return e.Op + exprString(e.X)
	case EBinary:
		return operand(e.X) + " " + e.Op + " " + operand(e.Y)
	case ECall:
		s := e.Name + "("
		for i, a := range e.Args {
			if i > 0 {
				s += ", "
			}
			s += exprString(a)
		}
		return s + ")"
	}
	return "?"
}

// lockCall compiles spin_lock, spin_unlock, spin_trylock and spin_is_locked
// (see lockOp).
func (c *compiler) lockCall(e *Expr, kind primKind, dst int, text string) (bool, error) {
	a, err := c.location(e.Name, e.Args[0], false)
	if err != nil {
		return false, err
	}
	zero, one := &cexpr{op: "const"}, &cexpr{op: "const", num: 1}
	switch kind {
	case pIsLocked:
		// A marked read of the lock word: lock.cat's RL when it reads a
		// lock write (held), RU when it reads an unlock or the initial
		// value (free). Coherence alone gives lock.cat's rules for which
		// writes it may read.
		v := c.temp()
		if err := c.emit(Instr{op: opLoad, Line: e.Line, Text: text, dst: v, addr: a, readAnn: AnnOnce, lock: lkIsLocked}); err != nil {
			return false, err
		}
		if dst < 0 {
			dst = c.temp()
		}
		return true, c.emit(Instr{op: opSet, Line: e.Line, dst: dst, val: &cexpr{op: "!=", x: &cexpr{op: "reg", slot: v}, y: zero}})
	case pUnlock:
		if dst >= 0 {
			return false, nil
		}
		return false, c.emit(Instr{op: opStore, Line: e.Line, Text: text, dst: -1, addr: a, val: zero, writeAnn: AnnRelease, lock: lkUnlock})
	case pLock:
		if dst >= 0 {
			return false, nil
		}
		return false, c.emit(Instr{op: opRMW, Line: e.Line, Text: text, dst: c.temp(), addr: a, val: zero, val2: one,
			rmw: rmwCmpxchg, readAnn: AnnAcquire, lock: lkLock, mustWrite: true})
	}
	old := c.temp()
	if err := c.emit(Instr{op: opRMW, Line: e.Line, Text: text, dst: old, addr: a, val: zero, val2: one,
		rmw: rmwCmpxchg, readAnn: AnnAcquire, lock: lkTry}); err != nil {
		return false, err
	}
	if dst < 0 {
		dst = c.temp()
	}
	return true, c.emit(Instr{op: opSet, Line: e.Line, dst: dst, val: &cexpr{op: "==", x: &cexpr{op: "reg", slot: old}, y: zero}})
}

// srcuCall compiles the SRCU primitives as the LKMM defines them:
// srcu_read_lock(s) reads the srcu_struct s and returns the value read
// (the index), srcu_read_unlock(s, idx) writes idx to s, and
// synchronize_srcu(s) is a grace-period fence event on s. Sections are
// matched per execution by the index's data flow (model_lkmm_srcu.go).
func (c *compiler) srcuCall(e *Expr, kind primKind, dst int, text string) (bool, error) {
	a, err := c.location(e.Name, e.Args[0], false)
	if err != nil {
		return false, err
	}
	switch kind {
	case pSrcuLock:
		if dst < 0 {
			dst = c.temp()
		}
		return true, c.emit(Instr{op: opLoad, Line: e.Line, Text: text, dst: dst, addr: a, readAnn: AnnOnce, srcu: srcuLock})
	case pSrcuUnlock:
		v, err := c.expr(e.Args[1])
		if err != nil {
			return false, err
		}
		if !readsRegister(v) {
			return false, c.errf(e.Line, "%s: the index must be the value a srcu_read_lock() returned (the LKMM matches SRCU sections by it), found %s", text, exprString(e.Args[1]))
		}
		if dst >= 0 {
			return false, nil
		}
		return false, c.emit(Instr{op: opStore, Line: e.Line, Text: text, dst: -1, addr: a, val: v, writeAnn: AnnOnce, srcu: srcuUnlock})
	}
	if dst >= 0 {
		return false, nil
	}
	return false, c.emit(Instr{op: opFence, Line: e.Line, Text: text, dst: -1, addr: a, fence: FenceSyncSrcu, srcu: srcuSync})
}

// readsRegister reports whether a compiled expression reads a register.
func readsRegister(e *cexpr) bool {
	if e == nil {
		return false
	}
	return e.op == "reg" || readsRegister(e.x) || readsRegister(e.y)
}
