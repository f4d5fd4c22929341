package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"specvma/bench"
)

func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "out.json")
	var out, errb bytes.Buffer
	code := dispatch([]string{"bench", "-workload", "uprobe-nop", "-strategy", "mmseq,unsync", "-churn", "none",
		"-tasks", "1", "-vmas", "16", "-duration", "5ms", "-count", "2", "-json", js, "-plot", filepath.Join(dir, "p")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"mmseq", "unsync", "Targets", "charts:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Without a progress bar (stderr is not a terminal), one line per round.
	if n := strings.Count(errb.String(), "specvma bench: round "); n != 2 {
		t.Errorf("stderr has %d round lines, want 2:\n%s", n, errb.String())
	}
	rep, err := bench.ReadJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) == 0 || len(rep.Targets) == 0 {
		t.Fatalf("JSON has %d results, %d targets", len(rep.Results), len(rep.Targets))
	}
	// The cost-per-hit target compares the two measured rows.
	found := false
	for _, tg := range rep.Targets {
		if tg.Name == "mmseq cost per hit at 1 task / unsync's" {
			found = tg.Measured && tg.Value > 0 && tg.Cmp == "<=" && tg.Limit == 1.5
		}
	}
	if !found {
		t.Errorf("JSON targets lack a measured mmseq/unsync cost target: %+v", rep.Targets)
	}
}

// TestBenchTableAligned checks that every line of the table has its
// columns at the same offsets as the header.
func TestBenchTableAligned(t *testing.T) {
	var out, errb bytes.Buffer
	code := dispatch([]string{"bench", "-workload", "uprobe-nop", "-strategy", "mmseq,vmaseq", "-churn", "none,unrelated",
		"-rate", "1000", "-tasks", "1", "-vmas", "16", "-duration", "5ms", "-count", "1"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	hdr := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "workload ") {
			hdr = i
		}
	}
	if hdr < 0 {
		t.Fatalf("no table:\n%s", out.String())
	}
	// "strategy" is left-aligned: every row's strategy starts where the header's does.
	col := strings.Index(lines[hdr], "strategy")
	rows := 0
	for _, l := range lines[hdr+1:] {
		if l == "" {
			break
		}
		rows++
		if !regexp.MustCompile(`^\S+ +$`).MatchString(l[:col]) || l[col] == ' ' {
			t.Errorf("row not aligned with the header at column %d:\n%s\n%s", col, lines[hdr], l)
		}
		// "wr p50/p99" is right-aligned: every row ends where the header does.
		if len([]rune(l)) != len([]rune(lines[hdr])) {
			t.Errorf("row does not end where the header does:\n%s\n%s", lines[hdr], l)
		}
	}
	if rows != 6 {
		t.Errorf("%d rows, want 6 (two strategies: 1k VMAs with and without churn, 16 VMAs):\n%s", rows, out.String())
	}
}

func TestBenchBadFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "-tasks", "0"}, "-tasks"},
		{[]string{"bench", "-tasks", "x"}, "-tasks"},
		{[]string{"bench", "-strategy", "nope"}, `unknown strategy "nope"`},
		{[]string{"bench", "-workload", "nope"}, `unknown workload "nope"`},
		{[]string{"bench", "-vmas", "1"}, "vmas: 1 is less than 2"},
		{[]string{"bench", "-count", "0"}, "count"},
		{[]string{"bench", "-workload", "loadexec", "-loadexec-vmas", "0"}, "-loadexec-vmas: 0 is not positive"},
		{[]string{"bench", "-duration", "0s"}, "duration"},
		{[]string{"bench", "-strategy", "unsync", "-churn", "probes"}, "no rows"},
		// A stray argument would end flag parsing: -quick would be ignored.
		{[]string{"bench", "stray", "-quick"}, `unexpected argument "stray"`},
		// Outputs are checked before measuring.
		{[]string{"bench", "-json", filepath.Join(dir, "missing", "out.json")}, "-json"},
		{[]string{"bench", "-json", dir}, "is a directory"},
		{[]string{"bench", "-plot", filepath.Join(file, "sub")}, "-plot"},
		// The monitor workload's flags, checked before measuring.
		{[]string{"bench", "-monitors", "0"}, "-monitors: 0: between 1 and 64"},
		{[]string{"bench", "-monitor-busy", "-1"}, "-monitor-busy: -1"},
		{[]string{"bench", "-monitor-nice", "20"}, "-monitor-nice: 20: a nice value is between -20 and 19"},
		{[]string{"bench", "-monitor-busy-nice", "15"}, "-monitor-busy-nice 15 is not below -monitor-nice 15"},
		{[]string{"bench", "-monitor-busy-duration", "-1ms"}, "-monitor-busy-duration: -1ms is negative"},
		{[]string{"bench", "-monitor-files", "maps,status"}, `-monitor-files: unknown file "status"`},
		{[]string{"bench", "-monitor-files", "maps,maps"}, "-monitor-files: maps named twice"},
		{[]string{"bench", "-monitor-files", ""}, "-monitor-files: empty"},
		{[]string{"bench", "-monitor-duration", "0s"}, "-monitor-duration: 0s is not positive"},
		{[]string{"bench", "-monitor-region", "0"}, "-monitor-region: 0 MiB"},
	} {
		var out, errb bytes.Buffer
		if code := dispatch(tc.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, errb.String())
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errb.String(), tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q before failing", tc.args, out.String())
		}
	}
}

