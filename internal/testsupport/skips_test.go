package testsupport

import (
	"strings"
	"testing"
)

func TestSkipSummary(t *testing.T) {
	skips.Lock()
	saved := skips.why
	skips.why = nil
	skips.Unlock()
	t.Cleanup(func() { skips.Lock(); skips.why = saved; skips.Unlock() })
	if got := SkipSummary(); got != "" {
		t.Fatalf("summary before any skip: %q", got)
	}
	for _, why := range []string{"no tracefs", "no root", "no tracefs", "no gcc", "no overlayfs"} {
		t.Run(why, func(t *testing.T) { Skip(t, "%s", why) })
	}
	got := SkipSummary()
	want := ": 5 test(s) that need more of the machine: no tracefs (2); no gcc (1); no overlayfs (1); and 1 more reasons"
	if !strings.HasPrefix(got, "SKIPPED in testsupport") || !strings.HasSuffix(got, want) {
		t.Errorf("summary %q, want ...%q", got, want)
	}
}
