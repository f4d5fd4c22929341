package mapsrace

import (
	"runtime"
	"testing"

	"specvma/internal/mmhook"
	"specvma/mm"
	"specvma/procfs"
)

// TestPlantedBugs: the race test catches a reader that drops one step of
// its protocol. The gap bugs can only show in the split and remap races:
// in the resize race the gap in front of the next VMA is real in the
// shrunk form, so reporting it is allowed. (Recording the sequence after
// the lookup is a bug these races seldom reach; mm's TestLockNextVMAGap
// forces it.)
func TestPlantedBugs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reader procfs.Reader
		plant  func(*mmhook.Hooks)
		widen  bool // yield between the walk's lookup and its VMA lock
	}{
		{"vmalock without the gap recheck", procfs.ReadVMALock, func(h *mmhook.Hooks) { h.NoGapRecheck = true }, true},
		{"vmalock against a writer publishing each step of a split", procfs.ReadVMALock, func(h *mmhook.Hooks) { h.PublishEachStep = true }, false},
		{"snapshot without validation", procfs.ReadSnapshot, func(h *mmhook.Hooks) { h.NoValidate = true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.widen && runtime.GOMAXPROCS(0) == 1 {
				// A yield hands the only processor to the churner for a
				// whole time slice: too slow, and the walk is otherwise
				// never interrupted between lookup and lock.
				t.Skip("needs two processors; mm's TestLockNextVMAGap forces the window")
			}
			caught := 0
			for _, r := range []Race{Split, Remap} {
				// The gap problem needs the writer's change between the
				// walk's lookup and its VMA lock: widen that window.
				h := &mmhook.Hooks{}
				if tc.widen {
					h.AfterNextLookup = runtime.Gosched
				}
				tc.plant(h)
				tg, err := NewModelTarget(mm.Config{Test: h}, tc.reader)
				if err != nil {
					t.Fatal(err)
				}
				res, err := Run(tg, r, 20*reads(), true)
				if err != nil {
					t.Fatal(err)
				}
				caught += res.NumBad
				if res.NumBad > 0 {
					t.Logf("%s: caught after %d reads: %s", r, res.Iterations, res.Violations[0])
					break
				}
			}
			if caught == 0 {
				t.Errorf("the planted bug passed the split and remap races (%d reads each)", 20*reads())
			}
		})
	}
}
