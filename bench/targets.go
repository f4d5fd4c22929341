package bench

import (
	"fmt"
	"io"
)

// Target is one of the project's performance targets, evaluated on a
// report: Value compared with Limit by Cmp.
type Target struct {
	Name     string  `json:"name"`     // what is measured, e.g. "mmseq 2-task / 1-task throughput"
	Value    float64 `json:"value"`    // the measured figure, in Unit
	Unit     string  `json:"unit"`     // "x" (a ratio), "%" or "allocs/hit"
	Cmp      string  `json:"cmp"`      // ">=", "<=" or "==", or "" for a figure only reported
	Limit    float64 `json:"limit"`    // what Value is compared with
	Measured bool    `json:"measured"` // false: the run lacked the rows; Value and Met mean nothing
	Met      bool    `json:"met"`      // Measured, and Value Cmp Limit holds (always, with no Cmp)
}

// Missed reports whether the target was measured and not met.
func (t Target) Missed() bool { return t.Measured && !t.Met }

func (t Target) figure() string {
	switch t.Unit {
	case "%":
		return pct(t.Value) + "%"
	case "x":
		return fmt.Sprintf("%.2fx", t.Value)
	}
	return fmt.Sprintf("%.3g", t.Value)
}

func (t Target) limit() string {
	if t.Cmp == "" {
		return "(reported)"
	}
	switch t.Unit {
	case "%":
		return fmt.Sprintf("%s %g%%", t.Cmp, t.Limit)
	case "x":
		return fmt.Sprintf("%s %gx", t.Cmp, t.Limit)
	}
	return fmt.Sprintf("%s %g", t.Cmp, t.Limit)
}

// target builds a Target; measured is false when the rows were missing.
func target(name string, v float64, unit, cmp string, limit float64, measured bool) Target {
	t := Target{Name: name, Value: v, Unit: unit, Cmp: cmp, Limit: limit, Measured: measured}
	if measured {
		switch cmp {
		case ">=":
			t.Met = v >= limit
		case "<=":
			t.Met = v <= limit
		case "==":
			t.Met = v == limit
		default:
			t.Met = true
		}
	} else {
		t.Value = 0
	}
	return t
}

