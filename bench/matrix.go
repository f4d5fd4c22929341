package bench

import (
	"fmt"
	"runtime"
	"strings"
)

// Workloads lists the workloads with what they measure.
var Workloads = []struct{ Name, Doc string }{
	{"uprobe-nop", "T tasks in one address space hit a probed address in a loop (the kernel's trig-uprobe-nop)"},
	{"uretprobe-nop", "the same with a return probe: every hit also returns through it (trig-uretprobe-nop)"},
	{"live", "a live process the bench starts: its addresses resolved to (file, offset) through the model, through PROCMAP_QUERY and by parsing /proc/PID/maps text; cost per lookup, and whether all three agree"},
}

// Strategies lists the resolution strategies and baselines.
var Strategies = []struct{ Name, Doc string }{
	{"locked", "mmap read lock around the lookup (Linux before 6.14)"},
	{"mmseq", "mm-wide sequence speculation (Linux 6.14+: find_active_uprobe_speculative)"},
	{"vmaseq", "per-VMA vm_lock_seq validation (the review thread's alternative)"},
	{"vmalock", "per-VMA read lock, as the page-fault path (lock_vma_under_rcu)"},
	{"rwmutex-btree", "baseline: sync.RWMutex around a B-tree (gVisor)"},
	{"rwmutex-snapshot", "baseline: sorted slice republished under a sync.RWMutex (OpenTelemetry eBPF profiler)"},
	{"unsync", "baseline: one task, no synchronization: the lower bound"},
}

// Plan selects the rows of a run.
type Plan struct {
	Tasks      []int
	Workloads  []string // empty: all
	Strategies []string // empty: all
	Churns     []string // empty: all
	VMAs       []int
	Rates      []int
}

// DefaultPlan is `specvma bench` with no flags.
func DefaultPlan() Plan {
	return Plan{Tasks: []int{1, 2}, VMAs: []int{16, 1000, 100000}, Rates: []int{1000, 100000}}
}

func (p Plan) want(list []string, x string) bool {
	if len(list) == 0 {
		return true
	}
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// Rows expands the plan into rows:
//   - scaling: every strategy and baseline at each task count, 1k VMAs, no
//     churn (unsync at one task only);
//   - uretprobe-nop: the four strategies at each task count;
//   - churn: the four strategies under each churn kind and rate, and the
//     RWMutex baselines under unrelated churn, with one CPU left for the
//     writer;
//   - size: the strategies and unsync at one task for each VMA count.
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
		if !p.want(p.Workloads, r.Workload) || !p.want(p.Strategies, r.Strategy) ||
			!p.want(p.Churns, r.Churn) || seen[r] {
			return
		}
		seen[r] = true
		rows = append(rows, r)
	}
	// Rows that a target compares run next to each other (a strategy's task
	// counts, unsync beside the speculative strategies), so that a noisy
	// machine disturbs both sides of a ratio alike.
	core := []string{"locked", "mmseq", "vmaseq", "vmalock"}
	for _, s := range []string{"mmseq", "unsync", "vmaseq", "locked", "vmalock", "rwmutex-btree", "rwmutex-snapshot"} {
		for _, t := range p.Tasks {
			if s == "unsync" && t != 1 {
				continue
			}
			add(Row{"uprobe-nop", s, t, 1000, "none", 0})
		}
	}
	for _, s := range core {
		for _, t := range p.Tasks {
			add(Row{"uretprobe-nop", s, t, 1000, "none", 0})
		}
	}
	for _, c := range Churns[1:] {
		for _, rate := range p.Rates {
			for _, s := range core {
				add(Row{"uprobe-nop", s, churnT, 1000, c, rate})
			}
		}
	}
	for _, rate := range p.Rates {
		for _, s := range []string{"rwmutex-btree", "rwmutex-snapshot"} {
			add(Row{"uprobe-nop", s, churnT, 1000, "unrelated", rate})
		}
	}
	for _, s := range append(core, "unsync") {
		for _, v := range p.VMAs {
			add(Row{"uprobe-nop", s, 1, v, "none", 0})
		}
	}
	return rows
}

// Help describes the workloads, strategies and churn kinds for -h.
func Help() string {
	var b strings.Builder
	b.WriteString("Workloads:\n")
	for _, w := range Workloads {
		fmt.Fprintf(&b, "  %-16s %s\n", w.Name, w.Doc)
	}
	b.WriteString("Strategies and baselines:\n")
	for _, s := range Strategies {
		fmt.Fprintf(&b, "  %-16s %s\n", s.Name, s.Doc)
	}
	b.WriteString("Churn (a writer at a given rate, -churn and -rate):\n")
	b.WriteString("  none             no writer\n")
	b.WriteString("  unrelated        mmap/munmap of a page far from the probed VMA\n")
	b.WriteString("  same-vma         mprotect of a page of the probed VMA back and forth (split, merge)\n")
	b.WriteString("  probes           register/unregister a probe on another file\n")
	b.WriteString("Address-space sizes: -vmas (default 16,1000,100000)\n")
	return b.String()
}
