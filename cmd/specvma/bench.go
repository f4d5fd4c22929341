package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"specvma/bench"
)

var benchCommand = command{name: "bench", summary: "the uprobe scalability experiment (the main job)", run: runBench}

const benchUsage = `usage: specvma bench [flags]

Reproduces the uprobe scalability experiment (bench trig-uprobe-nop) in the
model and prints one table row per measurement, then the targets. With
-check, a missed target makes the exit status 1. docs/bench-json.md
describes the -json output key by key. Rows run interleaved, in rounds of
one window each; progress goes to stderr: a bar on a terminal, otherwise
(piped, or CI set) one line per finished round.

`

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr, benchUsage+bench.Help())
	def := bench.DefaultPlan()
	tasks := fs.String("tasks", "1,2", "task counts, comma-separated")
	vmas := fs.String("vmas", "16,1000,100000", "address-space sizes (VMAs) for the size rows")
	rates := fs.String("rate", "1000,100000", "churn rates (writer operations per second)")
	workload := fs.String("workload", "", "only these workloads (comma-separated)")
	strategy := fs.String("strategy", "", "only these strategies or baselines (comma-separated)")
	churn := fs.String("churn", "", "only these churn kinds (comma-separated)")
	duration := fs.Duration("duration", def.Window, "length of one measurement window")
	count := fs.Int("count", def.Rounds, "rounds: windows per row, interleaved across rows; rows report their median")
	quick := fs.Bool("quick", false, "short windows (100ms): every target still measured")
	jsonOut := fs.String("json", "", "write the results as JSON to this `file` (docs/bench-json.md)")
	plotDir := fs.String("plot", "", "write SVG and PNG charts into this `directory`")
	check := fs.Bool("check", false, "exit with status 1 when a measured target is missed")
	loadExecVMAs := fs.Int("loadexec-vmas", 120000, "anonymous VMAs of the loadexec workload's child (-workload loadexec)")
	from := fs.String("from", "", "measure nothing: print, -json and -plot the report in this `file` (a -json output), targets evaluated again")
	monitorOpts := monitorFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		// flag stops at the first non-flag: every flag after it would be
		// silently ignored.
		fmt.Fprintf(stderr, "specvma bench: unexpected argument %q: bench takes only flags (see specvma bench -h)\n", fs.Arg(0))
		return 2
	}
	plan, err := benchPlan(*tasks, *vmas, *rates, *workload, *strategy, *churn)
	if err == nil && *loadExecVMAs < 1 {
		err = fmt.Errorf("-loadexec-vmas: %d is not positive", *loadExecVMAs)
	}
	if err == nil {
		plan.Window, plan.Rounds = *duration, *count
		if *quick {
			plan.Window = 100 * time.Millisecond
		}
		err = plan.Validate()
	}
	mo, merr := monitorOpts(*quick, plan.Rounds)
	err = errors.Join(err, merr)
	if err != nil {
		fmt.Fprintf(stderr, "specvma bench: %s\n", strings.ReplaceAll(err.Error(), "\n", "\nspecvma bench: "))
		return 2
	}
	// Check the outputs before a minute of measuring, not after.
	if *jsonOut != "" {
		if err := writableFile(*jsonOut); err != nil {
			fmt.Fprintf(stderr, "specvma bench: -json: %v\n", err)
			return 2
		}
	}
	if *plotDir != "" {
		if err := writableDir(*plotDir); err != nil {
			fmt.Fprintf(stderr, "specvma bench: -plot: %v\n", err)
			return 2
		}
	}
	var rep *bench.Report
	if *from != "" {
		var err error
		if rep, err = bench.ReadJSON(*from); err != nil {
			fmt.Fprintf(stderr, "specvma bench: -from: %v\n", err)
			return 2
		}
		rep.Targets = rep.EvalTargets()
		fmt.Fprintf(stdout, "specvma bench: %s, %d CPUs: the report in %s (median of each row's windows)\n\n", rep.Go, rep.CPUs, *from)
	} else {
		var code int
		if rep, code = measure(plan, mo, *loadExecVMAs, stderr); code != 0 {
			return code
		}
		fmt.Fprintf(stdout, "specvma bench: %s, %d CPUs, %d round(s) of one %v window per row, interleaved (median shown)\n\n",
			rep.Go, rep.CPUs, plan.Rounds, plan.Window)
	}
	if len(rep.Results) > 0 {
		rep.WriteTable(stdout)
		rep.WriteTargets(stdout)
	}
	if rep.Live != nil {
		fmt.Fprintln(stdout, "\nlive: one live process's addresses resolved three ways")
		rep.Live.WriteTable(stdout)
	}
	if rep.Monitor != nil {
		fmt.Fprintln(stdout, "\nmonitor: a writer's mmap/munmap latency while monitors read the whole maps")
		rep.Monitor.WriteTable(stdout)
	}
	if rep.LoadExec != nil {
		fmt.Fprintln(stdout, "\nloadexec: the executable file mappings of a live process, by maps text and by PROCMAP_QUERY")
		rep.LoadExec.WriteTable(stdout)
	}
	if len(rep.Results) == 0 {
		// The uprobe table printed none of the targets: print the ones
		// this run measured (the monitor's and loadexec's, for two).
		measured := *rep
		measured.Targets = nil
		for _, t := range rep.Targets {
			if t.Measured {
				measured.Targets = append(measured.Targets, t)
			}
		}
		if len(measured.Targets) > 0 {
			measured.WriteTargets(stdout)
		}
	}
	if *jsonOut != "" {
		if err := writeFileAtomic(*jsonOut, rep.JSON); err != nil {
			fmt.Fprintln(stderr, "specvma bench: -json:", err)
			return 1
		}
	}
	if *plotDir != "" {
		files, err := rep.Plot(*plotDir)
		if err != nil {
			fmt.Fprintln(stderr, "specvma bench: -plot:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\ncharts: %s\n", strings.Join(files, " "))
	}
	return checkStatus(rep, *check, stderr)
}

