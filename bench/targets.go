package bench

import (
	"fmt"
	"io"
)

// Check is one of the project's performance targets, evaluated on a report.
type Check struct {
	Name     string
	Measured string
	OK       bool
	Known    bool // false when the run lacked the rows to evaluate it
}

// Checks evaluates the targets on the rows the report has. Every figure is
// a ratio of two rows measured side by side in the same run, window by
// window (pairedRatio).
func (r *Report) Checks() []Check {
	var out []Check
	ratio := func(name string, a, b Result, okA, okB bool, pass func(float64) bool, unit string) {
		c := Check{Name: name}
		if okA && okB && b.HitsPerSec > 0 {
			x := pairedRatio(a, b)
			c.Measured, c.OK, c.Known = fmt.Sprintf("%.2f%s", x, unit), pass(x), true
		}
		out = append(out, c)
	}
	maxT := 0
	for _, x := range r.Results {
		if x.Churn == "none" && x.VMAs == 1000 {
			maxT = max(maxT, x.Tasks)
		}
	}
	for _, s := range []string{"mmseq", "vmaseq", "locked"} {
		one, ok1 := r.Find("uprobe-nop", s, 1, 1000, "none", 0)
		two, ok2 := r.Find("uprobe-nop", s, 2, 1000, "none", 0)
		if s == "locked" {
			ratio("locked at 2 tasks <= 1.2x its 1-task throughput", two, one, ok2, ok1, func(x float64) bool { return x <= 1.2 }, "x")
		} else {
			ratio(s+" at 2 tasks >= 1.8x its 1-task throughput", two, one, ok2, ok1, func(x float64) bool { return x >= 1.8 }, "x")
		}
	}
	un, okU := r.Find("uprobe-nop", "unsync", 1, 1000, "none", 0)
	for _, s := range []string{"mmseq", "vmaseq"} {
		one, ok := r.Find("uprobe-nop", s, 1, 1000, "none", 0)
		// cost ratio = unsync throughput / strategy throughput
		ratio(s+" cost per hit at 1 task <= 1.5x unsync", un, one, okU, ok, func(x float64) bool { return x <= 1.5 }, "x")
	}
	for _, x := range r.Results {
		if x.Churn == "unrelated" && (x.Strategy == "vmaseq" || x.Strategy == "mmseq") {
			c := Check{Name: fmt.Sprintf("%s fast path under unrelated churn at %s/s", x.Strategy, si(float64(x.ChurnRate))),
				Measured: fmt.Sprintf("%.2f%%", x.FastPathPct), Known: true}
			c.OK = x.Strategy == "mmseq" || x.FastPathPct >= 99
			if x.Strategy == "vmaseq" {
				c.Name += " >= 99%"
			} else {
				c.Name += " (reported)"
			}
			out = append(out, c)
		}
	}
	for _, s := range []string{"mmseq", "vmaseq", "vmalock", "locked"} {
		small, ok1 := r.Find("uprobe-nop", s, 1, 16, "none", 0)
		big, ok2 := r.Find("uprobe-nop", s, 1, 100000, "none", 0)
		ratio(s+" cost per hit at 100k VMAs <= 2.5x at 16", small, big, ok1, ok2, func(x float64) bool { return x <= 2.5 }, "x")
	}
	worst, known := 0.0, false
	for _, x := range r.Results {
		if x.Strategy == "mmseq" || x.Strategy == "vmaseq" || x.Strategy == "vmalock" {
			if x.Churn == "none" {
				worst, known = max(worst, x.AllocsPerHit), true
			}
		}
	}
	out = append(out, Check{Name: "allocations per hit on the fast path == 0",
		Measured: fmt.Sprintf("%.3g", worst), OK: worst == 0, Known: known})
	for _, rate := range []int{1000, 100000} {
		lk, ok1 := r.Find("uprobe-nop", "locked", maxChurnTasks(r), 1000, "unrelated", rate)
		for _, s := range []string{"mmseq", "vmaseq"} {
			x, ok2 := r.Find("uprobe-nop", s, maxChurnTasks(r), 1000, "unrelated", rate)
			c := Check{Name: fmt.Sprintf("mmap/munmap p50 with %s readers <= 1.5x with locked readers (%s/s)", s, si(float64(rate)))}
			if ok1 && ok2 && lk.WriterP50 > 0 {
				v := x.WriterP50 / lk.WriterP50
				c.Measured, c.OK, c.Known = fmt.Sprintf("%.2fx", v), v <= 1.5, true
			}
			out = append(out, c)
		}
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
		if x.Churn != "none" {
			t = max(t, x.Tasks)
		}
	}
	return t
}

// WriteChecks prints the targets and how this run did.
func (r *Report) WriteChecks(w io.Writer) {
	fmt.Fprintln(w, "\nTargets (ratios of rows measured side by side in this run):")
	for _, c := range r.Checks() {
		status := "ok"
		switch {
		case !c.Known:
			status, c.Measured = "n/a", "not measured in this run"
		case !c.OK:
			status = "MISSED"
		}
		fmt.Fprintf(w, "  %-6s %-72s %s\n", status, c.Name, c.Measured)
	}
}
