package bench

import (
	"fmt"
	"strings"

	"specvma/mm"
)

// Workload is what a row's tasks do.
type Workload uint8

// The workloads. Live has no rows: it runs once per report (RunLive).
const (
	UprobeNop    Workload = iota + 1 // hit a probed address in a loop
	UretprobeNop                     // the same through a return probe
	Live                             // a live process resolved three ways
	Monitor                          // maps monitors against an mmap/munmap writer (monitor.go)
	LoadExec                         // exec-only loads of a live process with 120k VMAs (loadexec.go)
)

// Strategy is how a row resolves a breakpoint address: one of mm's four
// strategies or a baseline.
type Strategy uint8

// The strategies, then the baselines.
const (
	Locked          Strategy = iota + 1 // mm.Locked
	MMSeq                               // mm.MMSeq
	VMASeq                              // mm.VMASeq
	VMALock                             // mm.VMALock
	RWMutexBTree                        // baseline: sync.RWMutex around a B-tree
	RWMutexSnapshot                     // baseline: slice republished under a sync.RWMutex
	Unsync                              // baseline: no synchronisation, one task
)

// Churn is what a row's writer does (Churns documents each kind).
type Churn uint8

// The churn kinds.
const (
	NoChurn   Churn = iota + 1 // no writer
	Unrelated                  // mmap/munmap far from the probed VMA
	SameVMA                    // mprotect inside the probed VMA
	Probes                     // register/unregister another probe
)

// named is one value of an enumeration: its name (the flag, table and
// JSON spelling) and what it means.
type named struct{ Name, Doc string }

// Workloads lists the workloads with what they measure, in value order.
var Workloads = []named{
	UprobeNop - 1:    {"uprobe-nop", "T tasks in one address space hit a probed address in a loop (the kernel's trig-uprobe-nop)"},
	UretprobeNop - 1: {"uretprobe-nop", "the same with a return probe: every hit also returns through it (trig-uretprobe-nop)"},
	Live - 1:         {"live", "a live process the bench starts: its addresses resolved to (file, offset) through the model, through PROCMAP_QUERY and by parsing /proc/PID/maps text; cost per lookup, and whether all three agree"},
	Monitor - 1:      {"monitor", "after the kernel's proc-mmap_sem test: a writer unmaps or remaps random 4 KiB pages of a 128 MiB region (10µs asleep after each call) while monitors read the whole maps with each maps reader (locked, snapshot, vmalock), in the test's arrangement (writer alone on one CPU; monitors at nice 15 beside busy tasks at a higher priority on a second CPU: -monitors, -monitor-busy, -monitor-busy-duration, -monitor-nice, -monitor-busy-nice) and in the plain setting (-monitor-plain: nothing pinned, no busy tasks); the same on the live kernel, a C child timing its own calls while monitors read its maps, walk it with PROCMAP_QUERY or read its smaps (-monitor-files): the writer's latency p50/p99/p99.9/max and ops/s, the monitors' reads/s, longest read and preemptions, retries and fallbacks by reason"},
	LoadExec - 1:     {"loadexec", "only by name, not in the default run: a live C child with 120,000 anonymous VMAs (-loadexec-vmas) and its program, libc and ld.so; its executable file mappings loaded by parsing its maps text and through PROCMAP_QUERY, side by side, and the text read alone (the kernel's part); per-load medians and the text/query ratio. As root it raises vm.max_map_count for the run and restores it (also on SIGINT/SIGTERM/SIGHUP); without root it says what to run. Target: text / query >= 10x. About 3-5 s (the child maps its VMAs in about 0.5 s, then -count runs, 5 by default, of 3 loads per method at ~50, ~20 and ~30 ms each on an idle 2-core VM)"},
}

// Strategies lists the resolution strategies and baselines, in value order.
var Strategies = []named{
	Locked - 1:          {"locked", "mmap read lock around the lookup (Linux before 6.14)"},
	MMSeq - 1:           {"mmseq", "mm-wide sequence speculation (Linux 6.14+: find_active_uprobe_speculative)"},
	VMASeq - 1:          {"vmaseq", "per-VMA vm_lock_seq validation (the review thread's alternative)"},
	VMALock - 1:         {"vmalock", "per-VMA read lock, as the page-fault path (lock_vma_under_rcu)"},
	RWMutexBTree - 1:    {"rwmutex-btree", "baseline: sync.RWMutex around a B-tree (gVisor)"},
	RWMutexSnapshot - 1: {"rwmutex-snapshot", "baseline: sorted slice republished under a sync.RWMutex (OpenTelemetry eBPF profiler)"},
	Unsync - 1:          {"unsync", "baseline: one task, no synchronization: the lower bound"},
}

// Churns lists the churn kinds, in value order.
var Churns = []named{
	NoChurn - 1:   {"none", "no writer"},
	Unrelated - 1: {"unrelated", "mmap/munmap of a page far from the probed VMA"},
	SameVMA - 1:   {"same-vma", "mprotect of a page of the probed VMA back and forth (split, merge)"},
	Probes - 1:    {"probes", "register/unregister a probe on another file"},
}

func (w Workload) String() string { return nameOf(Workloads, w) }
func (s Strategy) String() string { return nameOf(Strategies, s) }
func (c Churn) String() string    { return nameOf(Churns, c) }

// MarshalText writes the workload's name.
func (w Workload) MarshalText() ([]byte, error) { return marshal(Workloads, "workload", w) }

// MarshalText writes the strategy's name.
func (s Strategy) MarshalText() ([]byte, error) { return marshal(Strategies, "strategy", s) }

