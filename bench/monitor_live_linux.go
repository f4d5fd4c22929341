//go:build linux

package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"specvma/errno"
	"specvma/internal/cbuild"
	"specvma/procfs"

	"golang.org/x/sys/unix"
)

// monitorChildC is the earlier monitor experiment's child: it maps VMAs
// (its third argument), then maps and unmaps one page at a set rate. The
// monitor experiment now uses mapperChildC; the loadexec workload
// (loadexec_linux.go) starts this one for its many VMAs.
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

// The live monitor experiment: a C child (the mapper) maps its region,
// unmaps half its pages at random, then unmaps or remaps random pages,
// sleeping between calls, timing each call with CLOCK_MONOTONIC, while
// monitor threads of the bench read its /proc/PID/maps, walk it with
// PROCMAP_QUERY or read its /proc/PID/smaps. The child is C so that no
// runtime of its own (a garbage collector, a scheduler) shows in its
// latencies; it pins itself to the writer's CPU when given one.
const mapperChildC = `#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static long long now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static uint64_t state;
static uint64_t rnd(void) {
	state ^= state << 13; state ^= state >> 7; state ^= state << 17;
	return state;
}
static int cmp(const void *a, const void *b) {
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
	if (argc != 6) return 2;
	long mb = atol(argv[1]), ms = atol(argv[2]), pause = atol(argv[3]), cpu = atol(argv[4]);
	state = strtoull(argv[5], 0, 10) * 0x9E3779B97F4A7C15ULL + 1;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set)) { perror("sched_setaffinity"); return 1; }
	}
	const long psz = 4096, pages = mb * (1 << 20) / psz;
	char *base = mmap(0, pages * psz, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (base == MAP_FAILED) { perror("mmap region"); return 1; }
	for (long p = 0; p < pages; p++)
		if ((rnd() & 1) && munmap(base + p * psz, psz)) { perror("munmap"); return 1; }
	printf("ready\n"); fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin)) return 1;
	long cap = 1 << 16, n = 0, nslow = 0;
	static long long slow[4096][2]; /* calls over 1 ms: CLOCK_MONOTONIC start and end */
	long long *lat = malloc(cap * sizeof *lat);
	struct timespec ps = { pause / 1000000000, pause % 1000000000 };
	long long start = now(), end = start + ms * 1000000LL;
	while (lat && now() < end) {
		char *addr = base + (long)(rnd() % pages) * psz;
		long long t0 = now();
		if (rnd() & 8) {
			if (mmap(addr, psz, PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0) != addr) { perror("mmap"); return 1; }
		} else if (munmap(addr, psz)) { perror("munmap"); return 1; }
		long long d = now() - t0;
		if (d > 1000000 && nslow < 4096) { slow[nslow][0] = t0; slow[nslow][1] = t0 + d; nslow++; }
		if (n == cap) lat = realloc(lat, (cap *= 2) * sizeof *lat);
		if (lat) lat[n++] = d;
		if (pause > 0) nanosleep(&ps, 0);
	}
	if (!lat) return 1;
	double secs = (now() - start) / 1e9;
	qsort(lat, n, sizeof *lat, cmp);
	printf("%ld %.3f %lld %lld %lld %lld\n", n, secs, n ? lat[n / 2] : 0, n ? lat[n * 99 / 100] : 0,
		n ? lat[n * 999 / 1000] : 0, n ? lat[n - 1] : 0);
	printf("%ld", nslow);
	for (long i = 0; i < nslow; i++) printf(" %lld %lld", slow[i][0], slow[i][1]);
	printf("\n");
	return 0;
}
`

// runLiveMonitor runs the live rows of a setting: the mapper alone, then
// with monitors reading each of o.Files, o.Runs times, interleaved. It
// needs gcc.
func runLiveMonitor(o MonitorOptions, a *arranger) ([]MonitorRow, error) {
	dir, err := os.MkdirTemp("", "specvma-monitor")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := cbuild.Build(dir, "mapper", mapperChildC, "-O2")
	if err != nil {
		return nil, err
	}
	files := append([]string{"none"}, o.Files...)
	runs := make([][]monitorRun, len(files))
	for k := range o.Runs {
		for i, f := range files {
			run, err := liveMonitorOnce(bin, f, o, a, uint64(k))
			if err != nil {
				return nil, fmt.Errorf("%s monitors: %w", f, err)
			}
			runs[i] = append(runs[i], run)
		}
	}
	rows := make([]MonitorRow, len(files))
	for i, f := range files {
		rows[i] = summarise(f, runs[i])
	}
	return rows, nil
}

