//go:build !linux

package bench

import (
	"errors"
	"time"
)

func allowedCPUs() ([]int, error) {
	return nil, errors.New("CPU affinity and per-thread priorities are Linux-only")
}

func gettid() int { return 0 }

func arrangeThread([]int, *int) (string, int, error) { return "", 0, errors.New("Linux-only") }

type busyGroup struct {
	procs []struct{}
	nice  int
	cpus  string
}

func startBusy(MonitorOptions, []int) (*busyGroup, error) { return nil, nil }

func (g *busyGroup) stop() {}

func pause(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

func involuntarySwitches() uint64 { return 0 }
