//go:build !linux

package bench

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// LiveMonitorRow is one live run (Linux only).
type LiveMonitorRow struct {
	Monitors     string        `json:"monitors"`
	WriterOps    float64       `json:"writer_ops"`
	WriterP50    time.Duration `json:"writer_p50"`
	WriterP99    time.Duration `json:"writer_p99"`
	WriterMax    time.Duration `json:"writer_max"`
	MonitorReads float64       `json:"monitor_reads"`
}

// RunLiveMonitor needs Linux.
func RunLiveMonitor(MonitorOptions) ([]LiveMonitorRow, error) {
	return nil, errors.New("the live monitor experiment needs Linux")
}

func writeLiveMonitor(w io.Writer, rows []LiveMonitorRow) { fmt.Fprintln(w, rows) }
