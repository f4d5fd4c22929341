package bench

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// The monitor experiment's arrangement, as in the kernel's proc-mmap_sem
// test: the writer alone on one CPU (the first allowed); the monitors, at
// low priority, on another (the second); CPU-bound busy tasks, at a
// priority between the two, sharing the monitors' CPU. Other CPUs stay
// free. A monitor that the scheduler preempts for a
// busy task while it holds a lock the writer needs makes the writer wait
// until the monitor runs again: a scheduler slice, milliseconds. That
// priority inversion, not the cost of rendering a page, is what the
// kernel's figure measures.

// Arrangement is what the arrangement was, as read back from /proc for the
// threads it set up (not what was asked for).
type Arrangement struct {
	Applied     bool   `json:"applied"`        // the writer and monitors were pinned and the monitors' priority lowered
	WriterCPUs  string `json:"writer_cpus"`    // the writer thread's Cpus_allowed_list, read back
	MonitorCPUs string `json:"monitor_cpus"`   // a monitor thread's Cpus_allowed_list, read back
	MonitorNice int    `json:"monitor_nice"`   // a monitor thread's nice value, read back
	WriterNice  int    `json:"writer_nice"`    // the writer thread's nice value, read back
	Busy        int    `json:"busy"`           // busy processes running
	BusyNice    int    `json:"busy_nice"`      // a busy process's nice value, read back
	BusyCPUs    string `json:"busy_cpus"`      // a busy process's Cpus_allowed_list, read back
	GOMAXPROCS  int    `json:"gomaxprocs"`     // during the setting's runs
	Note        string `json:"note,omitempty"` // what could not be done, and what ran instead
	Plain       bool   `json:"plain"`          // the plain setting: nothing pinned, no priorities, no busy tasks
}

// threadHook, when set (by tests), is called on each arranged thread once
// it is set up, with its role ("writer", "monitor") and thread id, while
// the thread is still alive.
var threadHook func(role string, tid int)

// arranger sets up one setting's threads and busy tasks.
type arranger struct {
	o           MonitorOptions
	plain       bool
	writerCPU   int   // the writer's CPU
	monitorCPUs []int // the monitors' and busy tasks' CPU
	busy        *busyGroup
	prevProcs   int

	mu   sync.Mutex
	info Arrangement
}

// newArranger plans a setting: plain (nothing arranged) or the test's
// arrangement. When the machine cannot give it (one CPU, no affinity
// calls), the setting runs plain and info.Note says why.
func newArranger(o MonitorOptions, plain bool) *arranger {
	a := &arranger{o: o, plain: plain || o.Busy == 0}
	a.info.Plain = a.plain
	if a.plain {
		return a
	}
	cpus, err := allowedCPUs()
	switch {
	case err != nil:
		a.info.Note = fmt.Sprintf("arrangement off (%v): nothing pinned, no priorities, no busy tasks", err)
		a.plain = true
	case len(cpus) < 2:
		a.info.Note = fmt.Sprintf("arrangement off: %d CPU allowed, the writer needs one of its own: nothing pinned, no priorities, no busy tasks", len(cpus))
		a.plain = true
	default:
		// As the test's taskset: the monitors and the busy tasks share
		// one CPU, however many there are, so that they contend.
		a.writerCPU, a.monitorCPUs = cpus[0], cpus[1:2]
	}
	a.info.Plain = a.plain
	return a
}

// start raises GOMAXPROCS so that every locked thread keeps a processor
// while the OS has preempted it (Go's scheduler does not know it is not
// running) and two stay free for the rest, and starts the busy tasks.
//
// The plain setting raises GOMAXPROCS too: otherwise CPU-bound monitors
// holding every processor would leave a writer that blocked (or slept)
// waiting for Go's 10 ms preemption to get one back, which would measure
// Go's scheduler.
func (a *arranger) start() {
	a.prevProcs = runtime.GOMAXPROCS(0)
	if want := a.o.Monitors + 3; a.prevProcs < want {
		runtime.GOMAXPROCS(want)
	}
	a.info.GOMAXPROCS = runtime.GOMAXPROCS(0)
	if a.plain {
		return
	}
	g, err := startBusy(a.o, a.monitorCPUs)
	if err != nil {
		a.note(fmt.Sprintf("busy tasks: %v", err))
	}
	if g != nil {
		a.busy = g
		a.info.Busy, a.info.BusyNice, a.info.BusyCPUs = len(g.procs), g.nice, g.cpus
	}
	a.info.Applied = true
}

