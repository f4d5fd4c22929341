//go:build linux

package bench

import (
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestArrangement checks, from outside the code that sets it up, that the
// arrangement does what it says: while each arranged thread runs, its
// /proc/self/task/TID files show the monitors at the monitors' nice value
// on the second CPU, the writer alone on the first CPU at the
// nice value it had; the busy processes ran at theirs, and GOMAXPROCS is
// restored afterwards.
func TestArrangement(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil || len(cpus) < 2 {
		t.Skipf("needs 2 CPUs: %v %v", cpus, err)
	}
	type seen struct {
		role, cpus string
		nice       int
	}
	var (
		mu   sync.Mutex
		got  []seen
		errs []error
	)
	threadHook = func(role string, tid int) {
		c, n, err := readTaskState(os.Getpid(), tid)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		got = append(got, seen{role, c, n})
	}
	defer func() { threadHook = nil }()
	procs := runtime.GOMAXPROCS(0)
	o := shortMonitor()
	o.Runs, o.Plain, o.Busy = 1, false, 1
	if _, nice, err := readTaskState(os.Getpid(), unix.Gettid()); err == nil && nice > o.BusyNice && os.Geteuid() != 0 {
		t.Skipf("running at nice %d without root: the busy tasks' nice %d is out of reach (the bench notes it and runs on)", nice, o.BusyNice)
	}
	res, err := RunMonitor(o)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOMAXPROCS(0) != procs {
		t.Errorf("GOMAXPROCS %d after the run, was %d", runtime.GOMAXPROCS(0), procs)
	}
	for _, e := range errs {
		t.Error(e)
	}
	writerCPU, monitorCPUs := cpuListString(cpus[:1]), cpus[1:2]
	var writers, monitors int
	for _, s := range got {
		switch s.role {
		case "writer":
			writers++
			if s.cpus != writerCPU || s.nice != 0 {
				t.Errorf("writer thread on CPUs %s at nice %d, want CPU %s at 0", s.cpus, s.nice, writerCPU)
			}
		case "monitor":
			monitors++
			if !sameCPUs(s.cpus, monitorCPUs) || s.nice != o.Nice {
				t.Errorf("monitor thread on CPUs %s at nice %d, want %v at %d", s.cpus, s.nice, monitorCPUs, o.Nice)
			}
		}
	}
	// Four rows, each with a writer; three with o.Monitors monitors.
	if writers != 4 || monitors != 3*o.Monitors {
		t.Errorf("%d writer and %d monitor threads arranged, want 4 and %d", writers, monitors, 3*o.Monitors)
	}
	a := res.Arrangement
	if !a.Applied || a.Plain || a.Busy != 1 || a.BusyNice != o.BusyNice || !sameCPUs(a.BusyCPUs, monitorCPUs) ||
		a.MonitorNice != o.Nice || a.WriterCPUs != writerCPU || a.Note != "" {
		t.Errorf("arrangement %+v", a)
	}
}

// sameCPUs compares a Cpus_allowed_list ("1", "1-3", "1,3") with a list.
func sameCPUs(list string, cpus []int) bool {
	var want []string
	for _, c := range cpus {
		want = append(want, cpuListString([]int{c}))
	}
	if len(cpus) >= 2 && cpus[len(cpus)-1]-cpus[0] == len(cpus)-1 {
		return list == want[0]+"-"+want[len(want)-1]
	}
	return list == strings.Join(want, ",")
}

// TestArrangementOneCPU: where only one CPU is allowed the writer cannot
// have its own, so the setting runs plain and says why, without failing.
func TestArrangementOneCPU(t *testing.T) {
	done := make(chan struct{})
	var res *MonitorResult
	var err error
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the restricted thread ends with this goroutine
		var set unix.CPUSet
		set.Set(0)
		if e := unix.SchedSetaffinity(0, &set); e != nil {
			err = e
			return
		}
		o := shortMonitor()
		o.Runs = 1
		res, err = RunMonitor(o)
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	a := res.Arrangement
	if !a.Plain || a.Applied || !strings.Contains(a.Note, "1 CPU allowed") || res.Plain != nil {
		t.Errorf("arrangement %+v, plain %v", a, res.Plain)
	}
	if !strings.Contains(a.String(), "1 CPU allowed") {
		t.Errorf("the table does not say why: %s", a)
	}
	checkRows(t, "one CPU", res.Rows, 1, true)
}
