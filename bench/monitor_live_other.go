//go:build !linux

package bench

import "errors"

// runLiveMonitor needs Linux.
func runLiveMonitor(MonitorOptions, *arranger) ([]MonitorRow, error) {
	return nil, errors.New("the live monitor experiment needs Linux")
}
