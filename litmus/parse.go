package litmus

import (
	"fmt"
	"strings"
)

// Error is a problem with a litmus test, reported as FILE:LINE: message.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// maxProcs and maxStmts bound what the parser accepts, so a hostile file
// cannot make the explorer allocate without limit.
const (
	maxProcs  = 8
	maxSource = 1 << 20
)

// Parse reads a C litmus test. file names it in error messages.
func Parse(file, src string) (*Test, error) {
	if len(src) > maxSource {
		return nil, &Error{file, 0, fmt.Sprintf("file larger than %d bytes", maxSource)}
	}
	lines := strings.Split(src, "\n")
	hdr := -1
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			hdr = i
			break
		}
	}
	if hdr < 0 {
		return nil, &Error{file, 1, "empty file: want a \"C NAME\" header"}
	}
	f := strings.Fields(lines[hdr])
	if len(f) != 2 || f[0] != "C" {
		return nil, &Error{file, hdr + 1, "want a \"C NAME\" header line"}
	}
	t := &Test{File: file, Name: f[1]}
	rest := strings.Join(lines[hdr+1:], "\n")
	if c := strings.TrimSpace(rest); strings.HasPrefix(c, "(*") {
		if end := strings.Index(c[2:], "*)"); end >= 0 {
			t.Comment = c[2 : 2+end]
		}
	}
	toks, lerr := lex(rest, hdr+2)
	if lerr != nil {
		return nil, &Error{file, lerr.line, lerr.msg}
	}
	p := &parser{file: file, toks: toks}
	if err := p.test(t); err != nil {
		return nil, err
	}
	return t, nil
}

type parser struct {
	file string
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) peekN(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errf(line int, format string, args ...any) error {
	return &Error{p.file, line, fmt.Sprintf(format, args...)}
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tPunct || t.kind == tIdent) && t.text == text
}

