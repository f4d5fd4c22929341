//go:build linux

package mapsrace

import (
	"os"
	"os/exec"
	"testing"
)

func TestMain(m *testing.M) {
	RunChildIfAsked()
	os.Exit(m.Run())
}

// TestLiveKernel runs the three races against the running kernel: a child
// process changes its mappings while the test reads its /proc/PID/maps
// and asks PROCMAP_QUERY.
func TestLiveKernel(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skip(err)
	}
	for _, r := range Races() {
		t.Run(r.String(), func(t *testing.T) {
			tg, err := StartLive(exec.Command(os.Args[0], "-test.run=^$"))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			res, err := Run(tg, r, reads(), false)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Violations {
				t.Error(v)
			}
			t.Logf("%d reads, %d saw the change, %d violations", res.Iterations, res.Modified, res.NumBad)
		})
	}
}