// MarshalText writes the churn kind's name.
func (c Churn) MarshalText() ([]byte, error) { return marshal(Churns, "churn", c) }

// UnmarshalText reads a workload's name.
func (w *Workload) UnmarshalText(b []byte) (err error) {
	*w, err = parseNamed[Workload](Workloads, "workload", string(b))
	return err
}

// UnmarshalText reads a strategy's name.
func (s *Strategy) UnmarshalText(b []byte) (err error) {
	*s, err = parseNamed[Strategy](Strategies, "strategy", string(b))
	return err
}

// UnmarshalText reads a churn kind's name.
func (c *Churn) UnmarshalText(b []byte) (err error) {
	*c, err = parseNamed[Churn](Churns, "churn", string(b))
	return err
}

// ParseWorkloads parses a comma-separated list of workload names.
func ParseWorkloads(s string) ([]Workload, error) {
	return parseList[Workload](Workloads, "workload", s)
}

// ParseStrategies parses a comma-separated list of strategy names.
func ParseStrategies(s string) ([]Strategy, error) {
	return parseList[Strategy](Strategies, "strategy", s)
}

// ParseChurns parses a comma-separated list of churn names.
func ParseChurns(s string) ([]Churn, error) { return parseList[Churn](Churns, "churn", s) }

// Baseline reports whether s is a baseline rather than one of mm's
// strategies.
func (s Strategy) Baseline() bool { return s >= RWMutexBTree }

// mm returns the mm.Strategy s stands for; ok is false for a baseline.
func (s Strategy) mm() (st mm.Strategy, ok bool) {
	switch s {
	case Locked:
		return mm.Locked, true
	case MMSeq:
		return mm.MMSeq, true
	case VMASeq:
		return mm.VMASeq, true
	case VMALock:
		return mm.VMALock, true
	}
	return 0, false
}

// Core is mm's four strategies, the ones every workload runs.
var Core = []Strategy{Locked, MMSeq, VMASeq, VMALock}

func nameOf[T ~uint8](table []named, v T) string {
	if v >= 1 && int(v) <= len(table) {
		return table[v-1].Name
	}
	return fmt.Sprintf("%d", uint8(v))
}

func marshal[T ~uint8](table []named, kind string, v T) ([]byte, error) {
	if v < 1 || int(v) > len(table) {
		return nil, fmt.Errorf("bench: no %s numbered %d", kind, uint8(v))
	}
	return []byte(table[v-1].Name), nil
}

func parseNamed[T ~uint8](table []named, kind, s string) (T, error) {
	for i, n := range table {
		if n.Name == s {
			return T(i + 1), nil
		}
	}
	names := make([]string, len(table))
	for i, n := range table {
		names[i] = n.Name
	}
	return 0, fmt.Errorf("unknown %s %q (want one of %s)", kind, s, strings.Join(names, ", "))
}

func parseList[T ~uint8](table []named, kind, s string) ([]T, error) {
	var out []T
	for w := range strings.SplitSeq(s, ",") {
		if w = strings.TrimSpace(w); w == "" {
			continue
		}
		v, err := parseNamed[T](table, kind, w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Row names one measurement. It is comparable: Report.Find looks results
// up by it.
type Row struct {
	Workload Workload `json:"workload"`
	Strategy Strategy `json:"strategy"`
	Tasks    int      `json:"tasks"`
	VMAs     int      `json:"vmas"`
	Churn    Churn    `json:"churn"`
	Rate     int      `json:"churn_rate"` // writer operations per second (0: no writer)
}

// String is the row as the progress lines print it.
func (r Row) String() string {
	s := fmt.Sprintf("%s %s tasks=%d vmas=%d", r.Workload, r.Strategy, r.Tasks, r.VMAs)
	if r.churning() {
		s += fmt.Sprintf(" churn=%s@%d/s", r.Churn, r.Rate)
	}
	return s
}

// churning reports whether the row has a writer.
func (r Row) churning() bool { return r.Churn != NoChurn && r.Rate > 0 }

// Validate reports what is wrong with a row Run could not measure.
func (r Row) Validate() error {
	switch {
	case r.Workload != UprobeNop && r.Workload != UretprobeNop:
		return fmt.Errorf("row %v: workload %v has no rows", r, r.Workload)
	case r.Strategy < Locked || r.Strategy > Unsync:
		return fmt.Errorf("row %v: no strategy", r)
	case r.Churn < NoChurn || r.Churn > Probes:
		return fmt.Errorf("row %v: no churn kind", r)
	case r.Tasks < 1:
		return fmt.Errorf("row %v: tasks must be at least 1", r)
	case r.VMAs < 2:
		return fmt.Errorf("row %v: an address space needs at least 2 VMAs (the probed one and one to split)", r)
	case r.Strategy == Unsync && r.Tasks != 1:
		return fmt.Errorf("row %v: unsync has no synchronisation, so it runs one task only", r)
	case r.Strategy.Baseline() && r.Workload == UretprobeNop:
		return fmt.Errorf("row %v: baselines have no return probes", r)
	case r.Strategy == Unsync && r.Churn != NoChurn:
		return fmt.Errorf("row %v: unsync has no synchronisation, so it runs without a writer", r)
	case r.Strategy.Baseline() && r.Churn != NoChurn && r.Churn != Unrelated:
		return fmt.Errorf("row %v: the baselines model only unrelated churn", r)
	case r.Churn != NoChurn && r.Rate < 1:
		return fmt.Errorf("row %v: churn %v needs a rate of at least 1 operation per second", r, r.Churn)
	}
	return nil
}
