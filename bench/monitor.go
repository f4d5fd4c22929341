package bench

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"specvma/mm"
	"specvma/procfs"
)

// The monitor experiment: a writer maps and unmaps a page at a set rate
// while monitors read the whole /proc/PID/maps of the same address space
// over and over, with each maps reader in turn. It asks what the readers
// cost the writer: with the mmap read lock held for each page (locked) the
// writer waits for a page to be rendered; with per-VMA locks (vmalock) or
// validated lockless copies (snapshot) it should not wait at all, and the
// snapshot reader pays in retries instead.

// MonitorOptions configure RunMonitor; zero fields take the defaults.
type MonitorOptions struct {
	Duration time.Duration `json:"duration"` // per reader (default 1s)
	Rate     int           `json:"rate"`     // writer mmap+munmap pairs per second (default 10000)
	Monitors int           `json:"monitors"` // concurrent monitors (default GOMAXPROCS-1, at least 1)
	VMAs     int           `json:"vmas"`     // VMAs in the address space (default 1000: about 12 pages of text)
	Runs     int           `json:"runs"`     // runs of each row, interleaved across rows (default 5)
	// GC leaves Go's garbage collector running during the timed runs. By
	// default it is off while a run is timed (a collection runs before
	// each run), so that the writer's maximum is not a collector pause:
	// the kernel's writer has no collector either.
	GC bool `json:"gc"`
}

