package testsupport

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// skips records why tests were skipped, for Main's summary.
var skips struct {
	sync.Mutex
	why map[string]int // reason -> tests skipped for it
}

// Skip skips t with the reason, and records it for the summary Main
// prints: a run without root, tracefs or gcc is visibly weaker, not
// silently green. The Require helpers skip through it.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	skips.Lock()
	if skips.why == nil {
		skips.why = map[string]int{}
	}
	skips.why[why]++
	skips.Unlock()
	t.Skip(why)
}

// Main is a TestMain for packages with tests that depend on the machine
// (the differential tests): it runs the tests, then prints one line
// saying how many were skipped and why, if any were. `go test` shows a
// passing package's output only with -v, so the line also goes to the
// standard error of the go command that runs the test binary, where a
// plain `go test ./...` shows it next to the package's "ok" line.
// The cleanups run after the tests, before the summary.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if line := SkipSummary(); line != "" {
		fmt.Println(line)
		if w := goCommandStderr(); w != nil {
			io.WriteString(w, line+"\n")
			w.Close()
		}
	}
	os.Exit(code)
}

// SkipSummary is the line Main prints: "PKG: N tests skipped: REASON (n);
// ..." with the most common reasons first, or "" when nothing was skipped
// through Skip.
func SkipSummary() string {
	skips.Lock()
	defer skips.Unlock()
	if len(skips.why) == 0 {
		return ""
	}
	type reason struct {
		why string
		n   int
	}
	var rs []reason
	total := 0
	for why, n := range skips.why {
		rs = append(rs, reason{why, n})
		total += n
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n || rs[i].n == rs[j].n && rs[i].why < rs[j].why })
	const shown = 3
	parts := make([]string, 0, shown+1)
	for i, r := range rs {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more reasons", len(rs)-shown))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", r.why, r.n))
	}
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	return fmt.Sprintf("SKIPPED in %s: %d test(s) that need more of the machine: %s", pkg, total, strings.Join(parts, "; "))
}

// goCommandStderr opens the standard error of the go command running this
// test binary (Linux only; nil elsewhere, or when the parent is not go).
func goCommandStderr() io.WriteCloser {
	ppid := strconv.Itoa(os.Getppid())
	comm, err := os.ReadFile("/proc/" + ppid + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	f, err := os.OpenFile("/proc/"+ppid+"/fd/2", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	return f
}
