package bench

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// The monitor experiment, after the kernel's proc-mmap_sem test (the one
// behind the per-VMA maps patches' figure): a writer unmaps and remaps
// random 4 KiB pages of a 128 MB region, sleeping 10 µs between calls, and
// times each call, while monitors read the whole maps of the same address
// space over and over, with each maps reader in turn. In the test's
// arrangement (arrange.go) the monitors run at low priority beside
// CPU-bound busy tasks of higher priority, so the scheduler preempts them,
// sometimes while they hold a lock the writer needs: the writer's maximum
// latency is then a scheduler slice with the locked reader (the mmap read
// lock held for a page) and only rarely with the per-VMA reader (one VMA's
// lock held, which the writer needs only when it changes that VMA). The
// plain setting (no busy tasks, nothing pinned, no priorities) runs the
// same rows without that preemption. Both run in the model and on the live
// kernel.

// MonitorOptions configure RunMonitor. Start from DefaultMonitorOptions:
// zero is a meaningful value of several fields.
type MonitorOptions struct {
	Duration   time.Duration `json:"duration"`    // each run (one row, one setting)
	Runs       int           `json:"runs"`        // runs of each row, interleaved across rows
	Monitors   int           `json:"monitors"`    // concurrent monitors (the test's scanners: a pair)
	RegionMB   int           `json:"region_mb"`   // the writer's region, MiB (the test's 128)
	Pause      time.Duration `json:"pause"`       // the writer's sleep after each call (the test's 10 µs)
	Busy       int           `json:"busy"`        // busy tasks (--nbusytasks); 0: the plain setting only
	BusyPeriod time.Duration `json:"busy_period"` // CPU-bound stretch of a busy task, then 1 ms asleep (--busyduration); 0: no sleep
	Nice       int           `json:"nice"`        // the monitors' nice value (the test's 15)
	BusyNice   int           `json:"busy_nice"`   // the busy tasks' nice value, below Nice
	Files      []string      `json:"files"`       // the live monitors' files: maps, query (PROCMAP_QUERY), smaps
	Plain      bool          `json:"plain"`       // also run the plain setting after the arranged one
	Live       bool          `json:"live"`        // also run the live kernel rows (needs gcc)
	// GC leaves Go's garbage collector running during the timed runs. By
	// default it is off while a run is timed (a collection runs before
	// each run), so that the writer's maximum is not a collector pause:
	// the kernel's writer has no collector either.
	GC bool `json:"gc"`
}

// LiveFiles are the files the live monitors can read: the maps text
// (per-VMA locks since 6.17), a PROCMAP_QUERY walk (per-VMA locks), and
// smaps (the mmap read lock for each page of output, as maps before 6.17,
// with a page-table walk per VMA besides).
var LiveFiles = []string{"maps", "query", "smaps"}

// DefaultMonitorOptions are the test's settings: a pair of monitors and a
// pair of busy tasks, busy for 2 ms then asleep for 1 ms, monitors at
// nice 15. The busy tasks run at nice 10: still above the monitors, which
// is what the test needs, and gentler on a shared machine than the test's
// nice 0 (-monitor-busy-nice 0 runs that).
func DefaultMonitorOptions() MonitorOptions {
	return MonitorOptions{Duration: 400 * time.Millisecond, Runs: 5, Monitors: 2, RegionMB: 128,
		Pause: 10 * time.Microsecond, Busy: 2, BusyPeriod: 2 * time.Millisecond, Nice: 15, BusyNice: 10,
		Files: slices.Clone(LiveFiles), Plain: true, Live: true}
}