func (o *MonitorOptions) defaults() {
	if o.Duration <= 0 {
		o.Duration = time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 10000
	}
	if o.Monitors <= 0 {
		// One CPU stays the writer's, as in the kernel's experiment where
		// the writer runs on its own CPU: with more busy monitors than
		// spare Ps the Go scheduler parks the writer for a whole 10 ms
		// preemption slice, and its latency measures the scheduler, not
		// the maps reader.
		o.Monitors = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if o.VMAs <= 0 {
		o.VMAs = 1000
	}
	if o.Runs <= 0 {
		o.Runs = 5
	}
}

// MonitorRow is one reader's runs: each figure is the median over the
// runs, except the counts, which are totals.
type MonitorRow struct {
	Reader        string            `json:"reader"`           // maps reader, or "none" for the writer alone
	WriterOps     float64           `json:"writer_ops"`       // mmap and munmap calls per second achieved
	WriterP50     time.Duration     `json:"writer_p50"`       // per-call latency, ns
	WriterP99     time.Duration     `json:"writer_p99"`       // ns
	WriterP999    time.Duration     `json:"writer_p999"`      // 99.9th percentile, ns
	WriterMax     time.Duration     `json:"writer_max"`       // median of the runs' slowest calls, ns
	WriterMaxRuns []time.Duration   `json:"writer_max_runs"`  // each run's slowest call, ns, in run order
	MonitorReads  float64           `json:"monitor_reads"`    // whole-maps reads per second, all monitors
	PageLocks     uint64            `json:"page_locks"`       // mmap read lock holds for whole pages (locked)
	Events        map[string]uint64 `json:"events,omitempty"` // retries and fallbacks by reason
}

// MonitorResult is the experiment's outcome.
type MonitorResult struct {
	Options MonitorOptions   `json:"options"`
	Rows    []MonitorRow     `json:"rows"`
	Live    []LiveMonitorRow `json:"live,omitempty"`
	LiveErr string           `json:"live_error,omitempty"`
}

// monitorBase is where the monitored VMAs start; the writer's page lies
// far above them.
const (
	monitorBase   = 0x100000000000
	monitorWriter = 0x300000000000
)

// RunMonitor runs the model experiment for no monitors and each reader,
// o.Runs times, the rows interleaved (one run of each, then again), so that
// a host that slows one stretch of time slows every row alike.
func RunMonitor(o MonitorOptions) (*MonitorResult, error) {
	o.defaults()
	res := &MonitorResult{Options: o}
	readers := append([]string{"none"}, names(procfs.Readers())...)
	runs := make([][]monitorRun, len(readers))
	for range o.Runs {
		for i, name := range readers {
			run, err := runMonitorOnce(o, name)
			if err != nil {
				return nil, err
			}
			runs[i] = append(runs[i], run)
		}
	}
	for i, name := range readers {
		res.Rows = append(res.Rows, summarise(name, runs[i]))
	}
	return res, nil
}

// monitorRun is one timed run of one row.
type monitorRun struct {
	ops, reads    float64
	p50, p99, max time.Duration
	p999          time.Duration
	pageLocks     uint64
	walk          mm.WalkStats
}

// summarise takes the median of each figure over the runs and totals the
// counts.
func summarise(reader string, runs []monitorRun) MonitorRow {
	row := MonitorRow{Reader: reader}
	med := func(f func(monitorRun) float64) float64 {
		vs := make([]float64, len(runs))
		for i, r := range runs {
			vs[i] = f(r)
		}
		return median(vs)
	}
	row.WriterOps = med(func(r monitorRun) float64 { return r.ops })
	row.MonitorReads = med(func(r monitorRun) float64 { return r.reads })
	row.WriterP50 = time.Duration(med(func(r monitorRun) float64 { return float64(r.p50) }))
	row.WriterP99 = time.Duration(med(func(r monitorRun) float64 { return float64(r.p99) }))
	row.WriterP999 = time.Duration(med(func(r monitorRun) float64 { return float64(r.p999) }))
	row.WriterMax = time.Duration(med(func(r monitorRun) float64 { return float64(r.max) }))
	var walk mm.WalkStats
	for _, r := range runs {
		row.WriterMaxRuns = append(row.WriterMaxRuns, r.max)
		row.PageLocks += r.pageLocks
		walk.Add(&r.walk)
	}
	for e, n := range walk {
		if n > 0 {
			if row.Events == nil {
				row.Events = map[string]uint64{}
			}
			row.Events[mm.WalkEvent(e).String()] = n
		}
	}
	return row
}

// MaxRatio is the median over the runs of the writer's maximum latency with
// reader's monitors divided by that with base's, the runs paired in order
// (each pair ran side by side). ok is false when either row is missing.
func (r *MonitorResult) MaxRatio(reader, base string) (ratio float64, ok bool) {
	a, b := r.row(reader), r.row(base)
	if a == nil || b == nil || len(a.WriterMaxRuns) != len(b.WriterMaxRuns) || len(a.WriterMaxRuns) == 0 {
		return 0, false
	}
	vs := make([]float64, len(a.WriterMaxRuns))
	for i := range vs {
		if b.WriterMaxRuns[i] <= 0 {
			return 0, false
		}
		vs[i] = float64(a.WriterMaxRuns[i]) / float64(b.WriterMaxRuns[i])
	}
	return median(vs), true
}

func (r *MonitorResult) row(reader string) *MonitorRow {
	for i := range r.Rows {
		if r.Rows[i].Reader == reader {
			return &r.Rows[i]
		}
	}
	return nil
}

func names(rs []procfs.Reader) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func monitorSpace(n int) (*mm.AddressSpace, error) {
	as := mm.New(mm.Config{})
	prot := mm.ProtRead | mm.ProtWrite
	for i := 0; i < n; i++ {
		if _, err := as.Mmap(monitorBase+uint64(i)*2*mm.PageSize, mm.PageSize, prot, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
			return nil, err
		}
		prot ^= mm.ProtWrite
	}
	return as, nil
}

func runMonitorOnce(o MonitorOptions, name string) (monitorRun, error) {
	var run monitorRun
	as, err := monitorSpace(o.VMAs)
	if err != nil {
		return run, err
	}
	defer as.Exit()
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		reads atomic.Int64
		mu    sync.Mutex
		stats procfs.ReadStats
	)
	if !o.GC {
		runtime.GC()
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
	}
	if rd, ok := procfs.ParseReader(name); ok {
		for i := 0; i < o.Monitors; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := procfs.OpenMaps(as, rd)
				buf := make([]byte, procfs.PageSize)
				for !stop.Load() {
					f.Rewind()
					for {
						if _, err := f.Read(buf); err != nil {
							break
						}
					}
					reads.Add(1)
				}
				mu.Lock()
				stats.PageLocks += f.Stats.PageLocks
				stats.Walk.Add(&f.Stats.Walk)
				mu.Unlock()
			}()
		}
	}
	lat, elapsed, err := paceWriter(as, o.Rate, o.Duration)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return run, err
	}
	run.ops = float64(len(lat)) / elapsed.Seconds()
	run.p50, run.p99, run.p999, run.max = percentiles(lat)
	run.reads = float64(reads.Load()) / elapsed.Seconds()
	run.pageLocks = stats.PageLocks
	run.walk = stats.Walk
	return run, nil
}

