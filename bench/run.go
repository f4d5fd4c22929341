package bench

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"specvma/mm"
	"specvma/uprobes"
)

// Result is a measured row: the row's own keys, then what was measured.
// docs/bench-json.md documents every key and its unit.
type Result struct {
	Row
	HitsPerSec   float64           `json:"hits_per_sec"`
	PerTask      float64           `json:"hits_per_sec_per_task"`
	NsPerHit     float64           `json:"ns_per_hit"`
	FastPathPct  float64           `json:"fast_path_pct"`
	Fallbacks    map[string]uint64 `json:"fallbacks"`
	AllocsPerHit float64           `json:"allocs_per_hit"`
	WriterOps    float64           `json:"writer_ops_per_sec"`
	WriterP50    float64           `json:"writer_p50_ns"`
	WriterP99    float64           `json:"writer_p99_ns"`
	Runs         []float64         `json:"runs_hits_per_sec"`
	Missed       uint64            `json:"missed_hits"`
}

// hitter is one task's hit loop body.
type hitter interface {
	hit() bool
	close()
}

type taskHitter struct {
	t   *uprobes.Task
	ret bool
}

func (h *taskHitter) hit() bool {
	r := h.t.Hit(probeAddr)
	if h.ret {
		h.t.Return()
	}
	return r.Outcome == uprobes.Fired
}

func (h *taskHitter) close() { h.t.Exit() }

type baseHitter struct{ t *baselineTask }

func (h *baseHitter) hit() bool { return h.t.hit(probeAddr) }
func (h *baseHitter) close() {
	if h.t.rd != nil {
		h.t.rd.Close()
	}
}

// setup is a row's world plus what its tasks and writer use.
type setup struct {
	w     *world
	strat mm.Strategy
	base  index // nil for strategies
	tasks []*uprobes.Task
}

func newSetup(r Row) (*setup, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	w, err := newWorld(r.VMAs, r.Workload == UretprobeNop)
	if err != nil {
		return nil, err
	}
	s := &setup{w: w}
	if r.Strategy.Baseline() {
		s.base = newIndex(r.Strategy, spansOf(w.as))
		return s, nil
	}
	s.strat, _ = r.Strategy.mm()
	return s, nil
}

func (s *setup) newHitter(r Row) hitter {
	if s.base != nil {
		t := &baselineTask{as: s.w.as, idx: s.base.forTask(), reg: s.w.sys.Registry()}
		if r.Strategy != Unsync {
			t.rd = s.w.sys.Registry().RCU().NewReader()
		}
		return &baseHitter{t}
	}
	t := s.w.sys.NewTask(s.w.as, s.strat)
	s.tasks = append(s.tasks, t)
	return &taskHitter{t: t, ret: r.Workload == UretprobeNop}
}

// measure runs one timed window of r and returns hits/s, writer latencies
// and writer op count.
func (s *setup) measure(r Row, d time.Duration) (hitsPerSec float64, lat []time.Duration, ops int, wrong uint64) {
	hs := make([]hitter, r.Tasks)
	for i := range hs {
		hs[i] = s.newHitter(r)
	}
	// Tasks are pinned only without a writer: a goroutine locked to its
	// thread pays a thread handoff each time it blocks on the mmap lock,
	// which would measure Go's scheduler rather than the protocol.
	churning := r.churning()
	var stop atomic.Bool
	var start, wg sync.WaitGroup
	start.Add(1)
	counts := make([]uint64, r.Tasks)
	misses := make([]uint64, r.Tasks)
	for i, h := range hs {
		wg.Add(1)
		go func(i int, h hitter) {
			defer wg.Done()
			if !churning {
				pinToCPU(i) // task i on CPU i, as trig-uprobe-nop runs with -a
			}
			start.Wait()
			var n, miss uint64
			for n == 0 || !stop.Load() { // at least one batch, however late it starts
				for k := 0; k < 64; k++ {
					if !h.hit() {
						miss++
					}
				}
				n += 64
			}
			counts[i], misses[i] = n, miss
		}(i, h)
	}
	var wdone sync.WaitGroup
	if churning {
		wdone.Add(1)
		go func() {
			defer wdone.Done()
			start.Wait()
			lat = s.churn(r, &stop)
		}()
	}
	t0 := time.Now()
	start.Done()
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(t0)
	wdone.Wait()
	var total uint64
	for i := range counts {
		total += counts[i]
		wrong += misses[i]
	}
	for _, h := range hs {
		h.close()
	}
	return float64(total) / elapsed.Seconds(), lat, len(lat), wrong
}

