package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
)

// Report is a whole run, in the "Bench JSON" format of DESIGN.md.
type Report struct {
	Go      string      `json:"go"`
	CPUs    int         `json:"cpus"`
	Results []Result    `json:"results"`
	Live    *LiveResult `json:"live,omitempty"`
}

// NewReport starts a report for this machine.
func NewReport() *Report { return &Report{Go: runtime.Version(), CPUs: runtime.NumCPU()} }

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON loads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// WriteTable prints the results as an aligned table.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-13s %-16s %5s %6s %-9s %7s %10s %9s %7s %6s %-26s %9s %9s %9s\n",
		"workload", "strategy", "tasks", "vmas", "churn", "rate/s", "hits/s", "per task", "ns/hit",
		"fast%", "fallbacks", "allocs/hit", "wr ops/s", "wr p50/p99")
	for _, x := range r.Results {
		wr, lat := "-", "-"
		if x.WriterOps > 0 {
			wr = si(x.WriterOps)
			lat = dur(x.WriterP50) + "/" + dur(x.WriterP99)
		}
		rate := "-"
		if x.ChurnRate > 0 {
			rate = si(float64(x.ChurnRate))
		}
		fmt.Fprintf(w, "%-13s %-16s %5d %6s %-9s %7s %10s %9s %7.1f %6.1f %-26s %9.2f %9s %9s\n",
			x.Workload, x.Strategy, x.Tasks, si(float64(x.VMAs)), x.Churn, rate,
			si(x.HitsPerSec), si(x.PerTask), x.NsPerHit, x.FastPathPct, fallbacks(x.Fallbacks),
			x.AllocsPerHit, wr, lat)
	}
}

func fallbacks(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + si(float64(m[k]))
	}
	return strings.Join(parts, ",")
}

// si prints a number with an SI suffix: 2.27M.
func si(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.3gG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.3gM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.3gk", x/1e3)
	}
	return fmt.Sprintf("%.3g", x)
}

func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.3gms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3gµs", ns/1e3)
	}
	return fmt.Sprintf("%.0fns", ns)
}

// Find returns the result for a row, if measured.
func (r *Report) Find(workload, strategy string, tasks, vmas int, churn string, rate int) (Result, bool) {
	for _, x := range r.Results {
		if x.Workload == workload && x.Strategy == strategy && x.Tasks == tasks &&
			x.VMAs == vmas && x.Churn == churn && x.ChurnRate == rate {
			return x, true
		}
	}
	return Result{}, false
}
