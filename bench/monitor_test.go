package bench

import (
	"bytes"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// shortMonitor is a brief run of the monitor experiment for the tests: an
// 8 MiB region, two runs of 60 ms per row.
func shortMonitor() MonitorOptions {
	o := DefaultMonitorOptions()
	o.Duration, o.Runs, o.RegionMB, o.Live = 60*time.Millisecond, 2, 8, false
	return o
}

// checkRows checks a setting's model rows: the writer alone, then one row
// per reader, a writer that made calls, page locks only for the locked
// reader, and, when read, monitors that finished whole reads. (No figure
// is asserted: speed is for the bench. An arranged monitor at nice 15
// beside busy tasks may not finish a read in a test's short run at all,
// so whole reads are required only of unstarved monitors.)
func checkRows(t *testing.T, label string, rows []MonitorRow, runs int, read bool) {
	t.Helper()
	want := []string{"none", "locked", "snapshot", "vmalock"}
	if len(rows) != len(want) {
		t.Fatalf("%s: %d rows, want %d", label, len(rows), len(want))
	}
	for i, r := range rows {
		if r.Reader != want[i] {
			t.Errorf("%s: row %d is %s, want %s", label, i, r.Reader, want[i])
		}
		if r.WriterOps <= 0 || r.WriterMax < r.WriterP999 || r.WriterP999 < r.WriterP99 || r.WriterP99 < r.WriterP50 || len(r.WriterMaxRuns) != runs {
			t.Errorf("%s %s: writer %+v", label, r.Reader, r)
		}
		if r.Reader == "none" && (r.MonitorReads != 0 || r.PageLocks != 0) || read && r.Reader != "none" && r.MonitorReads == 0 {
			t.Errorf("%s %s: %v monitor reads/s", label, r.Reader, r.MonitorReads)
		}
		if r.PageLocks > 0 && r.Reader != "locked" || read && r.Reader == "locked" && r.PageLocks == 0 {
			t.Errorf("%s %s: %d page locks", label, r.Reader, r.PageLocks)
		}
	}
}

// TestMonitorWorkload runs the experiment briefly: the arranged setting's
// rows, the plain setting's, a table naming both, and the ratios the
// targets read.
func TestMonitorWorkload(t *testing.T) {
	o := shortMonitor()
	res, err := RunMonitor(o)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "main", res.Rows, o.Runs, res.Arrangement.Plain)
	if _, ok := res.MaxRatio("vmalock", "locked"); !ok {
		t.Error("no vmalock/locked ratio")
	}
	var b bytes.Buffer
	res.WriteTable(&b)
	if !res.Arrangement.Plain {
		if res.Plain == nil {
			t.Fatal("no plain setting beside the arranged one")
		}
		checkRows(t, "plain", res.Plain.Rows, o.Runs, true)
		if !strings.Contains(b.String(), "plain setting: plain") {
			t.Errorf("table lacks the plain setting:\n%s", b.String())
		}
	}
	for _, w := range []string{"locked", "snapshot", "vmalock", "writer max ratios", "setting:"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %s:\n%s", w, b.String())
		}
	}
	// Busy 0 is the plain setting alone.
	o.Busy, o.Runs = 0, 1
	res, err = RunMonitor(o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Arrangement.Plain || res.Plain != nil || res.Arrangement.Busy != 0 {
		t.Errorf("busy 0: arrangement %+v, plain %v", res.Arrangement, res.Plain)
	}
	checkRows(t, "busy 0", res.Rows, 1, true)
}

// TestMonitorOptionsValidate: every bad option is reported, naming its flag.
func TestMonitorOptionsValidate(t *testing.T) {
	if err := DefaultMonitorOptions().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		set  func(*MonitorOptions)
		want string
	}{
		{func(o *MonitorOptions) { o.Monitors = 0 }, "-monitors"},
		{func(o *MonitorOptions) { o.Busy = -1 }, "-monitor-busy:"},
		{func(o *MonitorOptions) { o.BusyPeriod = -time.Millisecond }, "-monitor-busy-duration"},
		{func(o *MonitorOptions) { o.Nice = -21 }, "-monitor-nice: -21"},
		{func(o *MonitorOptions) { o.BusyNice = 16 }, "not below -monitor-nice"},
		{func(o *MonitorOptions) { o.Files = []string{"smaps", "pagemap"} }, `unknown file "pagemap"`},
		{func(o *MonitorOptions) { o.Duration = 0 }, "-monitor-duration"},
		{func(o *MonitorOptions) { o.RegionMB = 0 }, "-monitor-region"},
		{func(o *MonitorOptions) { o.Runs = 0 }, "-count"},
		{func(o *MonitorOptions) { o.Pause = -1 }, "-monitor-pause"},
	} {
		o := DefaultMonitorOptions()
		tc.set(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", o, err, tc.want)
		}
		if _, err := RunMonitor(o); err == nil {
			t.Errorf("RunMonitor ran with %+v", o)
		}
	}
	// Busy tasks at the monitors' priority are refused only when there are busy tasks.
	o := DefaultMonitorOptions()
	o.Busy, o.BusyNice = 0, o.Nice
	if err := o.Validate(); err != nil {
		t.Errorf("no busy tasks: %v", err)
	}
}

// TestLiveMonitorWorkload runs the live rows briefly where gcc is.
func TestLiveMonitorWorkload(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	// The plain setting: an arranged monitor may be starved for the whole
	// of a short run (TestArrangement checks the arrangement itself).
	o := shortMonitor()
	o.Live, o.Runs, o.Plain, o.Busy, o.Duration = true, 1, false, 0, 150*time.Millisecond
	res, err := RunMonitor(o)
	if err != nil {
		t.Fatal(err)
	}
	if res.LiveErr != "" {
		t.Fatal(res.LiveErr)
	}
	want := []string{"none", "maps", "query", "smaps"}
	if len(res.Live) != len(want) {
		t.Fatalf("%d live rows, want %d", len(res.Live), len(want))
	}
	for i, r := range res.Live {
		if r.Reader != want[i] || r.WriterOps <= 0 || (r.MonitorReads > 0) != (i > 0) || r.WriterMax < r.WriterP50 {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if _, ok := res.LiveMaxRatio("query", "smaps"); !ok {
		t.Error("no live query/smaps ratio")
	}
}

// TestCovered: a slow call counts once if any slow read overlaps it, and
// touching ends do not overlap.
func TestCovered(t *testing.T) {
	calls := []interval{{0, 10}, {20, 30}, {40, 50}, {60, 70}}
	reads := []interval{{5, 6}, {8, 25}, {35, 41}, {70, 80}}
	if got := covered(calls, reads); got != 3 {
		t.Errorf("covered = %d, want 3", got)
	}
	if got := covered(calls, nil); got != 0 {
		t.Errorf("no reads: covered = %d", got)
	}
}