// allocsPerHit counts heap allocations over n hits on one fresh task.
func (s *setup) allocsPerHit(r Row, n int) float64 {
	h := s.newHitter(r)
	defer h.close()
	for i := 0; i < 100; i++ {
		h.hit()
	}
	// The counter is process-wide: the runtime's own work (threads that
	// pinned tasks left behind exiting) can land in a window, so the least
	// of a few windows is the hit path's figure.
	best := -1.0
	for try := 0; try < 3 && best != 0; try++ {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		for i := 0; i < n; i++ {
			h.hit()
		}
		runtime.ReadMemStats(&b)
		if x := float64(b.Mallocs-a.Mallocs) / float64(n); best < 0 || x < best {
			best = x
		}
	}
	return best
}

// Run measures r: count windows of d each; the reported throughput is their
// median.
func Run(r Row, d time.Duration, count int) (Result, error) {
	res, err := RunAll([]Row{r}, d, count, nil)
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

// RunAll measures rows in rounds: each round runs one window of d for every
// row, in order, and there are count rounds. Interleaving spreads whatever
// else the machine is doing over all rows alike, so ratios between rows
// measured in one run stay meaningful on a noisy machine; each row reports
// the median of its windows. progress, if set, is called after each window.
func RunAll(rows []Row, d time.Duration, count int, progress func(Row)) ([]Result, error) {
	setups := make([]*setup, len(rows))
	defer func() {
		for _, s := range setups {
			if s != nil {
				s.w.close()
			}
		}
	}()
	for i, r := range rows {
		s, err := newSetup(r)
		if err != nil {
			return nil, fmt.Errorf("%+v: %w", r, err)
		}
		setups[i] = s
	}
	acc := make([]rowAcc, len(rows))
	for round := 0; round < count; round++ {
		for i, r := range rows {
			hps, lat, ops, missed := setups[i].measure(r, d)
			a := &acc[i]
			a.runs = append(a.runs, hps)
			a.lat = append(a.lat, lat...)
			a.ops += ops
			a.busy += d
			a.missed += missed
			if progress != nil {
				progress(r)
			}
		}
	}
	out := make([]Result, len(rows))
	for i, r := range rows {
		out[i] = setups[i].result(r, &acc[i])
	}
	return out, nil
}

// rowAcc accumulates a row's windows.
type rowAcc struct {
	runs   []float64
	lat    []time.Duration
	ops    int
	busy   time.Duration
	missed uint64
}

// result turns a row's windows into its Result.
func (s *setup) result(r Row, a *rowAcc) Result {
	res := Result{Row: r, Fallbacks: map[string]uint64{}, Runs: a.runs, Missed: a.missed}
	res.HitsPerSec = median(res.Runs)
	res.PerTask = res.HitsPerSec / float64(r.Tasks)
	if res.PerTask > 0 {
		res.NsPerHit = 1e9 / res.PerTask
	}
	var fast, trapped uint64
	for _, t := range s.tasks {
		st := t.Stats()
		fast += st.FastPath
		trapped += st.FastPath
		for i := mm.Fallback(1); i < mm.NumFallbacks; i++ {
			if st.Fallbacks[i] > 0 {
				res.Fallbacks[i.String()] += st.Fallbacks[i]
				trapped += st.Fallbacks[i]
			}
		}
	}
	// fast% is the share of hits resolved without the address space's
	// lock, for every row alike: locked and the RWMutex baselines take it
	// on every hit, unsync has none to take.
	switch {
	case r.Strategy == Locked, r.Strategy == RWMutexBTree, r.Strategy == RWMutexSnapshot:
		res.FastPathPct = 0
	case trapped > 0:
		res.FastPathPct = 100 * float64(fast) / float64(trapped)
	default:
		res.FastPathPct = 100
	}
	if lat := a.lat; len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		res.WriterOps = float64(a.ops) / a.busy.Seconds()
		res.WriterP50 = float64(lat[len(lat)/2])
		res.WriterP99 = float64(lat[len(lat)*99/100])
	}
	res.AllocsPerHit = s.allocsPerHit(r, 2000)
	return res
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