func (p *parser) accept(text string) bool {
	if p.is(text) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expect(text string) (token, error) {
	t := p.peek()
	if !p.is(text) {
		return t, p.errf(t.line, "want %q, found %s", text, t)
	}
	return p.next(), nil
}

func (p *parser) ident(what string) (token, error) {
	t := p.peek()
	if t.kind != tIdent {
		return t, p.errf(t.line, "want %s, found %s", what, t)
	}
	return p.next(), nil
}

func (p *parser) test(t *Test) error {
	if _, err := p.expect("{"); err != nil {
		return err
	}
	for !p.accept("}") {
		if p.peek().kind == tEOF {
			return p.errf(p.peek().line, "unterminated initial-state block")
		}
		d, err := p.initDecl()
		if err != nil {
			return err
		}
		if d != nil {
			t.Init = append(t.Init, *d)
		}
	}
	for {
		tk := p.peek()
		if tk.kind != tIdent || len(tk.text) < 2 || tk.text[0] != 'P' || !allDigits(tk.text[1:]) {
			break
		}
		pr, err := p.proc()
		if err != nil {
			return err
		}
		if pr.ID != len(t.Procs) {
			return p.errf(pr.Line, "process P%d out of order: want P%d", pr.ID, len(t.Procs))
		}
		if len(t.Procs) == maxProcs {
			return p.errf(pr.Line, "more than %d processes", maxProcs)
		}
		t.Procs = append(t.Procs, pr)
	}
	if len(t.Procs) == 0 {
		return p.errf(p.peek().line, "want at least one process P0(...) { ... }, found %s", p.peek())
	}
	if p.accept("locations") {
		locs, err := p.locations()
		if err != nil {
			return err
		}
		t.Observe = locs
	}
	c, err := p.cond()
	if err != nil {
		return err
	}
	t.Cond = c
	if tk := p.peek(); tk.kind != tEOF {
		return p.errf(tk.line, "unexpected %s after the final condition", tk)
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// typeWords are the C type words the litmus subset accepts in declarations.
var typeWords = map[string]bool{"int": true, "long": true, "unsigned": true, "atomic_t": true, "atomic_long_t": true, "u32": true, "u64": true, "spinlock_t": true}

// skipType consumes a type: words then stars; it returns whether there
// was a type and whether it was a pointer.
func (p *parser) skipType() (found, ptr bool, err error) {
	for p.peek().kind == tIdent && typeWords[p.peek().text] {
		p.next()
		found = true
	}
	if !found && p.peek().kind == tIdent && p.peek().text == "struct" && p.peekN(1).text == "srcu_struct" {
		p.next() // struct srcu_struct: the SRCU primitives' domain
		p.next()
		found = true
	}
	if found && p.peek().kind == tIdent && p.peek().text == "struct" {
		return found, false, p.errf(p.peek().line, "unsupported type %q", p.peek().text)
	}
	if !found && p.peek().kind == tIdent && p.peek().text == "struct" {
		return false, false, p.errf(p.peek().line, "unsupported type %q: structs other than struct srcu_struct are not modelled", p.peek().text)
	}
	for found && p.accept("*") {
		ptr = true
	}
	return found, ptr, nil
}

// initDecl parses one entry of the initial-state block.
func (p *parser) initDecl() (*InitDecl, error) {
	if p.accept(";") {
		return nil, nil
	}
	_, ptr, err := p.skipType()
	if err != nil {
		return nil, err
	}
	d := &InitDecl{Proc: -1, Pointer: ptr, Line: p.peek().line}
	if p.peek().kind == tNum && p.peekN(1).text == ":" {
		d.Proc = int(p.next().num)
		p.next()
	}
	name, err := p.ident("a variable name")
	if err != nil {
		return nil, err
	}
	d.Name = name.text
	if p.accept("=") {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		d.Value = e
	}
	if !p.is("}") {
		if _, err := p.expect(";"); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (p *parser) proc() (*Proc, error) {
	tk := p.next()
	pr := &Proc{Line: tk.line}
	fmt.Sscanf(tk.text[1:], "%d", &pr.ID)
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	for !p.accept(")") {
		found, _, err := p.skipType()
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, p.errf(p.peek().line, "want a parameter type such as \"int *\", found %s", p.peek())
		}
		name, err := p.ident("a parameter name")
		if err != nil {
			return nil, err
		}
		pr.Params = append(pr.Params, name.text)
		if !p.is(")") {
			if _, err := p.expect(","); err != nil {
				return nil, err
			}
		}
	}
	body, err := p.block()
	if err != nil {
		return nil, err
	}
	pr.Body = body
	return pr, nil
}

func (p *parser) block() ([]*Stmt, error) {
	open, err := p.expect("{")
	if err != nil {
		return nil, err
	}
	var out []*Stmt
	for !p.accept("}") {
		if p.peek().kind == tEOF {
			return nil, p.errf(open.line, "unterminated block")
		}
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// body parses a block or a single statement (after if, else, for).
func (p *parser) body() ([]*Stmt, error) {
	if p.is("{") {
		return p.block()
	}
	s, err := p.stmt()
	if err != nil || s == nil {
		return nil, err
	}
	return []*Stmt{s}, nil
}

func (p *parser) stmt() (*Stmt, error) {
	tk := p.peek()
	line := tk.line
	switch {
	case p.accept(";"):
		return nil, nil
	case p.is("{"):
		b, err := p.block()
		return &Stmt{Kind: SBlock, Line: line, Then: b}, err
	case p.is("while") || p.is("do") || p.is("goto"):
		return nil, p.errf(line, "unbounded loop (%s): write a for loop with constant bounds, e.g. for (k = 0; k < ROUNDS; k++)", tk.text)
	case p.accept("if"):
		if _, err := p.expect("("); err != nil {
			return nil, err
		}
		c, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(")"); err != nil {
			return nil, err
		}
		th, err := p.body()
		if err != nil {
			return nil, err
		}
		s := &Stmt{Kind: SIf, Line: line, X: c, Then: th}
		if p.accept("else") {
			el, err := p.body()
			if err != nil {
				return nil, err
			}
			s.Else = el
		}
		return s, nil
	case p.accept("for"):
		return p.forStmt(line)
	}
	if found, _, err := p.skipType(); err != nil {
		return nil, err
	} else if found {
		name, err := p.ident("a register name")
		if err != nil {
			return nil, err
		}
		s := &Stmt{Kind: SDecl, Line: line, Name: name.text}
		if p.accept("=") {
			if s.X, err = p.expr(); err != nil {
				return nil, err
			}
		}
		_, err = p.expect(";")
		return s, err
	}
	if tk.kind == tIdent && p.peekN(1).text == "=" {
		p.next()
		p.next()
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(";"); err != nil {
			return nil, err
		}
		return &Stmt{Kind: SAssign, Line: line, Name: tk.text, X: e}, nil
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.is("=") {
		return nil, p.errf(line, "plain (unmarked) store: use WRITE_ONCE() or another marked primitive")
	}
	if _, err := p.expect(";"); err != nil {
		return nil, err
	}
	return &Stmt{Kind: SExpr, Line: line, X: e}, nil
}

// forStmt parses for (k = A; k < B; k++) BODY; the bounds must be constant
// at compile time, so the loop unrolls.
func (p *parser) forStmt(line int) (*Stmt, error) {
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	p.skipType()
	k, err := p.ident("a loop variable")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect("="); err != nil {
		return nil, err
	}
	from, err := p.expr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(";"); err != nil {
		return nil, err
	}
	if p.is(";") {
		return nil, p.errf(line, "unbounded loop: a for loop needs a bound k < N")
	}
	k2, err := p.ident("the loop variable")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect("<"); err != nil {
		return nil, err
	}
	to, err := p.expr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(";"); err != nil {
		return nil, err
	}
	k3, err := p.ident("the loop variable")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect("++"); err != nil {
		return nil, err
	}
	if _, err := p.expect(")"); err != nil {
		return nil, err
	}
	if k2.text != k.text || k3.text != k.text {
		return nil, p.errf(line, "for loop must test and increment its own variable %s", k.text)
	}
	b, err := p.body()
	if err != nil {
		return nil, err
	}
	return &Stmt{Kind: SFor, Line: line, Name: k.text, From: from, To: to, Then: b}, nil
}

// binary operator precedence, C's order.
var binPrec = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7, ">=": 7,
	"<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

func (p *parser) expr() (*Expr, error) { return p.binaryDepth(0) }

// maxDepth bounds expression nesting so the recursive parser cannot
// exhaust the stack.
const maxDepth = 200

func (p *parser) unaryDepth(depth int) (*Expr, error) {
	tk := p.peek()
	if depth > maxDepth {
		return nil, p.errf(tk.line, "expression nested too deeply")
	}
	if tk.kind == tPunct {
		switch tk.text {
		case "-", "!", "~":
			p.next()
			x, err := p.unaryDepth(depth + 1)
			if err != nil {
				return nil, err
			}
			return &Expr{Kind: EUnary, Line: tk.line, Op: tk.text, X: x}, nil
		case "*":
			p.next()
			x, err := p.unaryDepth(depth + 1)
			if err != nil {
				return nil, err
			}
			return &Expr{Kind: EDeref, Line: tk.line, X: x}, nil
		case "&":
			p.next()
			n, err := p.ident("a variable after &")
			if err != nil {
				return nil, err
			}
			return &Expr{Kind: EAddr, Line: tk.line, Name: n.text}, nil
		case "(":
			p.next()
			x, err := p.binaryDepth(depth + 1)
			if err != nil {
				return nil, err
			}
			_, err = p.expect(")")
			return x, err
		}
	}
	switch tk.kind {
	case tNum:
		p.next()
		return &Expr{Kind: ENum, Line: tk.line, Num: tk.num}, nil
	case tIdent:
		p.next()
		if !p.is("(") {
			return &Expr{Kind: EName, Line: tk.line, Name: tk.text}, nil
		}
		p.next()
		call := &Expr{Kind: ECall, Line: tk.line, Name: tk.text}
		for !p.accept(")") {
			a, err := p.binaryDepth(depth + 1)
			if err != nil {
				return nil, err
			}
			call.Args = append(call.Args, a)
			if !p.is(")") {
				if _, err := p.expect(","); err != nil {
					return nil, err
				}
			}
		}
		return call, nil
	}
	return nil, p.errf(tk.line, "want an expression, found %s", tk)
}

func (p *parser) binaryDepth(depth int) (*Expr, error) {
	if depth > maxDepth {
		return nil, p.errf(p.peek().line, "expression nested too deeply")
	}
	x, err := p.unaryDepth(depth)
	if err != nil {
		return nil, err
	}
	return p.binaryRest(x, 1, depth)
}

func (p *parser) binaryRest(x *Expr, min, depth int) (*Expr, error) {
	for {
		tk := p.peek()
		prec, ok := binPrec[tk.text]
		if tk.kind != tPunct || !ok || prec < min {
			return x, nil
		}
		p.next()
		y, err := p.unaryDepth(depth + 1)
		if err != nil {
			return nil, err
		}
		for {
			t2 := p.peek()
			p2, ok := binPrec[t2.text]
			if t2.kind != tPunct || !ok || p2 <= prec {
				break
			}
			if y, err = p.binaryRest(y, prec+1, depth+1); err != nil {
				return nil, err
			}
		}
		x = &Expr{Kind: EBinary, Line: tk.line, Op: tk.text, X: x, Y: y}
	}
}

// locations parses [loc; loc; ...].
func (p *parser) locations() ([]CondLoc, error) {
	if _, err := p.expect("["); err != nil {
		return nil, err
	}
	var out []CondLoc
	for !p.accept("]") {
		l, err := p.condLoc()
		if err != nil {
			return nil, err
		}
		out = append(out, l)
		p.accept(";")
	}
	return out, nil
}

func (p *parser) condLoc() (CondLoc, error) {
	tk := p.peek()
	if tk.kind == tNum && p.peekN(1).text == ":" {
		p.next()
		p.next()
		n, err := p.ident("a register name")
		if err != nil {
			return CondLoc{}, err
		}
		return CondLoc{Proc: int(tk.num), Name: n.text}, nil
	}
	n, err := p.ident("a location (N:reg or a variable)")
	if err != nil {
		return CondLoc{}, err
	}
	return CondLoc{Proc: -1, Name: n.text}, nil
}

func (p *parser) cond() (*Cond, error) {
	tk := p.peek()
	c := &Cond{Line: tk.line}
	switch {
	case p.accept("exists"):
		c.Kind = "exists"
	case p.accept("forall"):
		c.Kind = "forall"
	case p.is("~") && p.peekN(1).text == "exists":
		p.next()
		p.next()
		c.Kind = "~exists"
	case p.is("filter"):
		return nil, p.errf(tk.line, "filter clauses are not supported")
	default:
		return nil, p.errf(tk.line, "want the final condition (exists, ~exists or forall), found %s", tk)
	}
	pr, err := p.propOr(0)
	if err != nil {
		return nil, err
	}
	c.Prop = pr
	return c, nil
}

func (p *parser) propOr(depth int) (*Prop, error) {
	return p.propChain(depth, "\\/", "or", p.propAnd)
}

func (p *parser) propAnd(depth int) (*Prop, error) {
	return p.propChain(depth, "/\\", "and", p.propNot)
}

// propChain parses operands separated by tok into left-associative op
// nodes.
func (p *parser) propChain(depth int, tok, op string, operand func(int) (*Prop, error)) (*Prop, error) {
	l, err := operand(depth)
	if err != nil {
		return nil, err
	}
	for p.accept(tok) {
		r, err := operand(depth)
		if err != nil {
			return nil, err
		}
		l = &Prop{Op: op, L: l, R: r}
	}
	return l, nil
}

func (p *parser) propNot(depth int) (*Prop, error) {
	if depth > maxDepth {
		return nil, p.errf(p.peek().line, "condition nested too deeply")
	}
	if p.accept("~") {
		x, err := p.propNot(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Prop{Op: "not", L: x}, nil
	}
	if p.accept("(") {
		x, err := p.propOr(depth + 1)
		if err != nil {
			return nil, err
		}
		_, err = p.expect(")")
		return x, err
	}
	if p.accept("true") {
		return &Prop{Op: "true"}, nil
	}
	loc, err := p.condLoc()
	if err != nil {
		return nil, err
	}
	a := &Atom{Loc: loc}
	switch {
	case p.accept("="):
	case p.accept("=="):
	case p.accept("!="):
		a.Neq = true
	default:
		return nil, p.errf(p.peek().line, "want = or != after %s, found %s", loc.Name, p.peek())
	}
	neg := p.accept("-")
	tk := p.next()
	switch tk.kind {
	case tNum:
		a.Num = tk.num
		if neg {
			a.Num = -a.Num
		}
	case tIdent:
		if neg {
			return nil, p.errf(tk.line, "want a number after -")
		}
		a.Var = tk.text
	default:
		return nil, p.errf(tk.line, "want a value, found %s", tk)
	}
	return &Prop{Op: "atom", Atom: a}, nil
}
