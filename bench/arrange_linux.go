//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// allowedCPUs lists the CPUs the calling thread may run on, in order.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

func gettid() int { return unix.Gettid() }

// arrangeThread binds the calling thread (the goroutine must be locked to
// it) to cpus and, when nice is not nil, sets its nice value
// (setpriority(PRIO_PROCESS, tid): per thread on Linux). It returns what
// /proc then says about the thread, and what failed.
func arrangeThread(cpus []int, nice *int) (cpuList string, niceNow int, err error) {
	var errs []error
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if e := unix.SchedSetaffinity(0, &set); e != nil {
		errs = append(errs, fmt.Errorf("sched_setaffinity to CPU %s: %w", cpuListString(cpus), e))
	}
	tid := unix.Gettid()
	if nice != nil {
		if e := unix.Setpriority(unix.PRIO_PROCESS, tid, *nice); e != nil {
			errs = append(errs, fmt.Errorf("setpriority nice %d: %w", *nice, e))
		}
	}
	cpuList, niceNow, e := readTaskState(os.Getpid(), tid)
	if e != nil {
		errs = append(errs, e)
	}
	return cpuList, niceNow, errors.Join(errs...)
}

// readTaskState reads a thread's allowed CPUs (Cpus_allowed_list of
// /proc/PID/task/TID/status) and nice value (field 19 of its stat).
func readTaskState(pid, tid int) (cpuList string, nice int, err error) {
	dir := fmt.Sprintf("/proc/%d/task/%d/", pid, tid)
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return "", 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (field 3, the state, comes first).
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 17 {
		return "", 0, fmt.Errorf("%sstat: unexpected %q", dir, stat)
	}
	if nice, err = strconv.Atoi(fields[16]); err != nil {
		return "", 0, fmt.Errorf("%sstat: nice: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "status")
	if err != nil {
		return "", 0, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nice, nil
		}
	}
	return "", 0, fmt.Errorf("%sstatus has no Cpus_allowed_list", dir)
}

func cpuListString(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// The busy tasks are this program again (os.Executable), started with
// busyArg and busyEnv: init below turns such a process into a busy loop
// before main runs, so that the bench needs no other program.
const (
	busyArg = "-specvma-bench-busy"
	busyEnv = "SPECVMA_BENCH_BUSY_NS"
)

func init() {
	v, ok := os.LookupEnv(busyEnv)
	if !ok || len(os.Args) != 2 || os.Args[1] != busyArg {
		return
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", busyEnv, v, err)
		os.Exit(2)
	}
	busyLoop(time.Duration(ns), os.Getppid())
	os.Exit(0)
}

// busyLoop is a busy task, as the kernel test's busywait: CPU-bound for
// period, then asleep for a millisecond, again and again; with period 0
// CPU-bound without a pause. It ends when its parent does.
func busyLoop(period time.Duration, ppid int) {
	for os.Getppid() == ppid {
		spin := period
		if spin <= 0 {
			spin = time.Millisecond // then look at the parent again
		}
		for end := time.Now().Add(spin); time.Now().Before(end); {
		}
		if period > 0 {
			_ = unix.Nanosleep(&unix.Timespec{Nsec: int64(time.Millisecond)}, nil)
		}
	}
}

// busyGroup is the running busy processes. They are started from one
// locked thread pinned to the monitors' CPU at the busy tasks' nice
// value, so that they inherit both at fork, and their parent-death signal
// is tied to that thread, which lives until stop.
type busyGroup struct {
	procs  []*exec.Cmd
	nice   int
	cpus   string
	done   chan struct{}
	exited chan struct{}
}

// startBusy starts o.Busy busy processes on cpus at nice o.BusyNice.
func startBusy(o MonitorOptions, cpus []int) (*busyGroup, error) {
	if o.Busy == 0 {
		return nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	g := &busyGroup{done: make(chan struct{}), exited: make(chan struct{})}
	ready := make(chan error)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		defer close(g.exited)
		nice := o.BusyNice
		if _, _, err := arrangeThread(cpus, &nice); err != nil {
			ready <- err
			return
		}
		for i := 0; i < o.Busy; i++ {
			cmd := exec.Command(exe, busyArg)
			cmd.Env = append(os.Environ(), busyEnv+"="+strconv.FormatInt(int64(o.BusyPeriod), 10))
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				g.kill()
				ready <- err
				return
			}
			g.procs = append(g.procs, cmd)
		}
		pid := g.procs[0].Process.Pid
		var err error
		if g.cpus, g.nice, err = readTaskState(pid, pid); err != nil {
			g.kill()
			ready <- err
			return
		}
		ready <- nil
		<-g.done
		g.kill()
	}()
	if err := <-ready; err != nil {
		<-g.exited
		return nil, err
	}
	return g, nil
}

func (g *busyGroup) kill() {
	for _, c := range g.procs {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
}

// stop ends the busy processes and waits for them.
func (g *busyGroup) stop() {
	if g == nil {
		return
	}
	close(g.done)
	<-g.exited
}

// pause sleeps for d in the kernel (nanosleep), as the test's mapper does
// between calls; the thread, not only the goroutine, sleeps.
func pause(d time.Duration) {
	if d > 0 {
		_ = unix.Nanosleep(&unix.Timespec{Nsec: int64(d)}, nil)
	}
}

// involuntarySwitches is the calling thread's nonvoluntary_ctxt_switches
// (/proc/thread-self/status): how often the scheduler took the CPU from it
// while it could run. 0 when it cannot be read.
func involuntarySwitches() uint64 {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "nonvoluntary_ctxt_switches:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
