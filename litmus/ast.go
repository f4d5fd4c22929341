package litmus

// The syntax tree of a C litmus test, as the parser builds it. compile.go
// turns it into per-process instruction lists (ir.go).

// Test is a parsed litmus test.
type Test struct {
	File    string
	Name    string
	Comment string     // the (* ... *) block after the name, without delimiters
	Init    []InitDecl // the { } block, in source order
	Procs   []*Proc
	Cond    *Cond
	Observe []CondLoc // the optional locations [...] clause
}

// InitDecl is one entry of the initial-state block: a shared variable (or,
// with Proc >= 0, a register) and its initial value.
type InitDecl struct {
	Line    int
	Proc    int // -1 for a shared variable
	Name    string
	Value   *Expr // nil: zero
	Pointer bool  // declared with a *
}

// Proc is one process P<N>(params) { body }.
type Proc struct {
	Line   int
	ID     int
	Params []string
	Body   []*Stmt
}

// StmtKind classifies statements.
type StmtKind int

const (
	SDecl   StmtKind = iota // int r0; int r0 = E;
	SExpr                   // E; (a primitive call whose value is dropped)
	SAssign                 // r = E;
	SIf                     // if (E) Then else Else
	SFor                    // for (k = A; k < B; k++) Body, unrolled at compile time
	SBlock                  // { ... }
)

// Stmt is one statement of a process body.
type Stmt struct {
	Kind       StmtKind
	Line       int
	Name       string // SDecl, SAssign: the register; SFor: the loop constant
	X          *Expr  // SDecl init, SExpr, SAssign value, SIf condition
	From, To   *Expr  // SFor bounds: From <= k < To
	Then, Else []*Stmt
}

// ExprKind classifies expressions.
type ExprKind int

const (
	ENum    ExprKind = iota // integer constant
	EName                   // register, shared-variable pointer, loop constant or -D define
	EDeref                  // *X
	EAddr                   // &x
	EUnary                  // Op X
	EBinary                 // X Op Y
	ECall                   // primitive call: Name(Args...)
)

// Expr is an expression.
type Expr struct {
	Kind ExprKind
	Line int
	Num  int64
	Name string // EName, ECall, EAddr
	Op   string // EUnary, EBinary
	X, Y *Expr
	Args []*Expr
}

// Cond is the final-state clause: exists, ~exists or forall over a
// proposition.
type Cond struct {
	Line int
	Kind string // "exists", "~exists", "forall"
	Prop *Prop
}

// Prop is a proposition over the final state.
type Prop struct {
	Op   string // "and", "or", "not", "atom", "true"
	L, R *Prop
	Atom *Atom
}

// CondLoc names a register (Proc >= 0) or a shared variable (Proc < 0).
type CondLoc struct {
	Proc int
	Name string
}

// Atom compares a location's final value with a constant or an address.
type Atom struct {
	Loc CondLoc
	Neq bool
	Num int64
	Var string // non-empty: the value is the address of this variable
}
