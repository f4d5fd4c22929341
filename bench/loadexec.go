package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// The loadexec workload: what a profiler or symbolizer pays to learn the
// executable file mappings of a process with very many VMAs (the issue's
// case: a V8 process with 128,198 mappings, re-read every few seconds). A
// C child maps LoadExecOptions.VMAs anonymous pages (no two merge) besides
// its program, libc and ld.so; the bench then loads its executable
// file-backed mappings as entries (procfs.LiveEntries with ExecOnly) two
// ways, side by side, run after run:
//
//   - text: read /proc/PID/maps and parse it, keeping the executable file
//     lines (the project's text loader);
//   - query: walk it with PROCMAP_QUERY asking only for executable
//     file-backed VMAs, which the kernel skips to.
//
// Both must give the same entries on every load. A third figure, read,
// times reading the text alone into a warm buffer without parsing it: the
// kernel's part of the text side, which no parser can go below.
//
// 100k+ VMAs need vm.max_map_count above its default of 65530: as root the
// workload raises it for the run and restores it afterwards (also when
// the run fails or is interrupted by SIGINT, SIGTERM or SIGHUP); without
// root it says what to run.

// LoadExecOptions configures RunLoadExec.
type LoadExecOptions struct {
	VMAs  int // anonymous VMAs the child maps (default 120000)
	Runs  int // runs, each timing every method (default 5)
	Loads int // loads per method per run, timed together (default 3)
	// Progress, if set, is told what the workload is doing: the child's
	// start, each finished run.
	Progress func(msg string)
	// Notice, if set, is told of every change to the system: the sysctl
	// raised, restored, or not restored and why. Default: Progress.
	Notice func(msg string)
}

func (o *LoadExecOptions) defaults() {
	if o.VMAs <= 0 {
		o.VMAs = 120000
	}
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.Loads <= 0 {
		o.Loads = 3
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.Notice == nil {
		o.Notice = o.Progress
	}
}

// LoadExecResult is a run of the loadexec workload. Durations are per
// load; the per-run lists are in run order (run i of every method ran
// side by side).
type LoadExecResult struct {
	VMAs      int             `json:"vmas"`      // anonymous VMAs the child mapped
	MapCount  int             `json:"map_count"` // lines of the child's maps text: all its VMAs
	Mappings  int             `json:"mappings"`  // executable file mappings each load returned
	Runs      int             `json:"runs"`
	Loads     int             `json:"loads"` // loads per method per run
	Text      time.Duration   `json:"text"`  // median over the runs
	Query     time.Duration   `json:"query"`
	Read      time.Duration   `json:"read"`
	TextRuns  []time.Duration `json:"text_runs"`
	QueryRuns []time.Duration `json:"query_runs"`
	ReadRuns  []time.Duration `json:"read_runs"`
	// MaxMapCount is vm.max_map_count during the run; RaisedFrom is its
	// value before, when the workload raised it (0 when it did not), and
	// Restored whether it was put back.
	MaxMapCount int  `json:"max_map_count"`
	RaisedFrom  int  `json:"max_map_count_raised_from"`
	Restored    bool `json:"max_map_count_restored"`
}

// ratio is the median over runs of a's time over b's, run by run.
func ratio(a, b []time.Duration) (float64, bool) {
	if len(a) == 0 || len(a) != len(b) {
		return 0, false
	}
	rs := make([]float64, len(a))
	for i := range a {
		if b[i] <= 0 {
			return 0, false
		}
		rs[i] = float64(a[i]) / float64(b[i])
	}
	return median(rs), true
}

// TextOverQuery is how many times longer the text load took than the
// PROCMAP_QUERY load: the median of the per-run ratios.
func (r *LoadExecResult) TextOverQuery() (float64, bool) { return ratio(r.TextRuns, r.QueryRuns) }

// ReadOverQuery is the same for reading the text alone: the most any text
// parser could gain on the query walk.
func (r *LoadExecResult) ReadOverQuery() (float64, bool) { return ratio(r.ReadRuns, r.QueryRuns) }

// medianDuration is the median of ds.
func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// WriteTable prints the result.
func (r *LoadExecResult) WriteTable(w io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
	runs := func(ds []time.Duration) string {
		s := ""
		for i, d := range ds {
			if i > 0 {
				s += " "
			}
			s += fmt.Sprintf("%.1f", float64(d)/1e6)
		}
		return s
	}
	rows := [][]string{
		{"text", ms(r.Text), runs(r.TextRuns), "read /proc/PID/maps and parse it, keeping the executable file lines"},
		{"query", ms(r.Query), runs(r.QueryRuns), "walk it with PROCMAP_QUERY for executable file-backed VMAs"},
		{"read", ms(r.Read), runs(r.ReadRuns), "read the text alone, not parsing it (the kernel's part of text)"},
	}
	writeAligned(w, "  ", []string{"method", "per load", "per run (ms)", "what it times"}, rows, "lrll")
	x, _ := r.TextOverQuery()
	y, _ := r.ReadOverQuery()
	fmt.Fprintf(w, "(%d executable file mappings of %d VMAs; medians of %d runs of %d loads per method, interleaved)\n",
		r.Mappings, r.MapCount, r.Runs, r.Loads)
	fmt.Fprintf(w, "text / query %.2fx; read alone / query %.2fx\n", x, y)
	switch {
	case r.RaisedFrom != 0 && r.Restored:
		fmt.Fprintf(w, "vm.max_map_count was raised from %d to %d for the run and restored\n", r.RaisedFrom, r.MaxMapCount)
	case r.RaisedFrom != 0:
		fmt.Fprintf(w, "vm.max_map_count was raised from %d to %d for the run and NOT restored (see the message above)\n", r.RaisedFrom, r.MaxMapCount)
	}
}

// targetVMAs is the size the target is stated for: a process with
// 100k+ mappings.
const targetVMAs = 100000

// targets are the workload's: the text load over the PROCMAP_QUERY load at
// least 10x (the target, for 100k+ VMAs; a smaller run only
// reports it), and the text read alone over the query load, reported.
func (r *LoadExecResult) targets() []Target {
	x, ok := r.TextOverQuery()
	cmp, limit := ">=", 10.0
	if r.VMAs < targetVMAs {
		cmp, limit = "", 0
	}
	y, ok2 := r.ReadOverQuery()
	return []Target{
		target(fmt.Sprintf("exec-only load of %d VMAs: maps text / PROCMAP_QUERY", r.VMAs), x, "x", cmp, limit, ok),
		target(fmt.Sprintf("exec-only load of %d VMAs: reading the text alone / PROCMAP_QUERY", r.VMAs), y, "x", "", 0, ok2),
	}
}

// LoadExec reports whether the plan runs the loadexec workload: only when
// asked for by name (it needs root or a raised vm.max_map_count, and
// starts a process with 120,000 VMAs).
func (p Plan) LoadExec() bool { return slices.Contains(p.Workloads, LoadExec) }
