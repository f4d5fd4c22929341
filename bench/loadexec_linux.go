//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"specvma/procfs"
)

// maxMapCountPath is the sysctl vm.max_map_count; tests point it at a file
// of their own.
var maxMapCountPath = "/proc/sys/vm/max_map_count"

// isRoot reports whether the bench may write sysctls; tests replace it.
var isRoot = func() bool { return os.Geteuid() == 0 }

// mapCountSlack is what the child maps besides its anonymous VMAs
// (program, heap, libraries, stack, vdso) with room to spare.
const mapCountSlack = 1000

func readMaxMapCount() (int, error) {
	b, err := os.ReadFile(maxMapCountPath)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func writeMaxMapCount(n int) error {
	return os.WriteFile(maxMapCountPath, []byte(strconv.Itoa(n)+"\n"), 0o644)
}

// raiseMaxMapCount makes vm.max_map_count at least need. It returns the
// value in force and, when it raised it, the value before (else 0) and
// restore, which puts that value back unless someone changed the sysctl
// meanwhile; restore is safe to call more than once.
func raiseMaxMapCount(need int) (now, from int, restore func() error, err error) {
	cur, err := readMaxMapCount()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("reading vm.max_map_count: %w", err)
	}
	if cur >= need {
		return cur, 0, func() error { return nil }, nil
	}
	advice := fmt.Sprintf("run `sysctl vm.max_map_count=%d` as root first (and `sysctl vm.max_map_count=%d` after), or run the bench as root: it raises the limit for the run and restores it", need, cur)
	if !isRoot() {
		return 0, 0, nil, fmt.Errorf("vm.max_map_count is %d, below the %d this workload needs: %s", cur, need, advice)
	}
	if err := writeMaxMapCount(need); err != nil {
		return 0, 0, nil, fmt.Errorf("cannot raise vm.max_map_count from %d to %d (%v): %s", cur, need, err, advice)
	}
	done := false
	restore = func() error {
		if done {
			return nil
		}
		done = true
		got, err := readMaxMapCount()
		switch {
		case err != nil:
			return fmt.Errorf("vm.max_map_count not restored to %d: %w", cur, err)
		case got != need:
			return fmt.Errorf("vm.max_map_count not restored to %d: it was changed to %d during the run", cur, got)
		}
		if err := writeMaxMapCount(cur); err != nil {
			return fmt.Errorf("vm.max_map_count not restored to %d: %w", cur, err)
		}
		return nil
	}
	return need, cur, restore, nil
}

// errInterrupted is RunLoadExec's error when a signal stopped it.
var errInterrupted = errors.New("interrupted")

// RunLoadExec runs the loadexec workload. It needs gcc (to build the
// child) and a kernel with PROCMAP_QUERY (6.11+).
func RunLoadExec(o LoadExecOptions) (_ *LoadExecResult, err error) {
	o.defaults()
	res := &LoadExecResult{VMAs: o.VMAs, Runs: o.Runs, Loads: o.Loads}

	// Signals first: from the moment the sysctl may change until it is
	// restored, an interrupt restores it before the process goes.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	now, from, restore, err := raiseMaxMapCount(o.VMAs + mapCountSlack)
	if err != nil {
		return nil, err
	}
	res.MaxMapCount, res.RaisedFrom = now, from
	if from != 0 {
		o.Notice(fmt.Sprintf("vm.max_map_count raised from %d to %d for this workload; it is restored at the end", from, now))
	}
	defer func() {
		if rerr := restore(); rerr != nil {
			o.Notice(rerr.Error())
			err = errors.Join(err, rerr)
		} else if from != 0 {
			res.Restored = true
			o.Notice(fmt.Sprintf("vm.max_map_count restored to %d", from))
		}
	}()

	dir, err := os.MkdirTemp("", "specvma-loadexec")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := buildMonitorChild(dir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "1", "1", strconv.Itoa(o.VMAs))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe() // the child waits on it; never written
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	o.Progress(fmt.Sprintf("starting a child that maps %d VMAs", o.VMAs))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		l, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(l) != "ready" {
			err = fmt.Errorf("said %q", l)
		}
		ready <- err
	}()
	// stop turns a pending signal into errInterrupted, after killing the
	// child, removing the build directory and restoring the sysctl (the
	// deferred restore then does nothing); it then sends the signal to the
	// process again, which ends it as the signal would have without the
	// workload.
	stop := func(s os.Signal) error {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir) // the deferred cleanups may not run: the signal ends the process
		if rerr := restore(); rerr != nil {
			return errors.Join(fmt.Errorf("%w by %v", errInterrupted, s), rerr)
		}
		if from != 0 {
			res.Restored = true
			o.Notice(fmt.Sprintf("interrupted by %v: vm.max_map_count restored to %d", s, from))
		}
		signal.Stop(sigs)
		if sig, ok := s.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), sig) // die of it, as without the workload
		}
		return fmt.Errorf("%w by %v", errInterrupted, s)
	}
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("the child did not map its %d VMAs (%v): %s", o.VMAs, err, strings.TrimSpace(stderr.String()))
		}
	case s := <-sigs:
		return nil, stop(s)
	}
	pid := cmd.Process.Pid
	o.Progress(fmt.Sprintf("child %d mapped its VMAs in %v", pid, time.Since(start).Round(time.Millisecond)))

	buf := make([]byte, 0, 1<<20)
	readText := func() error {
		f, err := os.Open(procfs.MapsPath(pid))
		if err != nil {
			return err
		}
		defer f.Close()
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(make([]byte, 0, 2*cap(buf)), buf...)
			}
			n, err := f.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF || (err == nil && n == 0) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	var want []procfs.Entry
	load := func(query bool) error {
		got, _, err := procfs.LiveEntries(pid, procfs.LoadOptions{Query: query, ExecOnly: true})
		if err != nil {
			return err
		}
		switch {
		case want == nil && len(got) == 0:
			return errors.New("the child has no executable file mappings")
		case want == nil:
			want = got
		case !slices.Equal(got, want):
			return fmt.Errorf("the two loads differ: %v, then %v", want, got)
		}
		return nil
	}
	methods := []struct {
		runs *[]time.Duration
		do   func() error
	}{
		{&res.TextRuns, func() error { return load(false) }},
		{&res.QueryRuns, func() error { return load(true) }},
		{&res.ReadRuns, readText},
	}
	if err := readText(); err != nil {
		return nil, err
	}
	res.MapCount = bytes.Count(buf, []byte("\n"))
	for run := 0; run < o.Runs; run++ {
		runtime.GC()
		for k := range methods {
			m := methods[(run+k)%len(methods)] // each method first in turn
			t0 := time.Now()
			for range o.Loads {
				select {
				case s := <-sigs:
					return nil, stop(s)
				default:
				}
				if err := m.do(); err != nil {
					return nil, err
				}
			}
			*m.runs = append(*m.runs, time.Since(t0)/time.Duration(o.Loads))
		}
		o.Progress(fmt.Sprintf("run %d of %d: text %.1f ms, query %.1f ms, read alone %.1f ms per load", run+1, o.Runs,
			float64(res.TextRuns[run])/1e6, float64(res.QueryRuns[run])/1e6, float64(res.ReadRuns[run])/1e6))
	}
	res.Mappings = len(want)
	res.Text, res.Query, res.Read = medianDuration(res.TextRuns), medianDuration(res.QueryRuns), medianDuration(res.ReadRuns)
	return res, nil
}
