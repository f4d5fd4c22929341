//go:build linux

package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"specvma/errno"
	"specvma/internal/cbuild"
	"specvma/procfs"
)

// The live monitor experiment: a C child maps VMAs, then maps and unmaps a
// page at a set rate, timing each call with CLOCK_MONOTONIC, while monitor
// goroutines of the bench read its /proc/PID/maps as text or walk it with
// PROCMAP_QUERY. The child is C so that no runtime of its own (a garbage
// collector, a scheduler) shows in its latencies.
const monitorChildC = `#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static long long now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static int cmp(const void *a, const void *b) {
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
	if (argc != 4) return 2;
	long rate = atol(argv[1]), ms = atol(argv[2]), vmas = atol(argv[3]);
	char *base = (char *)0x100000000000UL, *wpage = (char *)0x300000000000UL;
	for (long i = 0; i < vmas; i++) {
		int prot = PROT_READ | (i % 2 ? 0 : PROT_WRITE);
		if (mmap(base + i * 8192, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED) { perror("mmap"); return 1; }
	}
	printf("ready\n"); fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin)) return 1;
	long long interval = 1000000000LL / rate, start = now(), next = start, end = start + ms * 1000000LL;
	long cap = 2 * (ms * rate / 1000 + 2), n = 0;
	long long *lat = malloc(cap * sizeof *lat);
	while (n + 2 <= cap) {
		long long t = now();
		if (t >= end) break;
		if (t < next) {
			if (next - t > 200000) { struct timespec s = {0, next - t - 100000}; nanosleep(&s, 0); }
			continue;
		}
		next += interval;
		long long t0 = now();
		if (mmap(wpage, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) { perror("mmap"); return 1; }
		long long t1 = now();
		if (munmap(wpage, 4096)) { perror("munmap"); return 1; }
		long long t2 = now();
		lat[n++] = t1 - t0; lat[n++] = t2 - t1;
	}
	double secs = (now() - start) / 1e9;
	qsort(lat, n, sizeof *lat, cmp);
	printf("%ld %.3f %lld %lld %lld\n", n, secs, n ? lat[n / 2] : 0, n ? lat[n * 99 / 100] : 0, n ? lat[n - 1] : 0);
	return 0;
}
`

// buildMonitorChild compiles monitorChildC into dir and returns the
// program's path.
func buildMonitorChild(dir string) (string, error) {
	return cbuild.Build(dir, "child", monitorChildC, "-O2")
}

// LiveMonitorRow is one live run: the monitors' mode and the child's figures.
type LiveMonitorRow struct {
	Monitors     string        `json:"monitors"` // none, text, query
	WriterOps    float64       `json:"writer_ops"`
	WriterP50    time.Duration `json:"writer_p50"`
	WriterP99    time.Duration `json:"writer_p99"`
	WriterMax    time.Duration `json:"writer_max"`
	MonitorReads float64       `json:"monitor_reads"` // whole-address-space reads per second
}

// RunLiveMonitor runs the live experiment with no monitors, text monitors
// and PROCMAP_QUERY monitors. It needs gcc.
func RunLiveMonitor(o MonitorOptions) ([]LiveMonitorRow, error) {
	o.defaults()
	dir, err := os.MkdirTemp("", "specvma-monitor")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := buildMonitorChild(dir)
	if err != nil {
		return nil, err
	}
	var rows []LiveMonitorRow
	for _, mode := range []string{"none", "text", "query"} {
		row, err := liveMonitorRow(bin, mode, o)
		if err != nil {
			return nil, fmt.Errorf("%s monitors: %w", mode, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func liveMonitorRow(bin, mode string, o MonitorOptions) (LiveMonitorRow, error) {
	cmd := exec.Command(bin, strconv.Itoa(o.Rate), strconv.Itoa(int(o.Duration/time.Millisecond)), strconv.Itoa(o.VMAs))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return LiveMonitorRow{}, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return LiveMonitorRow{}, err
	}
	if err := cmd.Start(); err != nil {
		return LiveMonitorRow{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewReader(outPipe)
	if l, err := out.ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		return LiveMonitorRow{}, fmt.Errorf("child: %q %v", l, err)
	}
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		reads atomic.Int64
	)
	if mode != "none" {
		for i := 0; i < o.Monitors; i++ {
			f, err := os.Open(procfs.MapsPath(cmd.Process.Pid))
			if err != nil {
				return LiveMonitorRow{}, err
			}
			defer f.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				// Only whole readings count; a failed one (the child has
				// exited: ESRCH) ends this monitor.
				for !stop.Load() {
					var err error
					if mode == "text" {
						_, _ = f.Seek(0, io.SeekStart)
						for n := 1; n > 0 && err == nil; {
							n, err = f.Read(buf)
						}
						if err == io.EOF {
							err = nil
						}
					} else {
						for addr := uint64(0); err == nil; {
							var r procfs.QueryResult
							if r, err = procfs.QueryLive(f, procfs.Query{Flags: procfs.QueryCoveringOrNext, Addr: addr}); err == nil {
								addr = r.End
							}
						}
						if err == errno.ENOENT {
							err = nil
						}
					}
					if err != nil {
						return
					}
					reads.Add(1)
				}
			}()
		}
	}
	t0 := time.Now()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		return LiveMonitorRow{}, err
	}
	line, err := out.ReadString('\n')
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return LiveMonitorRow{}, fmt.Errorf("child result: %w", err)
	}
	var n int64
	var secs float64
	var p50, p99, max int64
	if _, err := fmt.Sscan(line, &n, &secs, &p50, &p99, &max); err != nil {
		return LiveMonitorRow{}, fmt.Errorf("child result %q: %w", line, err)
	}
	return LiveMonitorRow{Monitors: mode, WriterOps: float64(n) / secs,
		WriterP50: time.Duration(p50), WriterP99: time.Duration(p99), WriterMax: time.Duration(max),
		MonitorReads: float64(reads.Load()) / elapsed.Seconds()}, nil
}

func writeLiveMonitor(w io.Writer, rows []LiveMonitorRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "monitors\twriter ops/s\tp50\tp99\tmax\tmonitor reads/s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%v\t%.0f\t\n", r.Monitors, r.WriterOps, r.WriterP50, r.WriterP99, r.WriterMax, r.MonitorReads)
	}
	tw.Flush()
}
