//go:build linux

package bench

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"specvma/internal/testsupport"
	"specvma/procfs"
)

// -loadexec.vmas sets how many VMAs the child of BenchmarkLoadExecOnly
// maps. Above vm.max_map_count (65530 by default) the child fails: raise
// it first (sysctl vm.max_map_count=262144). The documented run:
//
//	sysctl vm.max_map_count=262144
//	go test ./bench -run '^$' -bench LoadExecOnly -loadexec.vmas 120000
var loadExecVMAs = flag.Int("loadexec.vmas", 20000, "VMAs in BenchmarkLoadExecOnly's child")

// BenchmarkLoadExecOnly loads only the executable file-backed mappings of a
// live process with many VMAs (a C child: its anonymous VMAs, and its
// program, libc and ld.so) as entries (procfs.LiveEntries, what a profiler
// wants): by parsing /proc/PID/maps text, and by walking it with
// PROCMAP_QUERY, which skips everything else in the kernel. Both must give
// the same entries.
func BenchmarkLoadExecOnly(b *testing.B) {
	bin, err := buildMonitorChild(b.TempDir())
	if err != nil {
		b.Skip(err)
	}
	cmd := exec.Command(bin, "1", "1", strconv.Itoa(*loadExecVMAs))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		b.Fatalf("child did not map %d VMAs (vm.max_map_count?): %q %v", *loadExecVMAs, l, err)
	}
	pid := cmd.Process.Pid
	var want []procfs.Entry
	for _, mode := range []struct {
		name  string
		query bool
	}{{"text", false}, {"query", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				got, st, err := procfs.LiveEntries(pid, procfs.LoadOptions{Query: mode.query, ExecOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				if want == nil {
					want = got
				} else if !slices.Equal(got, want) {
					b.Fatalf("%s loaded\n%v\nwant\n%v", mode.name, got, want)
				}
				b.ReportMetric(float64(st.Entries), "mappings")
			}
		})
	}
}

// TestRaiseMaxMapCount: the workload's handling of vm.max_map_count, on a
// file standing in for the sysctl: left alone when high enough; raised as
// root and restored once; not restored over someone else's change; and
// without root an error saying what to run, the file untouched.
func TestRaiseMaxMapCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "max_map_count")
	oldPath, oldRoot := maxMapCountPath, isRoot
	t.Cleanup(func() { maxMapCountPath, isRoot = oldPath, oldRoot })
	maxMapCountPath = path
	set := func(v string) {
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	isRoot = func() bool { return true }

	set("65530\n")
	now, from, restore, err := raiseMaxMapCount(1000)
	if err != nil || now != 65530 || from != 0 || restore() != nil || get() != "65530" {
		t.Errorf("high enough: %d %d %v, file %s", now, from, err, get())
	}

	now, from, restore, err = raiseMaxMapCount(121000)
	if err != nil || now != 121000 || from != 65530 || get() != "121000" {
		t.Fatalf("raise: %d %d %v, file %s", now, from, err, get())
	}
	if err := restore(); err != nil || get() != "65530" {
		t.Errorf("restore: %v, file %s", err, get())
	}
	set("70000\n") // a later change is not undone by a second call
	if err := restore(); err != nil || get() != "70000" {
		t.Errorf("second restore: %v, file %s", err, get())
	}

	set("65530\n")
	_, _, restore, err = raiseMaxMapCount(121000)
	if err != nil {
		t.Fatal(err)
	}
	set("200000\n") // someone else changed it during the run
	if err := restore(); err == nil || !strings.Contains(err.Error(), "changed to 200000") || get() != "200000" {
		t.Errorf("restore over a change: %v, file %s", err, get())
	}

	isRoot = func() bool { return false }
	set("65530\n")
	_, _, _, err = raiseMaxMapCount(121000)
	if err == nil || !strings.Contains(err.Error(), "sysctl vm.max_map_count=121000") || get() != "65530" {
		t.Errorf("without root: %v, file %s", err, get())
	}
}

// TestLoadExecWorkload runs the workload on a small child (no sysctl
// change: 3,000 VMAs fit the default limit) and checks its shape: both
// loads found the child's executable file mappings, every method timed
// every run, and a run this small reports the ratio without judging it.
func TestLoadExecWorkload(t *testing.T) {
	skipNoLoadExec(t)
	var progress []string
	res, err := RunLoadExec(LoadExecOptions{VMAs: 3000, Runs: 2, Loads: 1, Progress: func(m string) { progress = append(progress, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mappings < 2 || res.MapCount < 3000 || res.RaisedFrom != 0 {
		t.Errorf("result %+v", res)
	}
	for _, runs := range [][]time.Duration{res.TextRuns, res.QueryRuns, res.ReadRuns} {
		if len(runs) != 2 || slices.Min(runs) <= 0 {
			t.Errorf("runs %v", runs)
		}
	}
	if n := len(progress); n < 4 || !strings.HasPrefix(progress[n-1], "run 2 of 2") {
		t.Errorf("progress %q", progress)
	}
	tg := res.targets()
	if len(tg) != 2 || !tg[0].Measured || tg[0].Cmp != "" || tg[0].Value <= 0 {
		t.Errorf("targets %+v", tg)
	}
	var b strings.Builder
	res.WriteTable(&b)
	for _, want := range []string{"text", "query", "read", "text / query"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	res.VMAs = 120000 // the size: the target is judged
	if tg := res.targets(); tg[0].Cmp != ">=" || tg[0].Limit != 10 {
		t.Errorf("targets at 120000 VMAs %+v", tg)
	}
}

// TestLoadExecInterruptRestores: a SIGINT during the workload puts the
// sysctl back before the process dies of the signal. The test runs itself
// as a subprocess whose sysctl is a file, and interrupts it after its
// first run.
func TestLoadExecInterruptRestores(t *testing.T) {
	if path := os.Getenv("SPECVMA_LOADEXEC_SYSCTL"); path != "" {
		maxMapCountPath, isRoot = path, func() bool { return true }
		_, err := RunLoadExec(LoadExecOptions{VMAs: 2000, Runs: 100000, Loads: 1, Progress: func(m string) {
			fmt.Println(m)
			if strings.HasPrefix(m, "run 1 of") {
				_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
			}
		}})
		time.Sleep(5 * time.Second) // the signal sent again must end the process first
		fmt.Println("still alive after:", err)
		os.Exit(3)
	}
	skipNoLoadExec(t)
	path := filepath.Join(t.TempDir(), "max_map_count")
	if err := os.WriteFile(path, []byte("2500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadExecInterruptRestores$")
	cmd.Env = append(os.Environ(), "SPECVMA_LOADEXEC_SYSCTL="+path)
	out, err := cmd.CombinedOutput()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("the process ended with %v (%v), not SIGINT:\n%s", cmd.ProcessState, err, out)
	}
	if b, _ := os.ReadFile(path); string(b) != "2500\n" {
		t.Errorf("sysctl file holds %q after the interrupt, want 2500:\n%s", b, out)
	}
	for _, want := range []string{"raised from 2500 to 3000", "interrupted by interrupt: vm.max_map_count restored to 2500"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// skipNoLoadExec skips where the workload cannot run: no gcc, or no
// PROCMAP_QUERY.
func skipNoLoadExec(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		testsupport.Skip(t, "needs gcc")
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if _, err := procfs.QueryLive(f, procfs.Query{Flags: procfs.QueryCoveringOrNext}); err != nil {
		testsupport.Skip(t, "no PROCMAP_QUERY: %v", err)
	}
}
