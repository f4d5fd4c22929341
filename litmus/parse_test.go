package litmus

import (
	"errors"
	"strings"
	"testing"
)

const goodMP = `C MP
{}
P0(int *x, int *y)
{
	WRITE_ONCE(*x, 1);
	WRITE_ONCE(*y, 1);
}
P1(int *x, int *y)
{
	int r0;
	int r1;
	r0 = READ_ONCE(*y);
	r1 = READ_ONCE(*x);
}
exists (1:r0=1 /\ 1:r1=0)
`

// badInput lists malformed tests: each must fail with FILE:LINE: and a
// message that says what is wrong.
var badInput = []struct {
	name, src string
	line      int
	msg       string
}{
	{"empty", "", 1, "empty file"},
	{"no header", "P0() {}\n", 1, "C NAME"},
	{"unknown primitive", "C t\n{}\nP0(int *x)\n{\n\tREAD_TWICE(*x);\n}\nexists (x=0)\n", 5, "unknown primitive READ_TWICE()"},
	{"undeclared register", "C t\n{}\nP0(int *x)\n{\n\tr0 = READ_ONCE(*x);\n}\nexists (0:r0=0)\n", 5, "undeclared register r0"},
	{"undeclared register in expr", "C t\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(*x, r7);\n}\nexists (x=0)\n", 5, "undeclared register r7"},
	{"while loop", "C t\n{}\nP0(int *x)\n{\n\tint r0;\n\twhile (r0) {}\n}\nexists (x=0)\n", 6, "unbounded loop"},
	{"for without bound", "C t\n{}\nP0(int *x)\n{\n\tfor (k = 0; ; k++) {}\n}\nexists (x=0)\n", 5, "unbounded loop"},
	{"undefined bound", "C t\n{}\nP0(int *x)\n{\n\tfor (k = 0; k < ROUNDS; k++) {\n\t\tWRITE_ONCE(*x, k);\n\t}\n}\nexists (x=0)\n", 5, "ROUNDS is not defined: give it on the command line"},
	{"huge loop", "C t\n{}\nP0(int *x)\n{\n\tfor (k = 0; k < 100000; k++) {\n\t\tWRITE_ONCE(*x, k);\n\t}\n}\nexists (x=0)\n", 5, "beyond the explorer's limits"},
	{"plain load", "C t\n{}\nP0(int *x)\n{\n\tint r0;\n\tr0 = *x;\n}\nexists (0:r0=0)\n", 6, "plain (unmarked) load"},
	{"plain store", "C t\n{}\nP0(int *x)\n{\n\t*x = 1;\n}\nexists (x=0)\n", 5, "plain (unmarked) store"},
	{"struct", "C t\n{}\nP0(struct foo *l)\n{\n}\nexists (x=0)\n", 3, "structs other than struct srcu_struct are not modelled"},
	{"srcu constant index", "C t\n{}\nP0(struct srcu_struct *s)\n{\n\tint i;\n\ti = srcu_read_lock(s);\n\tsrcu_read_unlock(s, 0);\n}\nexists (0:i=0)\n", 7, "the index must be the value a srcu_read_lock() returned"},
	{"srcu arity", "C t\n{}\nP0(struct srcu_struct *s)\n{\n\tsynchronize_srcu();\n}\nexists (s=0)\n", 5, "synchronize_srcu() takes 1 argument(s), found 0"},
	{"srcu star", "C t\n{}\nP0(struct srcu_struct *s)\n{\n\tint i;\n\ti = srcu_read_lock(*s);\n}\nexists (0:i=0)\n", 6, "wants a pointer p, not *p"},
	{"srcu no value", "C t\n{}\nP0(struct srcu_struct *s)\n{\n\tint i;\n\ti = synchronize_srcu(s);\n}\nexists (0:i=0)\n", 6, "returns no value"},
	{"spin_is_locked star", "C t\n{}\nP0(spinlock_t *l)\n{\n\tint r0;\n\tr0 = spin_is_locked(*l);\n}\nexists (0:r0=0)\n", 6, "wants a pointer p, not *p"},
	{"spin_lock value", "C t\n{}\nP0(spinlock_t *l)\n{\n\tint r0;\n\tr0 = spin_lock(l);\n}\nexists (0:r0=0)\n", 6, "spin_lock() returns no value"},
	{"wrong arity", "C t\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(*x);\n}\nexists (x=0)\n", 5, "takes 2 argument(s), found 1"},
	{"missing star", "C t\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(x, 1);\n}\nexists (x=0)\n", 5, "wants *p"},
	{"extra star", "C t\n{}\nP0(int *x)\n{\n\tsmp_store_release(*x, 1);\n}\nexists (x=0)\n", 5, "wants a pointer p, not *p"},
	{"not a parameter", "C t\n{ int y; }\nP0(int *x)\n{\n\tWRITE_ONCE(*y, 1);\n}\nexists (x=0)\n", 5, "y is not a parameter of P0"},
	{"no value", "C t\n{}\nP0(int *x)\n{\n\tint r0;\n\tr0 = smp_mb();\n}\nexists (x=0)\n", 6, "returns no value"},
	{"missing semicolon", "C t\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(*x, 1)\n}\nexists (x=0)\n", 6, "want \";\""},
	{"unterminated block", "C t\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(*x, 1);\n", 4, "unterminated block"},
	{"no condition", goodMP[:strings.Index(goodMP, "exists")], 15, "want the final condition"},
	{"bad condition register", strings.Replace(goodMP, "1:r1=0", "1:r9=0", 1), 15, "P1 has no register r9"},
	{"bad condition process", strings.Replace(goodMP, "1:r1=0", "4:r1=0", 1), 15, "there is no P4"},
	{"bad condition variable", strings.Replace(goodMP, "1:r1=0", "q=0", 1), 15, "q, which is not a shared variable"},
	{"process order", "C t\n{}\nP1(int *x)\n{\n}\nexists (x=0)\n", 3, "out of order"},
	{"bad character", "C t\n{}\nP0(int *x)\n{\n\t@\n}\nexists (x=0)\n", 5, "unexpected character"},
	{"trailing junk", goodMP + "junk\n", 16, "after the final condition"},
	{"filter", strings.Replace(goodMP, "exists", "filter", 1), 15, "filter clauses are not supported"},
	{"unterminated comment", "C t\n(* oops\n{}\n", 2, "unterminated (* comment"},
	{"deep expression", "C t\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(*x, " + strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500) + ");\n}\nexists (x=0)\n", 5, "nested too deeply"},
}

