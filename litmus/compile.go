package litmus

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxInstrs bounds a process after unrolling: beyond it the test is past
// the explorer's limits.
const maxInstrs = 4096

// Compile turns a parsed test into per-process code. defs gives the values
// of names the test uses as constants (loop bounds, widths): -D NAME=V.
func Compile(t *Test, defs map[string]int64) (*Program, error) {
	pg := &Program{Test: t, Defs: defs}
	index := map[string]int{}
	addVar := func(n string) int {
		if i, ok := index[n]; ok {
			return i
		}
		index[n] = len(pg.Vars)
		pg.Vars = append(pg.Vars, n)
		pg.Init = append(pg.Init, 0)
		return index[n]
	}
	errf := func(line int, format string, args ...any) error {
		return &Error{t.File, line, fmt.Sprintf(format, args...)}
	}
	for _, d := range t.Init {
		if d.Proc < 0 {
			addVar(d.Name)
		}
	}
	for _, p := range t.Procs {
		for _, n := range p.Params {
			addVar(n)
		}
	}
	// Values in the init block: numbers, -D names or variable names (addresses).
	constVal := func(e *Expr) (int64, error) {
		c := &compiler{pg: pg, index: index, defs: defs, file: t.File, consts: map[string]int64{}}
		return c.constExpr(e, true)
	}
	regInit := map[[2]string]int64{}
	for _, d := range t.Init {
		var v int64
		if d.Value != nil {
			var err error
			if v, err = constVal(d.Value); err != nil {
				return nil, err
			}
		}
		if d.Proc >= 0 {
			if d.Proc >= len(t.Procs) {
				return nil, errf(d.Line, "initial value for register of P%d, which does not exist", d.Proc)
			}
			regInit[[2]string{fmt.Sprint(d.Proc), d.Name}] = v
			continue
		}
		pg.Init[index[d.Name]] = v
	}
	for _, p := range t.Procs {
		c := &compiler{pg: pg, index: index, defs: defs, file: t.File, consts: map[string]int64{},
			pc: &ProcCode{ID: p.ID}, slots: map[string]int{}, params: map[string]bool{}}
		for _, n := range p.Params {
			c.params[n] = true
		}
		for k, v := range regInit {
			if k[0] == fmt.Sprint(p.ID) {
				c.declare(k[1])
				c.pc.RegInit[c.slots[k[1]]] = v
			}
		}
		if err := c.stmts(p.Body); err != nil {
			return nil, err
		}
		pg.Procs = append(pg.Procs, c.pc)
	}
	if err := checkCond(t, pg); err != nil {
		return nil, err
	}
	return pg, nil
}

// checkCond verifies that the condition and locations clause name
// registers and variables the test has.
func checkCond(t *Test, pg *Program) error {
	var locs []CondLoc
	var walk func(p *Prop)
	walk = func(p *Prop) {
		if p == nil {
			return
		}
		if p.Atom != nil {
			locs = append(locs, p.Atom.Loc)
			if p.Atom.Var != "" && pg.varIndex(p.Atom.Var) < 0 {
				locs = append(locs, CondLoc{Proc: -2, Name: p.Atom.Var})
			}
		}
		walk(p.L)
		walk(p.R)
	}
	walk(t.Cond.Prop)
	locs = append(locs, t.Observe...)
	for _, l := range locs {
		switch {
		case l.Proc == -2:
			return &Error{t.File, t.Cond.Line, fmt.Sprintf("condition compares with %s, which is not a shared variable", l.Name)}
		case l.Proc < 0:
			if pg.varIndex(l.Name) < 0 {
				return &Error{t.File, t.Cond.Line, fmt.Sprintf("condition names %s, which is not a shared variable", l.Name)}
			}
		case l.Proc >= len(pg.Procs):
			return &Error{t.File, t.Cond.Line, fmt.Sprintf("condition names %d:%s, but there is no P%d", l.Proc, l.Name, l.Proc)}
		default:
			if pg.Procs[l.Proc].slot(l.Name) < 0 {
				return &Error{t.File, t.Cond.Line, fmt.Sprintf("condition names %d:%s, but P%d has no register %s", l.Proc, l.Name, l.Proc, l.Name)}
			}
		}
	}
	return nil
}

func (pg *Program) varIndex(n string) int {
	for i, v := range pg.Vars {
		if v == n {
			return i
		}
	}
	return -1
}

func (pc *ProcCode) slot(n string) int {
	for i, r := range pc.Regs {
		if r == n {
			return i
		}
	}
	return -1
}

type compiler struct {
	pg     *Program
	pc     *ProcCode
	index  map[string]int
	defs   map[string]int64
	consts map[string]int64 // loop constants in scope
	slots  map[string]int
	params map[string]bool
	file   string
}

func (c *compiler) errf(line int, format string, args ...any) error {
	return &Error{c.file, line, fmt.Sprintf(format, args...)}
}

