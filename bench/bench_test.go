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

func allNames() []string {
	var out []string
	for _, s := range Strategies {
		out = append(out, s.Name)
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
	for _, name := range allNames() {
		b.Run(name, func(b *testing.B) { benchHits(b, Row{"uprobe-nop", name, 1, 1000, "none", 0}) })
	}
}

func BenchmarkUprobeNopParallel(b *testing.B) {
	for _, name := range allNames() {
		if name == "unsync" {
			continue
		}
		b.Run(name, func(b *testing.B) { benchHits(b, Row{"uprobe-nop", name, 2, 1000, "none", 0}) })
	}
}

func BenchmarkUretprobeNop(b *testing.B) {
	for _, name := range []string{"locked", "mmseq", "vmaseq", "vmalock"} {
		b.Run(name, func(b *testing.B) { benchHits(b, Row{"uretprobe-nop", name, 1, 1000, "none", 0}) })
	}
}

func BenchmarkVMAs(b *testing.B) {
	for _, v := range []int{16, 1000, 100000} {
		for _, name := range []string{"mmseq", "vmaseq", "vmalock", "unsync"} {
			b.Run(fmt.Sprintf("%s/vmas=%d", name, v), func(b *testing.B) { benchHits(b, Row{"uprobe-nop", name, 1, v, "none", 0}) })
		}
	}
}

// TestRowsFire runs every strategy and baseline briefly and checks what the
// bench reports, not how fast: every hit fires, nothing allocates on the
// fast path, and without a writer nothing falls back.
func TestRowsFire(t *testing.T) {
	for _, w := range []string{"uprobe-nop", "uretprobe-nop"} {
		for _, name := range allNames() {
			if w == "uretprobe-nop" && isBaseline(name) {
				continue
			}
			r := Row{w, name, 1, 64, "none", 0}
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
			if !isBaseline(name) && (res.FastPathPct != 100 || len(res.Fallbacks) != 0) {
				t.Errorf("%+v: fast path %.2f%%, fallbacks %v without churn", r, res.FastPathPct, res.Fallbacks)
			}
		}
	}
}

// TestChurnRows runs each churn kind with each strategy under -race: the
// writers and the tasks share the address space and the registry.
func TestChurnRows(t *testing.T) {
	for _, c := range Churns[1:] {
		for _, name := range []string{"locked", "mmseq", "vmaseq", "vmalock", "rwmutex-btree", "rwmutex-snapshot"} {
			if isBaseline(name) && c != "unrelated" {
				continue
			}
			r := Row{"uprobe-nop", name, 1, 64, c, 20000}
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
		seen[r.Strategy+"/"+r.Churn] = true
		if r.Strategy == "unsync" && (r.Tasks != 1 || r.Churn != "none") {
			t.Errorf("unsync row with %d tasks, churn %s", r.Tasks, r.Churn)
		}
	}
	for _, want := range []string{"mmseq/none", "vmaseq/unrelated", "vmalock/same-vma", "locked/probes", "rwmutex-btree/unrelated", "unsync/none"} {
		if !seen[want] {
			t.Errorf("default plan lacks %s", want)
		}
	}
	only := Plan{Tasks: []int{1}, VMAs: []int{16}, Rates: []int{1000}, Strategies: []string{"mmseq"}, Churns: []string{"none"}}.Rows()
	for _, r := range only {
		if r.Strategy != "mmseq" || r.Churn != "none" {
			t.Errorf("filtered plan has %+v", r)
		}
	}
}

func TestReportOutputs(t *testing.T) {
	rep := NewReport()
	for _, r := range []Row{
		{"uprobe-nop", "mmseq", 1, 16, "none", 0}, {"uprobe-nop", "mmseq", 2, 1000, "none", 0},
		{"uprobe-nop", "mmseq", 1, 1000, "none", 0}, {"uprobe-nop", "vmaseq", 1, 1000, "unrelated", 1000},
	} {
		res, err := Run(r, 5*time.Millisecond, 1)
		if err != nil {
			t.Fatal(err)
		}
		rep.Results = append(rep.Results, res)
	}
	var b strings.Builder
	rep.WriteTable(&b)
	rep.WriteChecks(&b)
	if !strings.Contains(b.String(), "vmaseq") || !strings.Contains(b.String(), "Targets") {
		t.Errorf("table:\n%s", b.String())
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil || len(back.Results) != len(rep.Results) || back.Results[0].Strategy != "mmseq" {
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
