package litmus

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// spinCases are the protocol configurations checked by both explorers:
// this package on the litmus files, and SPIN on the Promela models in
// promela/, written independently (an operational store-pending model
// rather than an axiomatic one). Same verdict for each; the times are
// logged side by side.
var spinCases = []struct {
	name    string
	pml     string
	defines []string // for SPIN (cpp)
	litmus  string
	defs    map[string]int64
	torn    bool
	long    bool // skipped in race and -short runs (TestWraparound covers the explorer side)
}{
	{"per-VMA full, 2 rounds", "vma.pml", []string{"ROUNDS=2", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 2, "MASK": 255}, false, false},
	{"per-VMA without smp_wmb, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=0", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-wmb", map[string]int64{"ROUNDS": 1, "MASK": 255}, true, false},
	{"per-VMA without smp_rmb, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=0", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-rmb", map[string]int64{"ROUNDS": 1, "MASK": 255}, true, false},
	{"per-VMA plain vm_lock_seq load, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=1", "ACQV=0", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-acquire-vm", map[string]int64{"ROUNDS": 1, "MASK": 255}, false, false},
	{"per-VMA plain vm_lock_seq load, 2 rounds", "vma.pml", []string{"ROUNDS=2", "MASK=255", "WMB=1", "RMB=1", "ACQV=0", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-acquire-vm", map[string]int64{"ROUNDS": 2, "MASK": 255}, true, false},
	{"per-VMA plain mm_lock_seq load, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=0", "MMFIRST=0"}, "vma-spec-no-acquire-mm", map[string]int64{"ROUNDS": 1, "MASK": 255}, true, false},
	{"per-VMA mm_lock_seq first, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=1"}, "vma-spec-mm-first", map[string]int64{"ROUNDS": 1, "MASK": 255}, false, false},
	{"per-VMA mm_lock_seq first, 2 rounds", "vma.pml", []string{"ROUNDS=2", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=1"}, "vma-spec-mm-first", map[string]int64{"ROUNDS": 2, "MASK": 255}, true, false},
	{"per-VMA 2-bit sequence, 3 rounds", "vma.pml", []string{"ROUNDS=3", "MASK=3", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 3, "MASK": 3}, false, false},
	{"per-VMA 2-bit sequence, 4 rounds", "vma.pml", []string{"ROUNDS=4", "MASK=3", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 4, "MASK": 3}, true, false},
	{"per-VMA 3-bit sequence, 8 rounds", "vma.pml", []string{"ROUNDS=8", "MASK=7", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 8, "MASK": 7}, true, true},
	{"seqcount, 2 rounds", "seqcount.pml", []string{"ROUNDS=2", "BEGINRMB=1", "RETRYRMB=1"}, "mm-seqcount", map[string]int64{"ROUNDS": 2}, false, false},
	{"seqcount without retry smp_rmb, 1 round", "seqcount.pml", []string{"ROUNDS=1", "BEGINRMB=1", "RETRYRMB=0"}, "mm-seqcount-no-retry-rmb", map[string]int64{"ROUNDS": 1}, true, false},
	{"seqcount without begin smp_rmb, 1 round", "seqcount.pml", []string{"ROUNDS=1", "BEGINRMB=0", "RETRYRMB=1"}, "mm-seqcount-no-begin-rmb", map[string]int64{"ROUNDS": 1}, true, false},
}

var (
	spinErrors = regexp.MustCompile(`errors: (\d+)`)
	spinStates = regexp.MustCompile(`(\d+) states, stored`)
)

// buildSpin generates and compiles the verifier for one Promela file
// into dir; its knobs are read from the environment, so one build serves
// every configuration.
func buildSpin(dir, pml string) error {
	src, err := filepath.Abs(filepath.Join("promela", pml))
	if err != nil {
		return err
	}
	for _, s := range [][]string{
		{"spin", "-a", src},
		{"gcc", "-O0", "-w", "-DSAFETY", "-o", "pan", "pan.c"},
	} {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", s, err, out)
		}
	}
	return nil
}

// runPan runs a built verifier with the knobs in env; it returns whether
// an assertion failed and the states SPIN stored.
func runPan(dir string, env []string) (bool, int, error) {
	cmd := exec.Command("./pan", "-m100000")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.CombinedOutput()
	m := spinErrors.FindSubmatch(out)
	n := spinStates.FindSubmatch(out)
	if m == nil || n == nil {
		return false, 0, fmt.Errorf("unexpected pan output:\n%s", out)
	}
	errs, _ := strconv.Atoi(string(m[1]))
	states, _ := strconv.Atoi(string(n[1]))
	return errs > 0, states, nil
}

// TestSpinAgrees runs every configuration through both checkers and
// compares the verdicts; it logs states and times side by side (go test
// -run SpinAgrees -v). The SPIN time of a configuration is its verification
// run plus its share of the one compilation of its Promela file.
func TestSpinAgrees(t *testing.T) {
	for _, tool := range []string{"spin", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/setup.sh installs it): skipping the SPIN cross-check", tool)
		}
	}
	dirs := map[string]string{}
	builds := map[string]time.Duration{}
	uses := map[string]int{}
	for _, c := range spinCases {
		uses[c.pml]++
		if dirs[c.pml] != "" {
			continue
		}
		dirs[c.pml] = t.TempDir()
		start := time.Now()
		if err := buildSpin(dirs[c.pml], c.pml); err != nil {
			t.Fatal(err)
		}
		builds[c.pml] = time.Since(start)
	}
	t.Logf("%-44s %-6s %10s %9s %11s %9s", "configuration", "result", "our states", "our time", "SPIN states", "SPIN time")
	for _, c := range spinCases {
		if c.long && (raceEnabled || testing.Short()) {
			continue
		}
		start := time.Now()
		spinTorn, spinStates, err := runPan(dirs[c.pml], c.defines)
		if err != nil {
			t.Fatal(err)
		}
		spinTime := time.Since(start) + builds[c.pml]/time.Duration(uses[c.pml])
		pg := loadTest(t, "testdata/protocol/"+c.litmus+".litmus", c.defs)
		r, err := Explore(pg, Options{Model: models["lkmm"]})
		if err != nil {
			t.Fatal(err)
		}
		if (r.Positive > 0) != c.torn || spinTorn != c.torn {
			t.Errorf("%s: explorer torn=%v, SPIN torn=%v, want %v", c.name, r.Positive > 0, spinTorn, c.torn)
		}
		verdict := "never"
		if c.torn {
			verdict = "torn"
		}
		t.Logf("%-44s %-6s %10d %9s %11d %9s", c.name, verdict, r.Explored, r.Elapsed.Round(time.Millisecond), spinStates, spinTime.Round(time.Millisecond))
	}
	for pml, d := range builds {
		t.Logf("SPIN generate+compile of %s: %s (shared by its %d configurations)", pml, d.Round(time.Millisecond), uses[pml])
	}
}