// stop ends the busy tasks and restores GOMAXPROCS.
func (a *arranger) stop() {
	a.busy.stop()
	runtime.GOMAXPROCS(a.prevProcs)
}

// writerThread arranges the calling goroutine as the writer: its own
// locked OS thread on the writer's CPU. The goroutine must exit without
// unlocking, so that the thread goes with it.
func (a *arranger) writerThread() {
	if a.plain {
		return
	}
	cpus, nice := a.lockThread("writer", []int{a.writerCPU}, nil)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.info.WriterCPUs, a.info.WriterNice = cpus, nice
}

// monitorThread arranges the calling goroutine as a monitor: its own locked
// OS thread on the monitors' CPU at the monitors' nice value. It returns
// a function that counts the thread's involuntary context switches since
// (the scheduler preempting it), or nothing in the plain setting, where a
// goroutine has no thread of its own to count.
func (a *arranger) monitorThread() (preemptions func() uint64) {
	if a.plain {
		return func() uint64 { return 0 }
	}
	nice := a.o.Nice
	cpus, got := a.lockThread("monitor", a.monitorCPUs, &nice)
	a.mu.Lock()
	a.info.MonitorCPUs, a.info.MonitorNice = cpus, got
	a.mu.Unlock()
	start := involuntarySwitches()
	return func() uint64 { return involuntarySwitches() - start }
}

// lockThread locks the calling goroutine to its thread and arranges the
// thread (arrangeThread), noting what failed; it returns what /proc says.
func (a *arranger) lockThread(role string, cpus []int, nice *int) (cpuList string, niceNow int) {
	runtime.LockOSThread()
	cpuList, niceNow, err := arrangeThread(cpus, nice)
	if err != nil {
		a.note(fmt.Sprintf("%s: %v", role, err))
	}
	if threadHook != nil {
		threadHook(role, gettid())
	}
	return cpuList, niceNow
}

func (a *arranger) note(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noteLocked(s)
}

func (a *arranger) noteLocked(s string) {
	if a.info.Note == "" {
		a.info.Note = s
	} else if len(a.info.Note) < 400 && !strings.Contains(a.info.Note, s) {
		a.info.Note += "; " + s
	}
}

func (a *arranger) result() Arrangement {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info
}

// String describes the arrangement in one line for the table.
func (a Arrangement) String() string {
	if a.Plain {
		s := fmt.Sprintf("plain: nothing pinned, no priorities, no busy tasks; GOMAXPROCS %d", a.GOMAXPROCS)
		if a.Note != "" {
			s += " (" + a.Note + ")"
		}
		return s
	}
	busy := "no busy processes"
	if a.Busy > 0 {
		busy = fmt.Sprintf("%d busy process(es) at nice %d on CPU %s", a.Busy, a.BusyNice, a.BusyCPUs)
	}
	s := fmt.Sprintf("writer on CPU %s (nice %d); monitors on CPU %s at nice %d; %s; GOMAXPROCS %d (read back from /proc)",
		a.WriterCPUs, a.WriterNice, a.MonitorCPUs, a.MonitorNice, busy, a.GOMAXPROCS)
	if a.Note != "" {
		s += "\n  note: " + a.Note
	}
	return s
}

// short names the setting for a chart's title.
func (a Arrangement) short() string {
	if a.Plain {
		return "plain: no busy tasks, nothing pinned"
	}
	return fmt.Sprintf("%d busy tasks at nice %d beside the monitors at nice %d", a.Busy, a.BusyNice, a.MonitorNice)
}
