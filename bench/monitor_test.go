package bench

import (
	"bytes"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMonitorWorkload runs the monitor experiment briefly and checks its
// shape: one row per reader after the writer alone, a writer that made
// calls, monitors that read, page locks only for the locked reader, and a
// table that names every row. (No figure is asserted: speed is for the
// bench.)
func TestMonitorWorkload(t *testing.T) {
	res, err := RunMonitor(MonitorOptions{Duration: 100 * time.Millisecond, VMAs: 200, Rate: 2000, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"none", "locked", "snapshot", "vmalock"}
	if len(res.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(want))
	}
	for i, r := range res.Rows {
		if r.Reader != want[i] {
			t.Errorf("row %d is %s, want %s", i, r.Reader, want[i])
		}
		if r.WriterOps <= 0 || r.WriterMax < r.WriterP99 || r.WriterP99 < r.WriterP50 {
			t.Errorf("%s: writer %+v", r.Reader, r)
		}
		if (r.MonitorReads > 0) != (r.Reader != "none") {
			t.Errorf("%s: %v monitor reads/s", r.Reader, r.MonitorReads)
		}
		if (r.PageLocks > 0) != (r.Reader == "locked") {
			t.Errorf("%s: %d page locks", r.Reader, r.PageLocks)
		}
	}
	var b bytes.Buffer
	res.WriteTable(&b)
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %s:\n%s", w, b.String())
		}
	}
}

// TestLiveMonitorWorkload runs the live experiment briefly where gcc is.
func TestLiveMonitorWorkload(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	rows, err := RunLiveMonitor(MonitorOptions{Duration: 100 * time.Millisecond, VMAs: 200, Rate: 2000})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"none", "text", "query"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.Monitors != want[i] || r.WriterOps <= 0 || (r.MonitorReads > 0) != (i > 0) {
			t.Errorf("row %d: %+v", i, r)
		}
	}
}
