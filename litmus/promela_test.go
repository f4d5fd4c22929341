package litmus

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// -litmus.long adds the 4-bit wraparound configurations (15 and 16 writer
// rounds) to TestSpinAgrees: SPIN needs minutes and a few GB for 15.
var longSpin = flag.Bool("litmus.long", false, "TestSpinAgrees: also run the 4-bit wraparound configurations (minutes)")

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
	huge    bool // only with -litmus.long
}{
	{"per-VMA full, 2 rounds", "vma.pml", []string{"ROUNDS=2", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 2, "MASK": 255}, false, false, false},
	{"per-VMA without smp_wmb, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=0", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-wmb", map[string]int64{"ROUNDS": 1, "MASK": 255}, true, false, false},
	{"per-VMA without smp_rmb, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=0", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-rmb", map[string]int64{"ROUNDS": 1, "MASK": 255}, true, false, false},
	{"per-VMA plain vm_lock_seq load, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=1", "ACQV=0", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-acquire-vm", map[string]int64{"ROUNDS": 1, "MASK": 255}, false, false, false},
	{"per-VMA plain vm_lock_seq load, 2 rounds", "vma.pml", []string{"ROUNDS=2", "MASK=255", "WMB=1", "RMB=1", "ACQV=0", "ACQM=1", "MMFIRST=0"}, "vma-spec-no-acquire-vm", map[string]int64{"ROUNDS": 2, "MASK": 255}, true, false, false},
	{"per-VMA plain mm_lock_seq load, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=0", "MMFIRST=0"}, "vma-spec-no-acquire-mm", map[string]int64{"ROUNDS": 1, "MASK": 255}, true, false, false},
	{"per-VMA mm_lock_seq first, 1 round", "vma.pml", []string{"ROUNDS=1", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=1"}, "vma-spec-mm-first", map[string]int64{"ROUNDS": 1, "MASK": 255}, false, false, false},
	{"per-VMA mm_lock_seq first, 2 rounds", "vma.pml", []string{"ROUNDS=2", "MASK=255", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=1"}, "vma-spec-mm-first", map[string]int64{"ROUNDS": 2, "MASK": 255}, true, false, false},
	{"per-VMA 2-bit sequence, 3 rounds", "vma.pml", []string{"ROUNDS=3", "MASK=3", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 3, "MASK": 3}, false, false, false},
	{"per-VMA 2-bit sequence, 4 rounds", "vma.pml", []string{"ROUNDS=4", "MASK=3", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 4, "MASK": 3}, true, false, false},
	{"per-VMA 3-bit sequence, 7 rounds", "vma.pml", []string{"ROUNDS=7", "MASK=7", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 7, "MASK": 7}, false, true, false},
	{"per-VMA 3-bit sequence, 8 rounds", "vma.pml", []string{"ROUNDS=8", "MASK=7", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 8, "MASK": 7}, true, true, false},
	{"per-VMA 4-bit sequence, 15 rounds", "vma.pml", []string{"ROUNDS=15", "MASK=15", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 15, "MASK": 15}, false, true, true},
	{"per-VMA 4-bit sequence, 16 rounds", "vma.pml", []string{"ROUNDS=16", "MASK=15", "WMB=1", "RMB=1", "ACQV=1", "ACQM=1", "MMFIRST=0"}, "vma-spec", map[string]int64{"ROUNDS": 16, "MASK": 15}, true, true, true},
	{"seqcount, 2 rounds", "seqcount.pml", []string{"ROUNDS=2", "BEGINRMB=1", "RETRYRMB=1"}, "mm-seqcount", map[string]int64{"ROUNDS": 2}, false, false, false},
	{"seqcount without retry smp_rmb, 1 round", "seqcount.pml", []string{"ROUNDS=1", "BEGINRMB=1", "RETRYRMB=0"}, "mm-seqcount-no-retry-rmb", map[string]int64{"ROUNDS": 1}, true, false, false},
	{"seqcount without begin smp_rmb, 1 round", "seqcount.pml", []string{"ROUNDS=1", "BEGINRMB=0", "RETRYRMB=1"}, "mm-seqcount-no-begin-rmb", map[string]int64{"ROUNDS": 1}, true, false, false},
}

var (
	spinErrors = regexp.MustCompile(`errors: (\d+)`)
	spinStates = regexp.MustCompile(`(\d+) states, stored`)
)

// buildSpin generates and compiles the verifier for one Promela file
// into dir; its knobs are read from the environment, so one build serves
// every configuration. It returns the wall and CPU time of the build.
func buildSpin(dir, pml string) (wall, cpu time.Duration, err error) {
	src, err := filepath.Abs(filepath.Join("promela", pml))
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for _, s := range [][]string{
		{"spin", "-a", src},
		{"gcc", "-O0", "-w", "-DSAFETY", "-o", "pan", "pan.c"},
	} {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, 0, fmt.Errorf("%v: %v\n%s", s, err, out)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return time.Since(start), cpu, nil
}

// panRun is one SPIN verification run.
type panRun struct {
	torn      bool
	states    int
	wall, cpu time.Duration
}

// runPan runs a built verifier with the knobs in env and a search depth
// bound; it returns whether an assertion failed (SPIN stops at the first)
// and the states it stored.
func runPan(dir string, env []string, depth int) (panRun, error) {
	cmd := exec.Command("./pan", fmt.Sprintf("-m%d", depth))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, _ := cmd.CombinedOutput()
	r := panRun{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if regexp.MustCompile(`max search depth too small`).Match(out) {
		return r, fmt.Errorf("pan: search depth %d too small:\n%s", depth, out)
	}
	m := spinErrors.FindSubmatch(out)
	n := spinStates.FindSubmatch(out)
	if m == nil || n == nil {
		return r, fmt.Errorf("unexpected pan output:\n%s", out)
	}
	errs, _ := strconv.Atoi(string(m[1]))
	r.states, _ = strconv.Atoi(string(n[1]))
	r.torn = errs > 0
	return r, nil
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSpinAgrees runs every configuration through three checkers — the
// axiomatic lkmm explorer, the operational armv8 explorer and SPIN — and
// compares their verdicts. Each answers the same reachability question
// (can a validated reader tear?) and stops at the first execution that
// says yes, as SPIN stops at its first assertion failure. It logs states
// and times side by side (go test -run SpinAgrees -v; add -litmus.long
// for the 4-bit rows): wall and CPU time of each explorer, and SPIN's run
// and build (spin -a + gcc, done once per Promela file here, but part of
// any one fresh SPIN check).
func TestSpinAgrees(t *testing.T) {
	for _, tool := range []string{"spin", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/setup.sh installs it): skipping the SPIN cross-check", tool)
		}
	}
	type build struct {
		dir       string
		wall, cpu time.Duration
	}
	builds := map[string]*build{}
	for _, c := range spinCases {
		if builds[c.pml] != nil {
			continue
		}
		b := &build{dir: t.TempDir()}
		var err error
		if b.wall, b.cpu, err = buildSpin(b.dir, c.pml); err != nil {
			t.Fatal(err)
		}
		builds[c.pml] = b
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
	t.Logf("%-40s %-5s | %9s %7s %7s | %9s %7s %7s | %9s %7s %7s %7s %7s",
		"configuration", "torn", "lkmm st", "wall s", "cpu s", "armv8 st", "wall s", "cpu s", "SPIN st", "run s", "cpu s", "+bld s", "+bldcpu")
	for _, c := range spinCases {
		if c.long && (raceEnabled || testing.Short()) || c.huge && !*longSpin {
			continue
		}
		b := builds[c.pml]
		depth := 100_000 // deep enough for every row but the 4-bit ones (pan says when it is not)
		if c.huge {
			depth = 1_000_000
		}
		sp, err := runPan(b.dir, c.defines, depth)
		if err != nil {
			t.Fatal(err)
		}
		pg := loadTest(t, "testdata/protocol/"+c.litmus+".litmus", c.defs)
		var row string
		for _, model := range []string{"lkmm", "armv8"} {
			c0 := cpuTime()
			r, err := Explore(pg, Options{Model: models[model], FirstPositive: true})
			cpu := cpuTime() - c0
			if err != nil {
				t.Fatal(err)
			}
			if (r.Positive > 0) != c.torn {
				t.Errorf("%s: %s says torn=%v, want %v", c.name, model, r.Positive > 0, c.torn)
			}
			row += fmt.Sprintf(" | %9d %7s %7s", r.Explored, ms(r.Elapsed), ms(cpu))
		}
		if sp.torn != c.torn {
			t.Errorf("%s: SPIN says torn=%v, want %v", c.name, sp.torn, c.torn)
		}
		t.Logf("%-40s %-5v%s | %9d %7s %7s %7s %7s", c.name, c.torn, row, sp.states, ms(sp.wall), ms(sp.cpu), ms(sp.wall+b.wall), ms(sp.cpu+b.cpu))
	}
	for pml, b := range builds {
		t.Logf("SPIN build of %s (spin -a + gcc): %s s wall, %s s CPU", pml, ms(b.wall), ms(b.cpu))
	}
}