// readWhole reads f once from the start with file's method: the text to
// its end, or a PROCMAP_QUERY walk over every VMA, timing each call into t.
// It gives up with errStopped once stop is set.
func readWhole(f *os.File, file string, buf []byte, t *readTimes, stop *atomic.Bool) error {
	if file == "query" {
		for addr := uint64(0); !stop.Load(); {
			t0 := monotonic()
			r, err := procfs.QueryLive(f, procfs.Query{Flags: procfs.QueryCoveringOrNext, Addr: addr})
			t.add(t0, monotonic())
			if err == errno.ENOENT {
				return nil
			}
			if err != nil {
				return err
			}
			addr = r.End
		}
		return errStopped
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	for !stop.Load() {
		t0 := monotonic()
		n, err := f.Read(buf)
		t.add(t0, monotonic())
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return errStopped
}

// readTimes is a live monitor's longest call and its calls over slowMark,
// on CLOCK_MONOTONIC, the clock the child times its calls with.
type readTimes struct {
	longest time.Duration
	slow    []interval
}

func (t *readTimes) add(start, end int64) {
	d := time.Duration(end - start)
	t.longest = max(t.longest, d)
	if d > slowMark {
		t.slow = append(t.slow, interval{start, end})
	}
}

// monotonic reads CLOCK_MONOTONIC in ns.
func monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// errStopped ends a reading that the end of the run interrupted (the stop
// is seen between calls, so that a slow monitor does not hold up the next
// run); it does not count.
var errStopped = errors.New("stopped")

func liveMonitorOnce(bin, file string, o MonitorOptions, a *arranger, seed uint64) (monitorRun, error) {
	var run monitorRun
	cpu := -1
	if !a.plain {
		cpu = a.writerCPU
	}
	cmd := exec.Command(bin, strconv.Itoa(o.RegionMB), strconv.FormatInt(o.Duration.Milliseconds(), 10),
		strconv.FormatInt(o.Pause.Nanoseconds(), 10), strconv.Itoa(cpu), strconv.FormatUint(seed, 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return run, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return run, err
	}
	if err := cmd.Start(); err != nil {
		return run, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewReader(outPipe)
	if l, err := out.ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		return run, fmt.Errorf("child: %q %v (vm.max_map_count?)", l, err)
	}
	pid := cmd.Process.Pid
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	if file == "query" {
		path = procfs.MapsPath(pid)
	}
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		ready sync.WaitGroup
		reads atomic.Int64
		mu    sync.Mutex
		oerr  error
	)
	if file != "none" {
		for i := 0; i < o.Monitors; i++ {
			wg.Add(1)
			ready.Add(1)
			go func() {
				defer wg.Done()
				preempted := a.monitorThread() // never unlocked: an arranged thread ends with its goroutine
				f, err := os.Open(path)
				ready.Done()
				if err != nil {
					mu.Lock()
					oerr = err
					mu.Unlock()
					return
				}
				defer f.Close()
				buf := make([]byte, 64<<10)
				var times readTimes
				defer func() {
					n := preempted()
					mu.Lock()
					run.readMax = max(run.readMax, times.longest)
					run.preemptions += n
					run.slowReads = append(run.slowReads, times.slow...)
					mu.Unlock()
				}()
				// Only whole readings count; a failed one (the child has
				// exited: ESRCH) ends this monitor.
				for !stop.Load() {
					if readWhole(f, file, buf, &times, &stop) != nil {
						return
					}
					reads.Add(1)
				}
			}()
		}
	}
	ready.Wait()
	if oerr != nil {
		stop.Store(true)
		wg.Wait()
		return run, oerr
	}
	t0 := time.Now()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		return run, err
	}
	line, err := out.ReadString('\n')
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return run, fmt.Errorf("child result: %w", err)
	}
	var n int64
	var secs float64
	var p50, p99, p999, max int64
	if _, err := fmt.Sscan(line, &n, &secs, &p50, &p99, &p999, &max); err != nil {
		return run, fmt.Errorf("child result %q: %w", line, err)
	}
	if run.slowCalls, err = parseSlow(out); err != nil {
		return run, err
	}
	run.ops = float64(n) / secs
	run.p50, run.p99, run.p999, run.max = time.Duration(p50), time.Duration(p99), time.Duration(p999), time.Duration(max)
	run.reads = float64(reads.Load()) / elapsed.Seconds()
	return run, nil
}

// parseSlow reads the child's second result line: the number of calls over
// 1 ms, then each one's start and end on CLOCK_MONOTONIC.
func parseSlow(out *bufio.Reader) ([]interval, error) {
	line, err := out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("child slow calls: %w", err)
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, fmt.Errorf("child slow calls: empty line")
	}
	k, err := strconv.Atoi(f[0])
	if err != nil || len(f) != 1+2*k {
		return nil, fmt.Errorf("child slow calls %q", line)
	}
	slow := make([]interval, k)
	for i := range slow {
		a, err1 := strconv.ParseInt(f[1+2*i], 10, 64)
		b, err2 := strconv.ParseInt(f[2+2*i], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("child slow calls %q", line)
		}
		slow[i] = interval{a, b}
	}
	return slow, nil
}
