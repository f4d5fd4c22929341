//go:build !linux

package bench

import "errors"

// RunLoadExec needs Linux (/proc/PID/maps and PROCMAP_QUERY).
func RunLoadExec(LoadExecOptions) (*LoadExecResult, error) {
	return nil, errors.New("the loadexec workload needs Linux")
}