func (c *compiler) declare(n string) int {
	if s, ok := c.slots[n]; ok {
		return s
	}
	c.slots[n] = len(c.pc.Regs)
	c.pc.Regs = append(c.pc.Regs, n)
	c.pc.RegInit = append(c.pc.RegInit, 0)
	return c.slots[n]
}

func (c *compiler) temp() int {
	c.pc.Regs = append(c.pc.Regs, "")
	c.pc.RegInit = append(c.pc.RegInit, 0)
	return len(c.pc.Regs) - 1
}

func (c *compiler) emit(in Instr) error {
	if len(c.pc.Code) >= maxInstrs {
		return c.errf(in.Line, "P%d has more than %d instructions after unrolling: beyond the explorer's limits", c.pc.ID, maxInstrs)
	}
	in.Where = fmt.Sprintf("line %d", in.Line)
	if len(c.consts) > 0 {
		for _, n := range slices.Sorted(maps.Keys(c.consts)) {
			in.Where += fmt.Sprintf(", %s=%d", n, c.consts[n])
		}
	}
	c.pc.Code = append(c.pc.Code, in)
	return nil
}

func (c *compiler) stmts(ss []*Stmt) error {
	for _, s := range ss {
		if err := c.stmt(s); err != nil {
			return err
		}
	}
	return nil
}

func (c *compiler) stmt(s *Stmt) error {
	switch s.Kind {
	case SBlock:
		return c.stmts(s.Then)
	case SDecl:
		if c.params[s.Name] {
			return c.errf(s.Line, "register %s has the name of a shared variable", s.Name)
		}
		slot := c.declare(s.Name)
		if s.X != nil {
			return c.assign(slot, s.X, s.Line)
		}
		return nil
	case SAssign:
		slot, ok := c.slots[s.Name]
		if !ok {
			if c.params[s.Name] {
				return c.errf(s.Line, "plain (unmarked) assignment to pointer %s: use WRITE_ONCE() or another marked primitive", s.Name)
			}
			return c.errf(s.Line, "undeclared register %s: declare it with int %s;", s.Name, s.Name)
		}
		return c.assign(slot, s.X, s.Line)
	case SExpr:
		if s.X.Kind != ECall {
			return c.errf(s.Line, "statement has no effect: want a primitive call or an assignment")
		}
		_, err := c.call(s.X, -1)
		return err
	case SIf:
		cond, err := c.expr(s.X)
		if err != nil {
			return err
		}
		br := len(c.pc.Code)
		if err := c.emit(Instr{op: opBranch, Line: s.Line, Text: "if", dst: -1, val: cond}); err != nil {
			return err
		}
		if err := c.stmts(s.Then); err != nil {
			return err
		}
		if s.Else == nil {
			c.pc.Code[br].target = len(c.pc.Code)
			return nil
		}
		j := len(c.pc.Code)
		if err := c.emit(Instr{op: opJump, Line: s.Line, dst: -1}); err != nil {
			return err
		}
		c.pc.Code[br].target = len(c.pc.Code)
		if err := c.stmts(s.Else); err != nil {
			return err
		}
		c.pc.Code[j].target = len(c.pc.Code)
		return nil
	case SFor:
		from, err := c.constExpr(s.From, false)
		if err != nil {
			return err
		}
		to, err := c.constExpr(s.To, false)
		if err != nil {
			return err
		}
		if _, ok := c.slots[s.Name]; ok {
			return c.errf(s.Line, "loop variable %s is also a register", s.Name)
		}
		if to-from > maxInstrs {
			return c.errf(s.Line, "loop runs %d times: beyond the explorer's limits", to-from)
		}
		old, had := c.consts[s.Name]
		for k := from; k < to; k++ {
			c.consts[s.Name] = k
			if err := c.stmts(s.Then); err != nil {
				return err
			}
		}
		if had {
			c.consts[s.Name] = old
		} else {
			delete(c.consts, s.Name)
		}
		return nil
	}
	return c.errf(s.Line, "unsupported statement")
}

// assign compiles slot = e: a primitive call stores its result straight
// into the slot; anything else is a register computation.
func (c *compiler) assign(slot int, e *Expr, line int) error {
	if e.Kind == ECall {
		ok, err := c.call(e, slot)
		if err != nil {
			return err
		}
		if !ok {
			return c.errf(line, "%s() returns no value", e.Name)
		}
		return nil
	}
	v, err := c.expr(e)
	if err != nil {
		return err
	}
	return c.emit(Instr{op: opSet, Line: line, dst: slot, val: v})
}

