package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func writeLitmus(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.litmus")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The herd7 output for the kernel's MP+pooncerelease+poacquireonce, line
// for line apart from the timing.
func TestLitmusHerdOutput(t *testing.T) {
	code, out, errs := runCmd("litmus", "../../litmus/testdata/kernel/MP+pooncerelease+poacquireonce.litmus")
	want := `Test MP+pooncerelease+poacquireonce Allowed
States 3
1:r0=0; 1:r1=0;
1:r0=0; 1:r1=1;
1:r0=1; 1:r1=1;
No
Witnesses
Positive: 0 Negative: 3
Condition exists (1:r0=1 /\ 1:r1=0)
Observation MP+pooncerelease+poacquireonce Never 0 3
Time MP+pooncerelease+poacquireonce 0.00
`
	out = regexp.MustCompile(`(?m)^(Time \S+) [0-9.]+$`).ReplaceAllString(out, "$1 0.00")
	if code != 0 || strings.TrimSpace(out) != strings.TrimSpace(want) || errs != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", code, out, errs, want)
	}
}

func TestLitmusWitness(t *testing.T) {
	// The operational armv8 model prints the steps: which access went
	// ahead of which earlier one.
	code, out, _ := runCmd("litmus", "-model", "armv8", "-witness", "../../litmus/testdata/kernel/MP+poonceonces.litmus")
	for _, want := range []string{
		"Observation MP+poonceonces Sometimes 1 3",
		"Witness under armv8: final state 1:r0=1; 1:r1=0;",
		"1. P1: READ_ONCE(*buf) (line 24) reads buf=0 from the initial value",
		"performed before the earlier load READ_ONCE(*flag) (line 23): armv8 does not order this load->load pair",
		"P1: READ_ONCE(*flag) (line 23) reads flag=1 from P0's WRITE_ONCE(*flag, 1) (line 15)",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	// With smp_rmb() in the reader only the writer's stores can be
	// reordered: the witness says so.
	src, err := os.ReadFile("../../litmus/testdata/kernel/MP+poonceonces.litmus")
	if err != nil {
		t.Fatal(err)
	}
	rmb := strings.Replace(string(src), "r0 = READ_ONCE(*flag);", "r0 = READ_ONCE(*flag);\n\tsmp_rmb();", 1)
	_, out, _ = runCmd("litmus", "-model", "armv8", "-witness", writeLitmus(t, rmb))
	if !strings.Contains(out, "performed before the earlier store WRITE_ONCE(*buf, 1) (line 14): armv8 does not order this store->store pair") {
		t.Errorf("rmb-only witness:\n%s", out)
	}
	// The axiomatic armv8-ax names the program-order pairs of the cycle.
	code, out, _ = runCmd("litmus", "-model", "armv8-ax", "-witness", "../../litmus/testdata/kernel/MP+poonceonces.litmus")
	for _, want := range []string{
		"Witness under armv8-ax: final state 1:r0=1; 1:r1=0;",
		"reads flag=1 from P0's WRITE_ONCE(*flag, 1) (line 15)",
		"reads buf=0 from the initial value buf=0",
		"armv8-ax does not order this store->store pair",
		"armv8-ax does not order this load->load pair",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	// Under sc the condition cannot be met: the witness flag says so.
	_, out, _ = runCmd("litmus", "-model", "sc", "-witness", "../../litmus/testdata/kernel/MP+poonceonces.litmus")
	if !strings.Contains(out, "No witness: no allowed execution meets the condition under sc.") {
		t.Errorf("sc witness output:\n%s", out)
	}
}

func TestLitmusBadInput(t *testing.T) {
	p := writeLitmus(t, "C t\n{}\nP0(int *x)\n{\n\tREAD_TWICE(*x);\n}\nexists (x=0)\n")
	code, out, errs := runCmd("litmus", p)
	if code != 2 || out != "" || errs != p+":5: unknown primitive READ_TWICE()\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = runCmd("litmus", "-model", "power", p)
	if code != 2 || !strings.Contains(errs, `unknown model "power"`) {
		t.Errorf("bad model: exit %d, stderr %q", code, errs)
	}
	code, _, _ = runCmd("litmus")
	if code != 2 {
		t.Errorf("no file: exit %d", code)
	}
	// A model that cannot express a primitive says so, with the line.
	rcu := "../../litmus/testdata/kernel/RCU+sync+read.litmus"
	code, out, errs = runCmd("litmus", "-model", "armv8", rcu)
	if code != 2 || out != "" || !strings.HasPrefix(errs, rcu+":32: the armv8 model cannot express synchronize_rcu()") {
		t.Errorf("refusal: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	srcu := "../../litmus/testdata/kernel/SRCU+sync+read.litmus"
	code, out, errs = runCmd("litmus", "-model", "tso", srcu)
	if code != 2 || out != "" || !strings.HasPrefix(errs, srcu+":21: the tso model cannot express srcu_read_lock()") {
		t.Errorf("SRCU refusal: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = runCmd("litmus", srcu)
	if code != 0 || !strings.Contains(out, "Observation SRCU+sync+read Never 0 3") {
		t.Errorf("SRCU under lkmm: exit %d, stdout %q", code, out)
	}
}

func TestLitmusMaxStates(t *testing.T) {
	code, out, errs := runCmd("litmus", "-max-states", "5", "../../litmus/testdata/kernel/IRIW+poonceonces+OnceOnce.litmus")
	if code != 1 || out != "" || !strings.Contains(errs, "stopped after 5 states (-max-states 5)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// -sweep reports the fewest writer rounds at which the condition shows;
// a bound the test needs but was not given is a FILE:LINE error.
func TestLitmusSweep(t *testing.T) {
	f := "../../litmus/testdata/protocol/vma-spec-mm-first.litmus"
	code, out, errs := runCmd("litmus", "-D", "MASK=-1", "-sweep", "ROUNDS=1:3", f)
	if code != 0 || !strings.Contains(out, "vma-spec-mm-first ROUNDS=1: Never") ||
		!strings.Contains(out, "vma-spec-mm-first: first observed at ROUNDS=2 under lkmm") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, errs = runCmd("litmus", "-D", "MASK=-1", f)
	if code != 2 || out != "" || !regexp.MustCompile(`vma-spec-mm-first.litmus:\d+: ROUNDS is not defined: give it on the command line`).MatchString(errs) {
		t.Errorf("missing bound: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, bad := range []string{"ROUNDS", "ROUNDS=3:1", "=1:2", "ROUNDS=a:b"} {
		if code, _, _ := runCmd("litmus", "-sweep", bad, f); code != 2 {
			t.Errorf("-sweep %q: exit %d, want 2", bad, code)
		}
	}
	if code, _, _ := runCmd("litmus", "-D", "ROUNDS", f); code != 2 {
		t.Errorf("-D without a value: exit %d, want 2", code)
	}
}