func TestBenchHelp(t *testing.T) {
	for _, args := range [][]string{{"bench", "-h"}, {"help", "bench"}} {
		var out, errb bytes.Buffer
		code := dispatch(args, &out, &errb)
		text := out.String() + errb.String()
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		for _, want := range []string{"uretprobe-nop", "fast%", "fallbacks", "wr ops/s", "wr p50/p99", "-check", "loadexec", "-loadexec-vmas", "vm.max_map_count"} {
			if !strings.Contains(text, want) {
				t.Errorf("%v: usage lacks %q", args, want)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch([]string{"help", "nope"}, &out, &errb); code != 2 {
		t.Errorf("help nope: exit %d, want 2", code)
	}
}

// TestBenchCheck shows -check turning a missed target into exit status 1
// on reports whose targets are decided, not timed; a target the run did
// not measure does not fail it.
func TestBenchCheck(t *testing.T) {
	missed := &bench.Report{Targets: []bench.Target{{Name: "a", Measured: true, Met: true}, {Name: "b", Measured: true}}}
	unmeasured := &bench.Report{Targets: []bench.Target{{Name: "a", Measured: true, Met: true}, {Name: "b"}}}
	for _, tc := range []struct {
		rep   *bench.Report
		check bool
		want  int
	}{{missed, true, 1}, {missed, false, 0}, {unmeasured, true, 0}} {
		var errb bytes.Buffer
		if got := checkStatus(tc.rep, tc.check, &errb); got != tc.want {
			t.Errorf("checkStatus(%+v, %v) = %d, want %d", tc.rep.Targets, tc.check, got, tc.want)
		}
		if tc.want == 1 && !strings.Contains(errb.String(), "1 target(s) MISSED") {
			t.Errorf("stderr %q", errb.String())
		}
	}
	b, err := json.Marshal(missed.Targets[1])
	if err != nil || !strings.Contains(string(b), `"met":false`) {
		t.Errorf("target JSON %s %v", b, err)
	}
}

// TestBenchFrom re-renders a saved report: the same table, targets
// evaluated again, without measuring.
func TestBenchFrom(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "out.json")
	var out, errb bytes.Buffer
	if code := dispatch([]string{"bench", "-workload", "uprobe-nop", "-strategy", "mmseq,unsync", "-churn", "none",
		"-tasks", "1", "-vmas", "16", "-duration", "5ms", "-count", "1", "-json", js}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	table := out.String()[strings.Index(out.String(), "workload "):]
	again := filepath.Join(dir, "again.json")
	out.Reset()
	errb.Reset()
	if code := dispatch([]string{"bench", "-from", js, "-json", again, "-plot", filepath.Join(dir, "p")}, &out, &errb); code != 0 {
		t.Fatalf("-from: exit %d: %s", code, errb.String())
	}
	if errb.Len() != 0 {
		t.Errorf("-from measured something: %s", errb.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()[:strings.Index(out.String(), "\ncharts:")]), strings.TrimSpace(table)) {
		t.Errorf("-from printed\n%s\nthe run printed\n%s", out.String(), table)
	}
	a, _ := os.ReadFile(js)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Errorf("-from -json wrote a different report")
	}
	if code := dispatch([]string{"bench", "-from", filepath.Join(dir, "none.json")}, &out, &errb); code != 2 {
		t.Errorf("-from a missing file: exit %d", code)
	}
}

// TestBenchLoadExec runs the loadexec workload on a small child, as a user
// would with -workload loadexec: its table, its targets (reported, not
// judged, below 100k VMAs), its JSON, and progress lines on stderr.
func TestBenchLoadExec(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	js := filepath.Join(t.TempDir(), "out.json")
	var out, errb bytes.Buffer
	code := dispatch([]string{"bench", "-workload", "loadexec", "-loadexec-vmas", "2000", "-count", "2", "-check", "-json", js}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"loadexec:", "text / query", "Targets", "exec-only load of 2000 VMAs: maps text / PROCMAP_QUERY"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), "specvma bench: loadexec: run 2 of 2") {
		t.Errorf("stderr lacks the progress lines:\n%s", errb.String())
	}
	rep, err := bench.ReadJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LoadExec == nil || len(rep.LoadExec.TextRuns) != 2 || rep.LoadExec.Mappings < 2 {
		t.Errorf("JSON loadexec %+v", rep.LoadExec)
	}
}

// TestBenchMonitorFlags runs the monitor workload from the command line,
// briefly, and checks that the flags reach it: the JSON's options are the
// flags', the arranged and plain settings ran (or the arranged one says
// why it could not), the live rows are the files asked for, and the
// measured targets are printed although no uprobe row ran.
func TestBenchMonitorFlags(t *testing.T) {
	js := filepath.Join(t.TempDir(), "m.json")
	var out, errb bytes.Buffer
	code := dispatch([]string{"bench", "-workload", "monitor", "-count", "1", "-monitor-duration", "40ms",
		"-monitor-region", "4", "-monitors", "1", "-monitor-busy", "1", "-monitor-busy-duration", "1ms",
		"-monitor-nice", "12", "-monitor-busy-nice", "5", "-monitor-files", "smaps,maps", "-json", js}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	rep, err := bench.ReadJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Monitor
	if m == nil {
		t.Fatalf("no monitor in the JSON; stderr %s", errb.String())
	}
	o := m.Options
	if o.Duration.Milliseconds() != 40 || o.RegionMB != 4 || o.Monitors != 1 || o.Busy != 1 || o.BusyPeriod.Milliseconds() != 1 ||
		o.Nice != 12 || o.BusyNice != 5 || strings.Join(o.Files, ",") != "smaps,maps" || o.Runs != 1 || !o.Plain {
		t.Errorf("options %+v", o)
	}
	if len(m.Rows) != 4 {
		t.Errorf("%d model rows", len(m.Rows))
	}
	if !m.Arrangement.Plain {
		if m.Arrangement.MonitorNice != 12 || m.Arrangement.BusyNice != 5 || m.Plain == nil {
			t.Errorf("arrangement %+v, plain %v", m.Arrangement, m.Plain)
		}
	} else if m.Arrangement.Note == "" {
		t.Errorf("plain without a note: %+v", m.Arrangement)
	}
	if m.LiveErr == "" {
		var files []string
		for _, r := range m.Live {
			files = append(files, r.Reader)
		}
		if strings.Join(files, ",") != "none,smaps,maps" {
			t.Errorf("live rows %v", files)
		}
	}
	for _, want := range []string{"setting:", "writer max ratios", "Targets", "writer max with vmalock monitors / with locked monitors"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