// checkStatus is bench's exit status once the report is written: 1 when
// check is set and a measured target was missed, 0 otherwise.
func checkStatus(rep *bench.Report, check bool, stderr io.Writer) int {
	if n := rep.MissedTargets(); n > 0 && check {
		fmt.Fprintf(stderr, "specvma bench: -check: %d target(s) MISSED\n", n)
		return 1
	}
	return 0
}

// benchPlan builds the plan the list flags describe.
func benchPlan(tasks, vmas, rates, workload, strategy, churn string) (p bench.Plan, err error) {
	for _, f := range []struct {
		name, val string
		dst       *[]int
	}{{"-tasks", tasks, &p.Tasks}, {"-vmas", vmas, &p.VMAs}, {"-rate", rates, &p.Rates}} {
		if *f.dst, err = ints(f.val); err != nil {
			return p, fmt.Errorf("%s: %v", f.name, err)
		}
	}
	if p.Workloads, err = bench.ParseWorkloads(workload); err != nil {
		return p, fmt.Errorf("-workload: %v", err)
	}
	if p.Strategies, err = bench.ParseStrategies(strategy); err != nil {
		return p, fmt.Errorf("-strategy: %v", err)
	}
	if p.Churns, err = bench.ParseChurns(churn); err != nil {
		return p, fmt.Errorf("-churn: %v", err)
	}
	return p, nil
}

// measure runs the plan's rows and, if planned, the live workload. Progress
// goes to stderr: a bar on a terminal, otherwise one line per finished
// round of rows.
func measure(plan bench.Plan, mo bench.MonitorOptions, loadExecVMAs int, stderr io.Writer) (*bench.Report, int) {
	rep := bench.NewReport()
	rows := plan.Rows()
	steps := len(rows) * plan.Rounds
	if plan.Live() {
		steps++
	}
	if plan.Monitor() {
		steps++
	}
	if plan.LoadExec() {
		steps++
	}
	bar := newProgress(stderr, steps)
	start := time.Now()
	done := 0
	progress := func(r bench.Row) {
		done++
		if bar != nil {
			bar.Describe(r.String())
			bar.Add(1)
		} else if done%len(rows) == 0 {
			fmt.Fprintf(stderr, "specvma bench: round %d of %d done: %d rows, %s elapsed\n",
				done/len(rows), plan.Rounds, len(rows), time.Since(start).Round(time.Second))
		}
	}
	if len(rows) > 0 {
		res, err := bench.RunAll(rows, plan.Window, plan.Rounds, progress)
		if err != nil {
			fmt.Fprintln(stderr, "specvma bench:", err)
			return nil, 1
		}
		rep.Results = res
	}
	if plan.Live() {
		if bar != nil {
			bar.Describe("live: model vs PROCMAP_QUERY vs maps text")
		}
		live, err := bench.RunLive(bench.LiveOptions{Duration: 3 * plan.Window})
		switch {
		case bar != nil:
			bar.Add(1)
		case err == nil:
			fmt.Fprintf(stderr, "specvma bench: live workload done, %s elapsed\n", time.Since(start).Round(time.Second))
		}
		if err != nil {
			fmt.Fprintln(stderr, "specvma bench: live workload skipped:", err)
		} else {
			rep.Live = &live
		}
	}
	if plan.Monitor() {
		if bar != nil {
			bar.Describe("monitor: maps readers against an mmap/munmap writer")
		}
		rep.Monitor = runMonitor(mo, stderr)
		if bar != nil {
			bar.Add(1)
		}
	}
	if plan.LoadExec() {
		res, err := runLoadExec(plan, loadExecVMAs, bar, stderr)
		if bar != nil {
			bar.Add(1)
		}
		if err != nil {
			fmt.Fprintln(stderr, "specvma bench: loadexec workload failed:", err)
			return nil, 1
		}
		rep.LoadExec = res
	}
	rep.Targets = rep.EvalTargets()
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stderr)
	}
	return rep, 0
}

// writableFile checks that path can be written: its directory exists and
// takes new files, and path is not a directory.
func writableFile(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return probeDir(filepath.Dir(path))
}

// writableDir creates dir if needed and checks that it takes new files.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return probeDir(dir)
}

func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".specvma-probe-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("cannot write into %s: %v", dir, pe.Err)
		}
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeFileAtomic writes what content returns to path through a temporary
// file and a rename, so that a reader never sees half a file.
func writeFileAtomic(path string, content func() ([]byte, error)) error {
	b, err := content()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".specvma-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// newProgress returns a progress bar on stderr when it is a terminal and
// this is not CI; nil otherwise.
func newProgress(w io.Writer, n int) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("CI") != "" {
		return nil
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(f), progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30), progressbar.OptionSetPredictTime(true))
}

func ints(s string) ([]int, error) {
	var out []int
	for _, w := range strings.Split(s, ",") {
		if w = strings.TrimSpace(w); w == "" {
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", w)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}
