package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"
)

// Report is a whole run. Its JSON form is documented key by key in
// docs/bench-json.md.
type Report struct {
	Go      string         `json:"go"`
	CPUs    int            `json:"cpus"`
	Results []Result       `json:"results"`
	Targets []Target       `json:"targets"`
	Live    *LiveResult    `json:"live,omitempty"`
	Monitor *MonitorResult `json:"monitor,omitempty"`
	// LoadExec is the loadexec workload (loadexec.go), absent when it did
	// not run.
	LoadExec *LoadExecResult `json:"loadexec,omitempty"`
}

// NewReport starts a report for this machine.
func NewReport() *Report {
	return &Report{Go: runtime.Version(), CPUs: runtime.NumCPU(), Results: []Result{}, Targets: []Target{}}
}

// JSON returns the report as WriteJSON writes it.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := r.JSON()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
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

// Find returns the result measured for a row.
func (r *Report) Find(row Row) (Result, bool) {
	for _, x := range r.Results {
		if x.Row == row {
			return x, true
		}
	}
	return Result{}, false
}

// ColumnHelp explains the table's columns, for -h.
const ColumnHelp = `Columns of the table:
  tasks            tasks hitting the probe at once (goroutines, one per CPU without churn)
  vmas             VMAs in the address space
  churn, rate/s    what the writer does, and the operations per second it aims at
  hits/s           probe hits per second, all tasks together: the median of the row's windows
  per task         hits/s divided by tasks
  ns/hit           nanoseconds one task spends per hit (1e9 / per task)
  fast%            hits whose address was resolved without the address space's lock
                   (the mmap lock; the RWMutex of the rwmutex-* baselines): 0 for locked
                   and rwmutex-*, which take it on every hit, 100 for unsync, which has none;
                   rounded down, so only a row with no fallback at all shows 100
  fallbacks        why lockless lookups took the mmap lock after all, with counts over all
                   windows: seq_busy (a writer held it), seq_changed (the mm count moved),
                   vma_locked, vma_changed (the VMA was write-locked, changed or reused),
                   no_vma, no_file, miss (the speculative read found nothing)
  allocs/hit       heap allocations per hit on one task (the least of three windows)
  wr ops/s         the writer's completed operations per second of measured time
  wr p50/p99       the median and 99th-percentile time of one writer operation
Numbers use SI suffixes: 23.1M is 23.1 million.
`

// WriteTable prints the results as a table whose columns are as wide as
// their widest cell.
func (r *Report) WriteTable(w io.Writer) {
	header := []string{"workload", "strategy", "tasks", "vmas", "churn", "rate/s", "hits/s", "per task",
		"ns/hit", "fast%", "fallbacks", "allocs/hit", "wr ops/s", "wr p50/p99"}
	var rows [][]string
	for _, x := range r.Results {
		wr, lat := "-", "-"
		if x.WriterOps > 0 {
			wr = si(x.WriterOps)
			lat = dur(x.WriterP50) + "/" + dur(x.WriterP99)
		}
		rate := "-"
		if x.Rate > 0 {
			rate = si(float64(x.Rate))
		}
		rows = append(rows, []string{x.Workload.String(), x.Strategy.String(), fmt.Sprint(x.Tasks),
			si(float64(x.VMAs)), x.Churn.String(), rate, si(x.HitsPerSec), si(x.PerTask),
			fmt.Sprintf("%.1f", x.NsPerHit), pct(x.FastPathPct), fallbacks(x.Fallbacks),
			fmt.Sprintf("%.2f", x.AllocsPerHit), wr, lat})
	}
	writeAligned(w, "", header, rows, "llrrlrrrrrlrrr")
}

// writeAligned prints rows (after header, if any) in columns as wide as
// their widest cell; align has 'l' or 'r' per column.
func writeAligned(w io.Writer, indent string, header []string, rows [][]string, align string) {
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	width := make([]int, len(align))
	for _, row := range all {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range all {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteByte(' ')
			}
			if align[i] == 'r' {
				b.WriteString(pad + c)
			} else if i < len(row)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// pct prints a percentage rounded down to two decimals, so that only a
// row with no fallback at all shows 100; 0 and 100 print bare.
func pct(x float64) string {
	switch x {
	case 100:
		return "100"
	case 0:
		return "0"
	}
	return fmt.Sprintf("%.2f", math.Floor(x*100)/100)
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
	case x >= 1e12:
		return fmt.Sprintf("%.3gT", x/1e12)
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
	case ns >= 1e9:
		return fmt.Sprintf("%.3gs", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.3gms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.3gµs", ns/1e3)
	}
	return fmt.Sprintf("%.0fns", ns)
}