// EvalTargets evaluates the targets on the rows the report has. Every
// ratio is of two rows measured side by side in the same run, window by
// window (pairedRatio).
func (r *Report) EvalTargets() []Target {
	var out []Target
	// ratio adds a's throughput over b's.
	ratio := func(name string, a, b Row, cmp string, limit float64) {
		x, okA := r.Find(a)
		y, okB := r.Find(b)
		ok := okA && okB && y.HitsPerSec > 0
		v := 0.0
		if ok {
			v = pairedRatio(x, y)
		}
		out = append(out, target(name, v, "x", cmp, limit, ok))
	}
	nop := func(s Strategy, tasks, vmas int) Row { return Row{UprobeNop, s, tasks, vmas, NoChurn, 0} }
	for _, s := range []Strategy{MMSeq, VMASeq} {
		ratio(s.String()+" 2-task / 1-task throughput", nop(s, 2, 1000), nop(s, 1, 1000), ">=", 1.8)
	}
	ratio("locked 2-task / 1-task throughput", nop(Locked, 2, 1000), nop(Locked, 1, 1000), "<=", 1.2)
	for _, s := range []Strategy{MMSeq, VMASeq} {
		// cost ratio = unsync throughput / strategy throughput
		ratio(s.String()+" cost per hit at 1 task / unsync's", nop(Unsync, 1, 1000), nop(s, 1, 1000), "<=", 1.5)
	}
	for _, x := range r.Results {
		if x.Churn == Unrelated && (x.Strategy == VMASeq || x.Strategy == MMSeq) {
			name := fmt.Sprintf("%s fast path under unrelated churn at %s/s", x.Strategy, si(float64(x.Rate)))
			if x.Strategy == VMASeq {
				out = append(out, target(name, x.FastPathPct, "%", ">=", 99, true))
			} else {
				out = append(out, target(name, x.FastPathPct, "%", "", 0, true))
			}
		}
	}
	for _, s := range Core {
		ratio(s.String()+" cost per hit at 100k VMAs / at 16", nop(s, 1, 16), nop(s, 1, 100000), "<=", 2.5)
	}
	worst, known := 0.0, false
	for _, x := range r.Results {
		if (x.Strategy == MMSeq || x.Strategy == VMASeq || x.Strategy == VMALock) && x.Churn == NoChurn {
			worst, known = max(worst, x.AllocsPerHit), true
		}
	}
	out = append(out, target("allocations per hit on the fast path (worst row)", worst, "allocs/hit", "==", 0, known))
	churnT := maxChurnTasks(r)
	for _, rate := range []int{1000, 100000} {
		lk, ok1 := r.Find(Row{UprobeNop, Locked, churnT, 1000, Unrelated, rate})
		for _, s := range []Strategy{MMSeq, VMASeq} {
			x, ok2 := r.Find(Row{UprobeNop, s, churnT, 1000, Unrelated, rate})
			ok := ok1 && ok2 && lk.WriterP50 > 0
			v := 0.0
			if ok {
				v = x.WriterP50 / lk.WriterP50
			}
			out = append(out, target(fmt.Sprintf("mmap/munmap p50 with %s readers / with locked readers (%s/s)", s, si(float64(rate))),
				v, "x", "<=", 1.5, ok))
		}
	}
	if m := r.Monitor; m != nil {
		// The kernel's figure: the writer's maximum latency about ten
		// times lower with per-VMA maps reading than under the mmap lock,
		// in the test's arrangement (low-priority monitors preempted by
		// busy tasks). The plain setting and the live kernel's rows are
		// reported beside it.
		where := "arranged"
		if m.Arrangement.Plain {
			where = "plain"
		}
		v, ok := m.MaxRatio("vmalock", "locked")
		out = append(out, target("writer max with vmalock monitors / with locked monitors ("+where+")", v, "x", "<=", 0.1, ok))
		v, ok = m.MaxRatio("snapshot", "locked")
		out = append(out, target("writer max with snapshot monitors / with locked monitors ("+where+")", v, "x", "", 0, ok))
		for _, f := range []string{"maps", "query"} {
			v, ok = m.LiveMaxRatio(f, "smaps")
			out = append(out, target("live: writer max with "+f+" monitors / with smaps monitors ("+where+")", v, "x", "", 0, ok))
		}
		if m.Plain != nil {
			v, ok = maxRatio(m.Plain.Rows, "vmalock", "locked")
			out = append(out, target("writer max with vmalock monitors / with locked monitors (plain)", v, "x", "", 0, ok))
		}
	}
	if r.LoadExec != nil {
		out = append(out, r.LoadExec.targets()...)
	}
	return out
}

// pairedRatio is a's throughput over b's: the median of the ratios of
// windows measured in the same round (RunAll interleaves rows), which
// cancels what the machine did round by round; the ratio of medians when
// the rows have different window counts.
func pairedRatio(a, b Result) float64 {
	if len(a.Runs) == 0 || len(a.Runs) != len(b.Runs) {
		return a.HitsPerSec / b.HitsPerSec
	}
	rs := make([]float64, len(a.Runs))
	for i := range a.Runs {
		rs[i] = a.Runs[i] / b.Runs[i]
	}
	return median(rs)
}

func maxChurnTasks(r *Report) int {
	t := 0
	for _, x := range r.Results {
		if x.Churn != NoChurn {
			t = max(t, x.Tasks)
		}
	}
	return t
}

// MissedTargets counts the targets measured and not met.
func (r *Report) MissedTargets() int {
	n := 0
	for _, t := range r.Targets {
		if t.Missed() {
			n++
		}
	}
	return n
}

// WriteTargets prints the report's targets and how this run did.
func (r *Report) WriteTargets(w io.Writer) {
	fmt.Fprintln(w, "\nTargets (ratios of rows measured side by side in this run):")
	rows := [][]string{}
	for _, t := range r.Targets {
		status, fig := "ok", t.figure()
		switch {
		case !t.Measured:
			status, fig = "n/a", "not measured in this run"
		case !t.Met:
			status = "MISSED"
		}
		rows = append(rows, []string{status, t.Name, t.limit(), fig})
	}
	writeAligned(w, "  ", nil, rows, "llll")
}
