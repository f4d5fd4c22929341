// Package testsupport holds the helpers that tests of several packages
// share: skipping when the machine lacks what a test needs (Linux's /proc,
// a tool such as gcc, root) with a summary of the skips at the end (Skip,
// Main), and leak checks against a baseline of the type-stable caches and
// goroutines; MustPanic for the misuse checks; Once for test hooks; and
// the recording, checking and explaining of porcupine histories for the
// linearizability tests (lin.go).
//
// It imports only the standard library and porcupine, nothing of specvma,
// so the tests of every package, mm's internal tests included, can use it;
// the caches to watch are passed in (mm.LiveVMAs, vfs.LiveFiles).
package testsupport

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// RequireProcMaps skips t unless this is Linux with a readable
// /proc/self/maps.
func RequireProcMaps(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		Skip(t, "needs Linux's /proc/PID/maps; this is %s", runtime.GOOS)
	}
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		Skip(t, "no /proc: %v", err)
	}
}

// RequireTool returns the path of the program name, or skips t saying why
// the test needs it (scripts/setup.sh installs the tools the tests use).
func RequireTool(t testing.TB, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "%s not found: %s (scripts/setup.sh installs it)", name, why)
	}
	return p
}

// RequireRoot skips t unless it runs as root, saying why it must.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root: %s", why)
	}
}

// Cache is a type-stable cache's statistics (mm.LiveVMAs, vfs.LiveFiles).
type Cache struct {
	Name  string // plural, for messages: "VMAs"
	Stats func() (live, created, reused int64)
}

// Baseline is what some caches and the runtime held when it was taken.
type Baseline struct {
	caches     []Cache
	live       []int64
	goroutines int
}

// TakeBaseline records the live objects of each cache and the number of
// goroutines.
func TakeBaseline(caches ...Cache) Baseline {
	b := Baseline{caches: caches, goroutines: runtime.NumGoroutine()}
	for _, c := range caches {
		live, _, _ := c.Stats()
		b.live = append(b.live, live)
	}
	return b
}

// CheckCaches reports each cache whose live count differs from the
// baseline's.
func (b Baseline) CheckCaches(t testing.TB) {
	t.Helper()
	for i, c := range b.caches {
		if live, _, _ := c.Stats(); live != b.live[i] {
			t.Errorf("live %s %d, baseline %d", c.Name, live, b.live[i])
		}
	}
}

// Check is CheckCaches, then it waits up to five seconds for the
// goroutines started since the baseline to end, and reports them (with
// every stack) if they do not.
func (b Baseline) Check(t testing.TB) {
	t.Helper()
	b.CheckCaches(t)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > b.goroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), b.goroutines, buf[:n])
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// MustPanic runs f and fails t unless f panics with a string containing
// want (the misuse checks of internal/rcu and mm panic so).
func MustPanic(t testing.TB, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Fatalf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

// Once returns a function that runs f the first time it is called: a test
// hook that acts once. Calls must not race (one goroutine, or ordered).
func Once(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}