// Validate reports every bad option, naming the bench flag that sets it.
func (o MonitorOptions) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.Duration <= 0 {
		bad("-monitor-duration: %v is not positive", o.Duration)
	}
	if o.Runs < 1 {
		bad("-count: %d monitor runs: at least 1", o.Runs)
	}
	if o.Monitors < 1 || o.Monitors > 64 {
		bad("-monitors: %d: between 1 and 64", o.Monitors)
	}
	if o.RegionMB < 1 || o.RegionMB > 1<<20 {
		bad("-monitor-region: %d MiB: between 1 and %d", o.RegionMB, 1<<20)
	}
	if o.Pause < 0 {
		bad("-monitor-pause: %v is negative", o.Pause)
	}
	if o.Busy < 0 || o.Busy > 64 {
		bad("-monitor-busy: %d: between 0 and 64", o.Busy)
	}
	if o.BusyPeriod < 0 {
		bad("-monitor-busy-duration: %v is negative", o.BusyPeriod)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"-monitor-nice", o.Nice}, {"-monitor-busy-nice", o.BusyNice}} {
		if n.v < -20 || n.v > 19 {
			bad("%s: %d: a nice value is between -20 and 19", n.flag, n.v)
		}
	}
	if o.Busy > 0 && o.BusyNice >= o.Nice {
		bad("-monitor-busy-nice %d is not below -monitor-nice %d: the busy tasks must outrank the monitors", o.BusyNice, o.Nice)
	}
	if len(o.Files) == 0 && o.Live {
		bad("-monitor-files: empty: name some of %s", strings.Join(LiveFiles, ","))
	}
	for i, f := range o.Files {
		if !slices.Contains(LiveFiles, f) {
			bad("-monitor-files: unknown file %q: want some of %s", f, strings.Join(LiveFiles, ","))
		} else if slices.Index(o.Files, f) != i {
			bad("-monitor-files: %s named twice", f)
		}
	}
	return errors.Join(errs...)
}

// MonitorRow is one reader's (or, live, one file's) runs: each figure is
// the median over the runs, except the counts, which are totals.
type MonitorRow struct {
	Reader        string            `json:"reader"`              // maps reader or live file, or "none" for the writer alone
	WriterOps     float64           `json:"writer_ops"`          // mmap and munmap calls per second achieved
	WriterP50     time.Duration     `json:"writer_p50"`          // per-call latency, ns
	WriterP99     time.Duration     `json:"writer_p99"`          // ns
	WriterP999    time.Duration     `json:"writer_p999"`         // 99.9th percentile, ns
	WriterMax     time.Duration     `json:"writer_max"`          // median of the runs' slowest calls, ns
	WriterMaxRuns []time.Duration   `json:"writer_max_runs"`     // each run's slowest call, ns, in run order
	MonitorReads  float64           `json:"monitor_reads"`       // whole-file reads per second, all monitors
	MonitorRead   time.Duration     `json:"monitor_read_max"`    // median of the runs' longest single read (a page of text, one PROCMAP_QUERY), ns
	Preemptions   uint64            `json:"monitor_preemptions"` // the monitors' involuntary context switches, total (arranged settings only)
	SlowCalls     int               `json:"writer_slow_calls"`   // the writer's calls over 1 ms, total
	SlowCovered   int               `json:"writer_slow_covered"` // of those, the ones that overlapped a monitor's read of over 1 ms
	PageLocks     uint64            `json:"page_locks"`          // mmap read lock holds for whole pages (model's locked)
	Events        map[string]uint64 `json:"events,omitempty"`    // retries and fallbacks by reason (model)
}

// MonitorSetting is one setting's rows: the arrangement as read back, the
// model's rows, and the live kernel's.
type MonitorSetting struct {
	Arrangement Arrangement  `json:"arrangement"`
	Rows        []MonitorRow `json:"rows"`
	Live        []MonitorRow `json:"live,omitempty"`
	LiveErr     string       `json:"live_error,omitempty"`
}

// MonitorResult is the experiment's outcome: the setting the options ask
// for (arranged, or plain when Busy is 0), and the plain setting beside it
// when Options.Plain.
type MonitorResult struct {
	Options MonitorOptions `json:"options"`
	MonitorSetting
	Plain *MonitorSetting `json:"plain,omitempty"`
}

// monitorBase is where the writer's region starts.
const monitorBase = 0x100000000000