func TestBadInput(t *testing.T) {
	for _, c := range badInput {
		tst, err := Parse("bad.litmus", c.src)
		if err == nil {
			_, err = Compile(tst, nil)
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		var le *Error
		if !errors.As(err, &le) {
			t.Errorf("%s: %v is not a positioned error", c.name, err)
			continue
		}
		want := "bad.litmus:" + itoa(c.line) + ": "
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %q, want prefix %q and %q", c.name, err, want, c.msg)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

// A runaway test stops at -max-states with ErrMaxStates and no result.
func TestMaxStates(t *testing.T) {
	pg := compileSrc(t, "mp.litmus", goodMP)
	for _, m := range []string{"lkmm", "armv8"} {
		r, err := Explore(pg, Options{Model: models[m], MaxStates: 3})
		if !errors.Is(err, ErrMaxStates) || r != nil {
			t.Fatalf("%s: got %v, %v; want ErrMaxStates and no result", m, r, err)
		}
		if !strings.Contains(err.Error(), "max-states") {
			t.Errorf("%s: message %q does not name the bound", m, err)
		}
		if _, err := Explore(pg, Options{Model: models[m], MaxStates: 1000}); err != nil {
			t.Fatalf("%s: a bound above the test's size must not stop it: %v", m, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(goodMP)
	for _, c := range badInput {
		f.Add(c.src)
	}
	f.Add("C t\n{ x=1; 0:r0=2; }\nP0(int *x)\n{\n\tint r0;\n\tif (r0 == 2) { r0 = xchg(x, r0 + 1); } else { atomic_inc(x); }\n\tfor (k = 0; k < 3; k++) { WRITE_ONCE(*x, k); }\n}\nexists (0:r0=1 \\/ ~x=2)\n")
	f.Add("C t\n{}\nP0(spinlock_t *l, int *x)\n{\n\tint r0;\n\tspin_lock(l);\n\tWRITE_ONCE(*x, 1);\n\tspin_unlock(l);\n\tr0 = spin_trylock(l);\n\tsmp_mb__after_spinlock();\n}\nP1(int *x)\n{\n\tint r1;\n\trcu_read_lock();\n\tr1 = READ_ONCE(*x);\n\trcu_read_unlock();\n\tsynchronize_rcu();\n}\nexists (0:r0=1 /\\ 1:r1=0)\n")
	f.Add("C t\n{ c=5; }\nP0(struct srcu_struct *s, int *c, int *x)\n{\n\tint i;\n\tint r0;\n\ti = srcu_read_lock(s);\n\tr0 = READ_ONCE(*x);\n\tWRITE_ONCE(*c, i);\n\tsmp_mb__after_srcu_read_unlock();\n}\nP1(struct srcu_struct *s, int *c, int *x)\n{\n\tint j;\n\tj = READ_ONCE(*c);\n\tsrcu_read_unlock(s, j);\n\tsynchronize_srcu(s);\n\tWRITE_ONCE(*x, 1);\n}\nexists (0:r0=1 /\\ 1:j=0)\n")
	f.Fuzz(func(t *testing.T, src string) {
		tst, err := Parse("fuzz.litmus", src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.litmus:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		pg, err := Compile(tst, map[string]int64{"N": 2})
		if err != nil {
			return
		}
		for _, m := range []string{"lkmm", "armv8"} {
			r, err := Explore(pg, Options{Model: models[m], MaxStates: 2000})
			if err == nil && r.Positive+r.Negative == 0 && len(r.States) != 0 {
				t.Fatalf("%s: states without executions", m)
			}
		}
	})
}

// A register used as a pointer must hold a shared variable's address
// when the access runs: otherwise FILE:LINE: message from both explorers
// (the operational one only once no unresolved guess could make the path
// a mis-speculated one).
func TestRuntimeAddressError(t *testing.T) {
	pg := compileSrc(t, "addr.litmus", "C t\n{}\nP0(int *x)\n{\n\tint r0;\n\tint r1;\n\tr0 = READ_ONCE(*x);\n\tr1 = READ_ONCE(*r0);\n}\nexists (0:r1=0)\n")
	for _, m := range []string{"lkmm", "armv8"} {
		r, err := Explore(pg, Options{Model: models[m]})
		var le *Error
		if r != nil || !errors.As(err, &le) || !strings.HasPrefix(err.Error(), "addr.litmus:8: READ_ONCE(*r0): the address is not a shared variable") {
			t.Errorf("%s: got %v, %v", m, r, err)
		}
	}
}

// compileSrc parses and compiles a test given as text.
func compileSrc(t *testing.T, file, src string) *Program {
	t.Helper()
	tst, err := Parse(file, src)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Compile(tst, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pg
}
