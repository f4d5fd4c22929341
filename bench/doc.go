// Package bench reproduces the uprobe scalability experiment behind the
// speculative VMA lookup (the kernel's `bench trig-uprobe-nop`) in specvma,
// and measures the review thread's question: an mm-wide sequence count
// against per-VMA validation.
//
// A row is one measurement: W tasks (goroutines, each a uprobes.Task) hit a
// probed address in one address space for a fixed time, with a resolution
// strategy or a baseline, an address space of V VMAs, and optionally a
// writer churning the address space or the probe registry at a set rate.
// Workloads, strategies and baselines are documented in Workloads and
// Baselines; `specvma bench -h` prints them.
//
// The monitor workload (monitor.go, arrange.go) reproduces the kernel's
// proc-mmap_sem test: a writer unmapping and remapping random pages, pinned
// alone on one CPU, against maps monitors at nice 15 pinned to a second CPU
// beside CPU-bound busy processes of higher priority, so that the monitors
// are preempted while they hold what the writer needs; in the model (each
// maps reader) and on the live kernel (maps, PROCMAP_QUERY, smaps), and in
// a plain setting without the arrangement. The busy processes are the
// running program started again: an init function turns a process started
// with busyArg and busyEnv into a busy loop before main runs.
//
// Timing is measured, never asserted: the report gives medians over
// repeated rows, and the targets compare ratios measured side by side in
// one run.
package bench