// RunMonitor runs the experiment: each setting's model rows (no monitors,
// then each reader), o.Runs times, the rows interleaved (one run of each,
// then again) so that a host that slows one stretch of time slows every
// row alike; then the live rows likewise. Run k of every row makes the
// same random calls.
func RunMonitor(o MonitorOptions) (*MonitorResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	res := &MonitorResult{Options: o}
	main, err := runSetting(o, false)
	if err != nil {
		return nil, err
	}
	res.MonitorSetting = main
	if o.Plain && !main.Arrangement.Plain {
		plain, err := runSetting(o, true)
		if err != nil {
			return nil, err
		}
		res.Plain = &plain
	}
	return res, nil
}

func runSetting(o MonitorOptions, plain bool) (MonitorSetting, error) {
	var s MonitorSetting
	a := newArranger(o, plain)
	a.start()
	defer a.stop()
	readers := append([]string{"none"}, names(procfs.Readers())...)
	runs := make([][]monitorRun, len(readers))
	for k := range o.Runs {
		// One region per round of rows (building it costs as much as a
		// short run): each row's writer leaves it as fragmented as it
		// found it, its pages mapped or not with even odds.
		as, err := mapperSpace(o.RegionMB, rand.New(rand.NewPCG(uint64(k), 1)))
		if err != nil {
			return s, err
		}
		for i, name := range readers {
			run, err := runModelOnce(o, a, as, name, rand.New(rand.NewPCG(uint64(k), 2)))
			if err != nil {
				as.Exit()
				return s, fmt.Errorf("monitor %s: %w", name, err)
			}
			runs[i] = append(runs[i], run)
		}
		as.Exit()
	}
	for i, name := range readers {
		s.Rows = append(s.Rows, summarise(name, runs[i]))
	}
	if o.Live {
		if live, err := runLiveMonitor(o, a); err != nil {
			s.LiveErr = err.Error()
		} else {
			s.Live = live
		}
	}
	s.Arrangement = a.result()
	return s, nil
}

