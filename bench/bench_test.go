package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The benchmark paths as `go test -bench` benchmarks, for benchstat:
//
//	go test -run=NONE -bench=. -count=10 ./bench | tee new.txt
//	benchstat old.txt new.txt

func allStrategies() []Strategy {
	var out []Strategy
	for i := range Strategies {
		out = append(out, Strategy(i+1))
	}
	return out
}

func benchHits(b *testing.B, r Row) {
	s, err := newSetup(r)
	if err != nil {
		b.Fatal(err)
	}
	defer s.w.close()
	if r.Tasks == 1 {
		h := s.newHitter(r)
		defer h.close()
		b.ReportAllocs()
		for b.Loop() {
			h.hit()
		}
		return
	}
	hs := make(chan hitter, 64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := s.newHitter(r)
		for pb.Next() {
			h.hit()
		}
		hs <- h
	})
	close(hs)
	for h := range hs {
		h.close()
	}
}

func BenchmarkUprobeNop(b *testing.B) {
	for _, name := range allStrategies() {
		b.Run(name.String(), func(b *testing.B) { benchHits(b, Row{UprobeNop, name, 1, 1000, NoChurn, 0}) })
	}
}

func BenchmarkUprobeNopParallel(b *testing.B) {
	for _, name := range allStrategies() {
		if name == Unsync {
			continue
		}
		b.Run(name.String(), func(b *testing.B) { benchHits(b, Row{UprobeNop, name, 2, 1000, NoChurn, 0}) })
	}
}

func BenchmarkUretprobeNop(b *testing.B) {
	for _, name := range Core {
		b.Run(name.String(), func(b *testing.B) { benchHits(b, Row{UretprobeNop, name, 1, 1000, NoChurn, 0}) })
	}
}

func BenchmarkVMAs(b *testing.B) {
	for _, v := range []int{16, 1000, 100000} {
		for _, name := range []Strategy{MMSeq, VMASeq, VMALock, Unsync} {
			b.Run(fmt.Sprintf("%s/vmas=%d", name, v), func(b *testing.B) { benchHits(b, Row{UprobeNop, name, 1, v, NoChurn, 0}) })
		}
	}
}

// TestRowsFire runs every strategy and baseline briefly and checks what the
// bench reports, not how fast: every hit fires, nothing allocates on the
// fast path, and without a writer nothing falls back.
func TestRowsFire(t *testing.T) {
	for _, w := range []Workload{UprobeNop, UretprobeNop} {
		for _, name := range allStrategies() {
			if w == UretprobeNop && name.Baseline() {
				continue
			}
			r := Row{w, name, 1, 64, NoChurn, 0}
			res, err := Run(r, 5*time.Millisecond, 1)
			if err != nil {
				t.Fatalf("%+v: %v", r, err)
			}
			if res.Missed != 0 || res.HitsPerSec <= 0 {
				t.Errorf("%+v: %d hits did not fire (%.0f hits/s)", r, res.Missed, res.HitsPerSec)
			}
			if res.AllocsPerHit != 0 {
				t.Errorf("%+v: %.3f allocations per hit, want 0", r, res.AllocsPerHit)
			}
			if !name.Baseline() && name != Locked && (res.FastPathPct != 100 || len(res.Fallbacks) != 0) {
				t.Errorf("%+v: fast path %.2f%%, fallbacks %v without churn", r, res.FastPathPct, res.Fallbacks)
			}
		}
	}
}

// TestChurnRows runs each churn kind with each strategy under -race: the
// writers and the tasks share the address space and the registry.
func TestChurnRows(t *testing.T) {
	for _, c := range []Churn{Unrelated, SameVMA, Probes} {
		for _, name := range []Strategy{Locked, MMSeq, VMASeq, VMALock, RWMutexBTree, RWMutexSnapshot} {
			if name.Baseline() && c != Unrelated {
				continue
			}
			r := Row{UprobeNop, name, 1, 64, c, 20000}
			res, err := Run(r, 20*time.Millisecond, 1)
			if err != nil {
				t.Fatalf("%+v: %v", r, err)
			}
			if res.Missed != 0 {
				t.Errorf("%+v: %d hits did not fire", r, res.Missed)
			}
			if res.WriterOps <= 0 {
				t.Errorf("%+v: the writer did nothing", r)
			}
		}
	}
}

func TestPlanRows(t *testing.T) {
	rows := DefaultPlan().Rows()
	seen := map[string]bool{}
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			t.Error(err)
		}
		seen[r.Strategy.String()+"/"+r.Churn.String()] = true
		if r.Strategy == Unsync && (r.Tasks != 1 || r.Churn != NoChurn) {
			t.Errorf("unsync row with %d tasks, churn %s", r.Tasks, r.Churn)
		}
	}
	for _, want := range []string{"mmseq/none", "vmaseq/unrelated", "vmalock/same-vma", "locked/probes", "rwmutex-btree/unrelated", "unsync/none"} {
		if !seen[want] {
			t.Errorf("default plan lacks %s", want)
		}
	}
	only := Plan{Tasks: []int{1}, VMAs: []int{16}, Rates: []int{1000}, Strategies: []Strategy{MMSeq}, Churns: []Churn{NoChurn}}.Rows()
	for _, r := range only {
		if r.Strategy != MMSeq || r.Churn != NoChurn {
			t.Errorf("filtered plan has %+v", r)
		}
	}
}

func TestReportOutputs(t *testing.T) {
	rep := NewReport()
	for _, r := range []Row{
		{UprobeNop, MMSeq, 1, 16, NoChurn, 0}, {UprobeNop, MMSeq, 2, 1000, NoChurn, 0},
		{UprobeNop, MMSeq, 1, 1000, NoChurn, 0}, {UprobeNop, VMASeq, 1, 1000, Unrelated, 1000},
	} {
		res, err := Run(r, 5*time.Millisecond, 1)
		if err != nil {
			t.Fatal(err)
		}
		rep.Results = append(rep.Results, res)
	}
	var b strings.Builder
	rep.Targets = rep.EvalTargets()
	rep.WriteTable(&b)
	rep.WriteTargets(&b)
	if !strings.Contains(b.String(), "vmaseq") || !strings.Contains(b.String(), "Targets") {
		t.Errorf("table:\n%s", b.String())
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil || len(back.Results) != len(rep.Results) || back.Results[0].Strategy != MMSeq {
		t.Fatalf("JSON round trip: %v %+v", err, back)
	}
	raw, _ := os.ReadFile(path)
	for _, key := range []string{`"hits_per_sec"`, `"fast_path_pct"`, `"fallbacks"`, `"allocs_per_hit"`, `"writer_ops_per_sec"`, `"writer_p50_ns"`, `"writer_p99_ns"`, `"cpus"`, `"go"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	files, err := rep.Plot(filepath.Join(dir, "plots"))
	if err != nil || len(files) == 0 {
		t.Fatalf("Plot: %v %v", files, err)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("chart %s: %v", f, err)
		}
	}
}