// constExpr evaluates an expression that must be known at compile time:
// numbers, -D names, loop constants and, where addrs, variable names.
func (c *compiler) constExpr(e *Expr, addrs bool) (int64, error) {
	switch e.Kind {
	case ENum:
		return e.Num, nil
	case EName:
		if v, ok := c.consts[e.Name]; ok {
			return v, nil
		}
		if v, ok := c.defs[e.Name]; ok {
			return v, nil
		}
		if i, ok := c.index[e.Name]; ok && addrs {
			return addrBase + int64(i), nil
		}
		if isUpper(e.Name) {
			return 0, c.errf(e.Line, "%s is not defined: give it on the command line, e.g. -D %s=2", e.Name, e.Name)
		}
		return 0, c.errf(e.Line, "%s is not a constant", e.Name)
	case EAddr:
		if i, ok := c.index[e.Name]; ok && addrs {
			return addrBase + int64(i), nil
		}
		return 0, c.errf(e.Line, "&%s is not a shared variable", e.Name)
	case EUnary, EBinary:
		x, err := c.constExpr(e.X, false)
		if err != nil {
			return 0, err
		}
		var y int64
		if e.Y != nil {
			if y, err = c.constExpr(e.Y, false); err != nil {
				return 0, err
			}
		}
		v, ok := arith(e.Op, e.Kind == EUnary, x, y)
		if !ok {
			return 0, c.errf(e.Line, "bad constant arithmetic %s", e.Op)
		}
		return v, nil
	}
	return 0, c.errf(e.Line, "want a constant here")
}

func isUpper(s string) bool {
	return s != "" && strings.ToUpper(s) == s && s[0] >= 'A' && s[0] <= 'Z'
}

// expr compiles a value expression; primitive calls inside it are lowered
// to loads into temporaries, in evaluation order.
func (c *compiler) expr(e *Expr) (*cexpr, error) {
	switch e.Kind {
	case ENum:
		return &cexpr{op: "const", num: e.Num}, nil
	case EName:
		if s, ok := c.slots[e.Name]; ok {
			return &cexpr{op: "reg", slot: s}, nil
		}
		if v, ok := c.consts[e.Name]; ok {
			return &cexpr{op: "const", num: v}, nil
		}
		if v, ok := c.defs[e.Name]; ok {
			return &cexpr{op: "const", num: v}, nil
		}
		if c.params[e.Name] {
			return &cexpr{op: "const", num: addrBase + int64(c.index[e.Name])}, nil
		}
		if isUpper(e.Name) {
			return nil, c.errf(e.Line, "%s is not defined: give it on the command line, e.g. -D %s=2", e.Name, e.Name)
		}
		return nil, c.errf(e.Line, "undeclared register %s", e.Name)
	case EAddr:
		if i, ok := c.index[e.Name]; ok {
			return &cexpr{op: "const", num: addrBase + int64(i)}, nil
		}
		return nil, c.errf(e.Line, "&%s is not a shared variable", e.Name)
	case EDeref:
		return nil, c.errf(e.Line, "plain (unmarked) load: use READ_ONCE() or another marked primitive")
	case EUnary, EBinary:
		x, err := c.expr(e.X)
		if err != nil {
			return nil, err
		}
		var y *cexpr
		if e.Y != nil {
			if y, err = c.expr(e.Y); err != nil {
				return nil, err
			}
		}
		if _, ok := arith(e.Op, e.Kind == EUnary, 1, 1); !ok {
			return nil, c.errf(e.Line, "unsupported operator %s", e.Op)
		}
		if e.Kind == EUnary {
			return &cexpr{op: "u" + e.Op, x: x}, nil
		}
		return &cexpr{op: e.Op, x: x, y: y}, nil
	case ECall:
		t := c.temp()
		ok, err := c.call(e, t)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, c.errf(e.Line, "%s() returns no value", e.Name)
		}
		return &cexpr{op: "reg", slot: t}, nil
	}
	return nil, c.errf(e.Line, "unsupported expression")
}

// arith applies a C operator; division by zero yields 0 (herd has no
// traps either, and the explorer must never panic).
func arith(op string, unary bool, x, y int64) (int64, bool) {
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	if unary {
		switch op {
		case "-":
			return -x, true
		case "!":
			return b(x == 0), true
		case "~":
			return ^x, true
		}
		return 0, false
	}
	switch op {
	case "+":
		return x + y, true
	case "-":
		return x - y, true
	case "*":
		return x * y, true
	case "/":
		if y == 0 {
			return 0, true
		}
		return x / y, true
	case "%":
		if y == 0 {
			return 0, true
		}
		return x % y, true
	case "&":
		return x & y, true
	case "|":
		return x | y, true
	case "^":
		return x ^ y, true
	case "<<":
		return x << (uint64(y) & 31), true
	case ">>":
		return x >> (uint64(y) & 31), true
	case "==":
		return b(x == y), true
	case "!=":
		return b(x != y), true
	case "<":
		return b(x < y), true
	case "<=":
		return b(x <= y), true
	case ">":
		return b(x > y), true
	case ">=":
		return b(x >= y), true
	case "&&":
		return b(x != 0 && y != 0), true
	case "||":
		return b(x != 0 || y != 0), true
	}
	return 0, false
}