// monitorRun is one timed run of one row.
type monitorRun struct {
	ops, reads    float64
	p50, p99, max time.Duration
	p999          time.Duration
	readMax       time.Duration // the monitors' longest single read
	slowReads     []interval    // the monitors' reads over slowMark
	slowCalls     []interval    // the writer's calls over slowMark
	preemptions   uint64
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
	row.MonitorRead = time.Duration(med(func(r monitorRun) float64 { return float64(r.readMax) }))
	var walk mm.WalkStats
	for _, r := range runs {
		row.WriterMaxRuns = append(row.WriterMaxRuns, r.max)
		row.PageLocks += r.pageLocks
		row.Preemptions += r.preemptions
		row.SlowCalls += len(r.slowCalls)
		row.SlowCovered += covered(r.slowCalls, r.slowReads)
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
// (each pair ran side by side), in the model rows of the main setting. ok
// is false when either row is missing.
func (r *MonitorResult) MaxRatio(reader, base string) (ratio float64, ok bool) {
	return maxRatio(r.Rows, reader, base)
}

// LiveMaxRatio is MaxRatio for the main setting's live rows (files).
func (r *MonitorResult) LiveMaxRatio(file, base string) (ratio float64, ok bool) {
	return maxRatio(r.Live, file, base)
}

func maxRatio(rows []MonitorRow, reader, base string) (float64, bool) {
	a, b := findRow(rows, reader), findRow(rows, base)
	if a == nil || b == nil {
		return 0, false
	}
	return ratio(a.WriterMaxRuns, b.WriterMaxRuns)
}

func findRow(rows []MonitorRow, reader string) *MonitorRow {
	for i := range rows {
		if rows[i].Reader == reader {
			return &rows[i]
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

// mapperSpace builds the writer's region: RegionMB of anonymous memory
// mapped write-only in one call, as the test's mapper maps it, then each
// page unmapped with probability 1/2. That is the state the mapper's loop
// converges to (every page's state is that of the last call that chose it,
// a map or an unmap with even odds), reached without running for seconds
// first: about a quarter as many VMAs as pages.
func mapperSpace(regionMB int, rng *rand.Rand) (*mm.AddressSpace, error) {
	as := mm.New(mm.Config{})
	pages := uint64(regionMB) << 20 / mm.PageSize
	if _, err := as.Mmap(monitorBase, pages*mm.PageSize, mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed|mm.MapPopulate, nil, 0); err != nil {
		return nil, err
	}
	for p := uint64(0); p < pages; p++ {
		if rng.Uint64()&1 == 0 {
			if err := as.Munmap(monitorBase+p*mm.PageSize, mm.PageSize); err != nil {
				return nil, err
			}
		}
	}
	return as, nil
}

// mapperCall is the writer's next call, as the test's mapper chooses it: a
// random page of the region, remapped (MAP_FIXED) or unmapped with even
// odds.
func mapperCall(as *mm.AddressSpace, pages uint64, rng *rand.Rand) error {
	addr := monitorBase + rng.Uint64N(pages)*mm.PageSize
	if rng.Uint64()&8 != 0 {
		_, err := as.Mmap(addr, mm.PageSize, mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed|mm.MapPopulate, nil, 0)
		return err
	}
	return as.Munmap(addr, mm.PageSize)
}

func runModelOnce(o MonitorOptions, a *arranger, as *mm.AddressSpace, name string, rng *rand.Rand) (monitorRun, error) {
	var run monitorRun
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		ready sync.WaitGroup
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
			ready.Add(1)
			go func() {
				defer wg.Done()
				preempted := a.monitorThread() // never unlocked: an arranged thread ends with its goroutine
				ready.Done()
				f := procfs.OpenMaps(as, rd)
				buf := make([]byte, procfs.PageSize)
				var readMax time.Duration
				var slow []interval
				// Only whole readings count; the stop is seen between
				// pages, so that a slow monitor does not hold up the next
				// run.
				for !stop.Load() {
					f.Rewind()
					for !stop.Load() {
						t0 := time.Now()
						_, err := f.Read(buf)
						d := time.Since(t0)
						readMax = max(readMax, d)
						if d > slowMark {
							slow = append(slow, since(t0, d))
						}
						if err != nil {
							reads.Add(1)
							break
						}
					}
				}
				n := preempted()
				mu.Lock()
				stats.PageLocks += f.Stats.PageLocks
				stats.Walk.Add(&f.Stats.Walk)
				run.readMax = max(run.readMax, readMax)
				run.preemptions += n
				run.slowReads = append(run.slowReads, slow...)
				mu.Unlock()
			}()
		}
	}
	ready.Wait()
	type result struct {
		lat     []time.Duration
		slow    []interval
		elapsed time.Duration
		err     error
	}
	done := make(chan result)
	go func() {
		a.writerThread()
		pages := uint64(o.RegionMB) << 20 / mm.PageSize
		lat := make([]time.Duration, 0, 1<<16)
		var slow []interval
		start := time.Now()
		for time.Since(start) < o.Duration {
			t0 := time.Now()
			if err := mapperCall(as, pages, rng); err != nil {
				done <- result{err: err}
				return
			}
			d := time.Since(t0)
			lat = append(lat, d)
			if d > slowMark {
				slow = append(slow, since(t0, d))
			}
			pause(o.Pause)
		}
		done <- result{lat, slow, time.Since(start), nil}
	}()
	r := <-done
	stop.Store(true)
	wg.Wait()
	if r.err != nil {
		return run, r.err
	}
	run.ops = float64(len(r.lat)) / r.elapsed.Seconds()
	run.p50, run.p99, run.p999, run.max = percentiles(r.lat)
	run.slowCalls = r.slow
	run.reads = float64(reads.Load()) / r.elapsed.Seconds()
	run.pageLocks = stats.PageLocks
	run.walk = stats.Walk
	return run, nil
}

// slowMark is where a writer's call or a monitor's read counts as slow:
// the scale of the kernel's figure (0.5–3 ms before the per-VMA patches).
const slowMark = time.Millisecond

// interval is a stretch of time, in ns on one clock (start, end).
type interval struct{ start, end int64 }

// epoch is where the model's intervals count from (a monotonic reading).
var epoch = time.Now()

// since is the interval of d from t0 on the model's clock.
func since(t0 time.Time, d time.Duration) interval {
	s := int64(t0.Sub(epoch))
	return interval{s, s + int64(d)}
}

// covered counts the calls that overlap at least one of reads: a writer's
// slow call during a monitor's slow read is the writer waiting for a
// monitor that was descheduled mid-read, if the read held what it needed.
func covered(calls, reads []interval) int {
	n := 0
	for _, c := range calls {
		for _, r := range reads {
			if c.start < r.end && r.start < c.end {
				n++
				break
			}
		}
	}
	return n
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

// WriteTable prints each setting: its arrangement, the model rows, the
// live rows; then the ratios of the writer's maxima.
func (r *MonitorResult) WriteTable(w io.Writer) {
	o := r.Options
	gc := "off while timed"
	if o.GC {
		gc = "on"
	}
	fmt.Fprintf(w, "writer: random 4 KiB pages of a %d MiB region unmapped or remapped, %v asleep after each call; %d monitor(s); %d run(s) of %v per row, rows interleaved, medians shown; Go's collector %s\n",
		o.RegionMB, o.Pause, o.Monitors, o.Runs, o.Duration, gc)
	r.MonitorSetting.write(w, "")
	if r.Plain != nil {
		r.Plain.write(w, "plain ")
	}
	fmt.Fprintln(w, "\nwriter max ratios (median over runs of the paired per-run ratios):")
	for _, s := range []*MonitorSetting{&r.MonitorSetting, r.Plain} {
		if s == nil {
			continue
		}
		var parts []string
		add := func(label string, rows []MonitorRow, a, b string) {
			if v, ok := maxRatio(rows, a, b); ok {
				parts = append(parts, fmt.Sprintf("%s %s/%s %.3fx", label, a, b, v))
			}
		}
		add("model", s.Rows, "vmalock", "locked")
		add("model", s.Rows, "snapshot", "locked")
		add("live", s.Live, "maps", "smaps")
		add("live", s.Live, "query", "smaps")
		label := "arranged"
		if s.Arrangement.Plain {
			label = "plain"
		}
		fmt.Fprintf(w, "  %s: %s\n", label, strings.Join(parts, "; "))
	}
}

func (s *MonitorSetting) write(w io.Writer, prefix string) {
	fmt.Fprintf(w, "\n%ssetting: %s\n", prefix, s.Arrangement)
	fmt.Fprintln(w, "model:")
	writeMonitorRows(w, "reader", s.Rows, true, !s.Arrangement.Plain)
	if len(s.Live) > 0 {
		fmt.Fprintln(w, "live kernel: a C child (the mapper) times its own calls while monitors read its /proc/PID/maps, walk it with PROCMAP_QUERY, or read its smaps:")
		writeMonitorRows(w, "monitors", s.Live, false, !s.Arrangement.Plain)
	} else if s.LiveErr != "" {
		fmt.Fprintln(w, "live kernel: skipped:", s.LiveErr)
	}
}

// writeMonitorRows prints rows; the preemption column only where the
// monitors had threads of their own to count (arranged).
func writeMonitorRows(w io.Writer, first string, rows []MonitorRow, model, threads bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := first + "\twriter ops/s\tp50\tp99\tp99.9\tmax\tcalls >1ms (in a read >1ms)\tmonitor reads/s\tlongest read\tpreempted\t"
	if model {
		head += "page locks\tretries, fallbacks\t"
	}
	fmt.Fprintln(tw, head)
	for _, row := range rows {
		pre := "-"
		if threads && row.Reader != "none" {
			pre = fmt.Sprint(row.Preemptions)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%v\t%v\t%d (%d)\t%.0f\t%v\t%s\t", row.Reader, row.WriterOps,
			row.WriterP50, row.WriterP99, row.WriterP999, row.WriterMax, row.SlowCalls, row.SlowCovered, row.MonitorReads, row.MonitorRead, pre)
		if model {
			fmt.Fprintf(tw, "%d\t%s\t", row.PageLocks, formatEvents(row.Events))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, row := range rows {
		fmt.Fprintf(w, "  %s: writer max per run %v\n", row.Reader, row.WriterMaxRuns)
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
