//go:build !linux

package bench

import "errors"

// RunLive needs /proc and PROCMAP_QUERY: see the Linux version.
func RunLive(opts LiveOptions) (LiveResult, error) {
	return LiveResult{}, errors.New("live workload needs Linux")
}
