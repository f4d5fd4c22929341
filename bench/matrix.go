package bench

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Plan selects the rows of a run and how long each is measured.
type Plan struct {
	Tasks      []int
	Workloads  []Workload // empty: all
	Strategies []Strategy // empty: all
	Churns     []Churn    // empty: all
	VMAs       []int
	Rates      []int
	Window     time.Duration // one measurement window
	Rounds     int           // windows per row, interleaved across rows
}

// DefaultPlan is `specvma bench` with no flags.
func DefaultPlan() Plan {
	return Plan{Tasks: []int{1, 2}, VMAs: []int{16, 1000, 100000}, Rates: []int{1000, 100000},
		Window: 200 * time.Millisecond, Rounds: 5}
}

// Validate reports every reason the plan cannot run: a count, size, rate,
// window or round count that is not positive, an address space too small
// for the bench, or filters that leave nothing to run.
func (p Plan) Validate() error {
	var errs []error
	positive := func(what string, xs []int, least int) {
		if len(xs) == 0 {
			errs = append(errs, fmt.Errorf("%s: empty list", what))
		}
		for _, x := range xs {
			if x < least {
				errs = append(errs, fmt.Errorf("%s: %d is less than %d", what, x, least))
			}
		}
	}
	positive("tasks", p.Tasks, 1)
	positive("vmas", p.VMAs, 2) // the probed VMA and the one the same-vma writer splits
	positive("rate", p.Rates, 1)
	if p.Window <= 0 {
		errs = append(errs, fmt.Errorf("duration: %v is not positive", p.Window))
	}
	if p.Rounds < 1 {
		errs = append(errs, fmt.Errorf("count: %d is less than 1", p.Rounds))
	}
	if len(errs) == 0 && len(p.Rows()) == 0 && !p.Live() && !p.Monitor() && !p.LoadExec() {
		errs = append(errs, errors.New("the filters leave no rows to run"))
	}
	return errors.Join(errs...)
}

// Live reports whether the plan runs the live workload: when it is asked
// for, or when nothing is filtered (it has no strategies or churn).
func (p Plan) Live() bool {
	if len(p.Workloads) == 0 {
		return len(p.Strategies) == 0 && len(p.Churns) == 0
	}
	return slices.Contains(p.Workloads, Live)
}

func want[T comparable](list []T, x T) bool { return len(list) == 0 || slices.Contains(list, x) }

// Rows expands the plan into rows:
//   - scaling: every strategy and baseline at each task count, 1k VMAs, no
//     churn (unsync at one task only);
//   - uretprobe-nop: the four strategies at each task count;
//   - churn: the four strategies under each churn kind and rate, and the
//     RWMutex baselines under unrelated churn, with one CPU left for the
//     writer;
//   - size: the strategies and unsync at one task for each VMA count.
//
// Rows that a target compares are next to each other (a strategy's task
// counts, unsync beside the speculative strategies), so that a noisy
// machine disturbs both sides of a ratio alike.
func (p Plan) Rows() []Row {
	maxT := 1
	for _, t := range p.Tasks {
		maxT = max(maxT, t)
	}
	// The writer needs a CPU of its own, as it has in the kernel's runs.
	churnT := max(1, min(maxT, runtime.NumCPU()-1))
	var rows []Row
	seen := map[Row]bool{}
	add := func(r Row) {
		if !want(p.Workloads, r.Workload) || !want(p.Strategies, r.Strategy) ||
			!want(p.Churns, r.Churn) || seen[r] || r.Validate() != nil {
			return
		}
		seen[r] = true
		rows = append(rows, r)
	}
	for _, s := range []Strategy{MMSeq, Unsync, VMASeq, Locked, VMALock, RWMutexBTree, RWMutexSnapshot} {
		for _, t := range p.Tasks {
			add(Row{UprobeNop, s, t, 1000, NoChurn, 0})
		}
	}
	for _, s := range Core {
		for _, t := range p.Tasks {
			add(Row{UretprobeNop, s, t, 1000, NoChurn, 0})
		}
	}
	for _, c := range []Churn{Unrelated, SameVMA, Probes} {
		for _, rate := range p.Rates {
			for _, s := range Core {
				add(Row{UprobeNop, s, churnT, 1000, c, rate})
			}
		}
	}
	for _, rate := range p.Rates {
		for _, s := range []Strategy{RWMutexBTree, RWMutexSnapshot} {
			add(Row{UprobeNop, s, churnT, 1000, Unrelated, rate})
		}
	}
	for _, s := range append(slices.Clone(Core), Unsync) {
		for _, v := range p.VMAs {
			add(Row{UprobeNop, s, 1, v, NoChurn, 0})
		}
	}
	return rows
}

// Help describes the workloads, strategies, churn kinds and the table's
// columns, for -h.
func Help() string {
	var b strings.Builder
	list := func(title string, table []named) {
		b.WriteString(title + "\n")
		for _, n := range table {
			fmt.Fprintf(&b, "  %-16s %s\n", n.Name, n.Doc)
		}
	}
	list("Workloads:", Workloads)
	list("Strategies and baselines:", Strategies)
	list("Churn (a writer at a given rate, -churn and -rate):", Churns)
	b.WriteString("Address-space sizes: -vmas (default 16,1000,100000)\n")
	b.WriteString(ColumnHelp)
	return b.String()
}