// paceWriter maps and unmaps one page rate times a second for d, timing
// each call. It sleeps while the next call is far off and yields while it
// is near, so that it keeps its schedule without starving the monitors.
func paceWriter(as *mm.AddressSpace, rate int, d time.Duration) ([]time.Duration, time.Duration, error) {
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, 0, 2*int(d/interval)+2)
	start := time.Now()
	next := start
	for {
		now := time.Now()
		if now.Sub(start) >= d {
			return lat, now.Sub(start), nil
		}
		if wait := next.Sub(now); wait > 0 {
			if wait > 200*time.Microsecond {
				time.Sleep(wait - 100*time.Microsecond)
			} else {
				runtime.Gosched()
			}
			continue
		}
		next = next.Add(interval)
		t0 := time.Now()
		if _, err := as.Mmap(monitorWriter, mm.PageSize, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
			return nil, 0, err
		}
		t1 := time.Now()
		if err := as.Munmap(monitorWriter, mm.PageSize); err != nil {
			return nil, 0, err
		}
		t2 := time.Now()
		lat = append(lat, t1.Sub(t0), t2.Sub(t1))
	}
}

// percentiles returns the median, the 99th and 99.9th percentiles and the
// maximum.
func percentiles(lat []time.Duration) (p50, p99, p999, max time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100], s[len(s)*999/1000], s[len(s)-1]
}

// WriteTable prints the rows, and the live rows if any.
func (r *MonitorResult) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reader\twriter ops/s\tp50\tp99\tp99.9\tmax\tmonitor reads/s\tpage locks\tretries, fallbacks\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%v\t%v\t%.0f\t%d\t%s\t\n", row.Reader, row.WriterOps,
			row.WriterP50, row.WriterP99, row.WriterP999, row.WriterMax, row.MonitorReads, row.PageLocks, formatEvents(row.Events))
	}
	tw.Flush()
	gc := "off while timed"
	if r.Options.GC {
		gc = "on"
	}
	fmt.Fprintf(w, "(medians of %d runs of %v each, rows interleaved; %d monitor(s), GOMAXPROCS %d, Go's collector %s)\n",
		r.Options.Runs, r.Options.Duration, r.Options.Monitors, runtime.GOMAXPROCS(0), gc)
	for _, row := range r.Rows {
		if row.Reader != "none" && len(row.WriterMaxRuns) > 0 {
			fmt.Fprintf(w, "  %s: writer max per run %v\n", row.Reader, row.WriterMaxRuns)
		}
	}
	if len(r.Live) > 0 {
		fmt.Fprintln(w, "\nlive kernel: a child process times its own mmap/munmap while monitors read its maps")
		writeLiveMonitor(w, r.Live)
	} else if r.LiveErr != "" {
		fmt.Fprintln(w, "\nlive kernel: skipped:", r.LiveErr)
	}
}

func formatEvents(ev map[string]uint64) string {
	if len(ev) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, ev[k])
	}
	return strings.Join(parts, " ")
}

// Monitor reports whether the plan runs the monitor workload: when it is
// asked for, or when nothing is filtered.
func (p Plan) Monitor() bool {
	if len(p.Workloads) == 0 {
		return len(p.Strategies) == 0 && len(p.Churns) == 0
	}
	return slices.Contains(p.Workloads, Monitor)
}
