package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"specvma/bench"
)

var benchCommand = command{name: "bench", summary: "the uprobe scalability experiment (the main job)", run: runBench}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr, "usage: specvma bench [flags]\n\n"+
		"Reproduces the uprobe scalability experiment (bench trig-uprobe-nop) in the model.\n\n"+bench.Help())
	plan := bench.DefaultPlan()
	tasks := fs.String("tasks", "1,2", "task counts, comma-separated")
	vmas := fs.String("vmas", "16,1000,100000", "address-space sizes (VMAs) for the size rows")
	rates := fs.String("rate", "1000,100000", "churn rates (writer operations per second)")
	workload := fs.String("workload", "", "only these workloads (comma-separated)")
	strategy := fs.String("strategy", "", "only these strategies or baselines (comma-separated)")
	churn := fs.String("churn", "", "only these churn kinds (comma-separated)")
	duration := fs.Duration("duration", 200*time.Millisecond, "length of one measurement window")
	count := fs.Int("count", 5, "rounds: windows per row, interleaved across rows; rows report their median")
	quick := fs.Bool("quick", false, "short windows (100ms): every target still measured")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	plotDir := fs.String("plot", "", "write SVG and PNG charts into this directory")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	var err error
	if plan.Tasks, err = ints(*tasks); err != nil {
		fmt.Fprintln(stderr, "specvma bench: -tasks:", err)
		return 2
	}
	if plan.VMAs, err = ints(*vmas); err != nil {
		fmt.Fprintln(stderr, "specvma bench: -vmas:", err)
		return 2
	}
	if plan.Rates, err = ints(*rates); err != nil {
		fmt.Fprintln(stderr, "specvma bench: -rate:", err)
		return 2
	}
	plan.Workloads, plan.Strategies, plan.Churns = words(*workload), words(*strategy), words(*churn)
	if *quick {
		*duration = 100 * time.Millisecond
	}
	if *count < 1 || *duration <= 0 {
		fmt.Fprintln(stderr, "specvma bench: -count and -duration must be positive")
		return 2
	}
	if err := checkNames(plan); err != nil {
		fmt.Fprintln(stderr, "specvma bench:", err)
		return 2
	}
	rows := plan.Rows()
	// The live workload has no strategies or churn: it runs when asked for,
	// or in a run that filters nothing.
	wantLive := len(plan.Workloads) == 0 && len(plan.Strategies) == 0 && len(plan.Churns) == 0
	for _, w := range plan.Workloads {
		wantLive = wantLive || w == "live"
	}
	if len(rows) == 0 && !wantLive {
		fmt.Fprintln(stderr, "specvma bench: the filters leave no rows to run")
		return 2
	}
	for _, r := range rows {
		if r.VMAs < 2 {
			fmt.Fprintln(stderr, "specvma bench: -vmas: each size must be at least 2")
			return 2
		}
	}
	rep := bench.NewReport()
	steps := len(rows) * *count
	if wantLive {
		steps++
	}
	bar := newProgress(stderr, steps)
	var progress func(bench.Row)
	if bar != nil {
		progress = func(r bench.Row) {
			bar.Describe(fmt.Sprintf("%s %s x%d %s", r.Workload, r.Strategy, r.Tasks, r.Churn))
			bar.Add(1)
		}
	}
	if len(rows) > 0 {
		res, err := bench.RunAll(rows, *duration, *count, progress)
		if err != nil {
			fmt.Fprintln(stderr, "specvma bench:", err)
			return 1
		}
		rep.Results = res
	}
	var liveErr error
	if wantLive {
		if bar != nil {
			bar.Describe("live: model vs PROCMAP_QUERY vs maps text")
		}
		live, err := bench.RunLive(bench.LiveOptions{Duration: 3 * *duration})
		if bar != nil {
			bar.Add(1)
		}
		if err != nil {
			liveErr = err
		} else {
			rep.Live = &live
		}
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "specvma bench: %s, %d CPUs, %d rounds of one %v window per row, interleaved (median shown)\n\n",
		rep.Go, rep.CPUs, *count, *duration)
	if len(rep.Results) > 0 {
		rep.WriteTable(stdout)
		rep.WriteChecks(stdout)
	}
	switch {
	case rep.Live != nil:
		fmt.Fprintln(stdout, "\nlive: one live process's addresses resolved three ways")
		rep.Live.WriteTable(stdout)
	case liveErr != nil:
		fmt.Fprintln(stdout, "\nlive: skipped:", liveErr)
	}
	if *jsonOut != "" {
		if err := rep.WriteJSON(*jsonOut); err != nil {
			fmt.Fprintln(stderr, "specvma bench:", err)
			return 1
		}
	}
	if *plotDir != "" {
		files, err := rep.Plot(*plotDir)
		if err != nil {
			fmt.Fprintln(stderr, "specvma bench: plot:", err)
			return 1
		}
		fmt.Fprintf(stdout, "\ncharts: %s\n", strings.Join(files, " "))
	}
	return 0
}

// checkNames rejects unknown workload, strategy and churn names.
func checkNames(p bench.Plan) error {
	known := map[string]bool{}
	for _, w := range bench.Workloads {
		known["workload "+w.Name] = true
	}
	for _, s := range bench.Strategies {
		known["strategy "+s.Name] = true
	}
	for _, c := range bench.Churns {
		known["churn "+c] = true
	}
	for kind, names := range map[string][]string{"workload": p.Workloads, "strategy": p.Strategies, "churn": p.Churns} {
		for _, n := range names {
			if !known[kind+" "+n] {
				return fmt.Errorf("unknown %s %q (see specvma bench -h)", kind, n)
			}
		}
	}
	return nil
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
	for _, w := range words(s) {
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

func words(s string) []string {
	var out []string
	for _, w := range strings.Split(s, ",") {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}
