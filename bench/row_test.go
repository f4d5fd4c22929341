package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRowJSONRoundTrip(t *testing.T) {
	r := Row{UretprobeNop, RWMutexSnapshot, 2, 1000, SameVMA, 100}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"workload":"uretprobe-nop","strategy":"rwmutex-snapshot","tasks":2,"vmas":1000,"churn":"same-vma","churn_rate":100}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back Row
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{`{"strategy":"fast"}`, `{"workload":""}`, `{"churn":"None"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "unknown") {
			t.Errorf("%s: error %v, want unknown ...", bad, err)
		}
	}
	if _, err := json.Marshal(Row{}); err == nil {
		t.Error("a zero Row marshalled: its workload has no name")
	}
	// Every name parses back to its value.
	for i, n := range Strategies {
		s, err := ParseStrategies(n.Name)
		if err != nil || len(s) != 1 || s[0] != Strategy(i+1) || s[0].String() != n.Name {
			t.Errorf("%s: %v %v", n.Name, s, err)
		}
	}
}

func TestRowValidate(t *testing.T) {
	ok := Row{UprobeNop, MMSeq, 1, 16, NoChurn, 0}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Row)
		want string
	}{
		{func(r *Row) { r.Workload = Live }, "has no rows"},
		{func(r *Row) { r.Strategy = 0 }, "no strategy"},
		{func(r *Row) { r.Tasks = 0 }, "tasks"},
		{func(r *Row) { r.VMAs = 1 }, "at least 2 VMAs"},
		{func(r *Row) { r.Strategy, r.Tasks = Unsync, 2 }, "one task"},
		{func(r *Row) { r.Strategy, r.Churn, r.Rate = Unsync, Unrelated, 10 }, "without a writer"},
		{func(r *Row) { r.Strategy, r.Workload = RWMutexBTree, UretprobeNop }, "return probes"},
		{func(r *Row) { r.Strategy, r.Churn, r.Rate = RWMutexBTree, Probes, 10 }, "only unrelated"},
		{func(r *Row) { r.Churn = Probes }, "rate"},
	} {
		r := ok
		tc.edit(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", r, err, tc.want)
		}
		if _, err := Run(r, time.Millisecond, 1); err == nil {
			t.Errorf("%+v: Run accepted an invalid row", r)
		}
	}
}

func TestPlanValidate(t *testing.T) {
	if err := DefaultPlan().Validate(); err != nil {
		t.Fatal(err)
	}
	p := DefaultPlan()
	p.Tasks, p.VMAs, p.Rounds, p.Window = []int{0}, nil, 0, 0
	err := p.Validate()
	for _, want := range []string{"tasks: 0 is less than 1", "vmas: empty list", "count", "duration"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	p = DefaultPlan()
	p.Strategies, p.Churns = []Strategy{Unsync}, []Churn{Probes}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Errorf("empty plan: %v", err)
	}
	p.Workloads = []Workload{Live}
	if err := p.Validate(); err != nil || !p.Live() {
		t.Errorf("live-only plan: %v, live %v", err, p.Live())
	}
}

// TestFastPathDefinition: fast% means the same for every row — the share
// of hits resolved without the address space's lock.
func TestFastPathDefinition(t *testing.T) {
	for s, want := range map[Strategy]float64{Locked: 0, RWMutexBTree: 0, RWMutexSnapshot: 0, Unsync: 100, MMSeq: 100, VMASeq: 100, VMALock: 100} {
		res, err := Run(Row{UprobeNop, s, 1, 16, NoChurn, 0}, 2*time.Millisecond, 1)
		if err != nil {
			t.Fatal(err)
		}
		if res.FastPathPct != want {
			t.Errorf("%v: fast%% %.1f, want %.0f", s, res.FastPathPct, want)
		}
	}
}

// TestPct: a row with any fallback never shows 100 in the table.
func TestPct(t *testing.T) {
	for x, want := range map[float64]string{100: "100", 99.9999: "99.99", 99.996: "99.99", 0: "0", 0.001: "0.00", 50.125: "50.12"} {
		if got := pct(x); got != want {
			t.Errorf("pct(%v) = %q, want %q", x, got, want)
		}
	}
}

// TestPlotMonitor: a report with monitor rows gets the monitor chart.
func TestPlotMonitor(t *testing.T) {
	rep := NewReport()
	rep.Monitor = &MonitorResult{MonitorSetting: MonitorSetting{Rows: []MonitorRow{{Reader: "none", WriterP50: 500, WriterP99: 9000}, {Reader: "locked", WriterP50: 20000, WriterP99: 900000}}}}
	files, err := rep.Plot(t.TempDir())
	if err != nil || len(files) != 2 || !strings.HasSuffix(files[1], "monitor.png") {
		t.Fatalf("Plot: %v %v", files, err)
	}
	if st, err := os.Stat(files[1]); err != nil || st.Size() < 1000 {
		t.Errorf("monitor.png: %v", err)
	}
}
