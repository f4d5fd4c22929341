//go:build !linux

package bench

import "runtime"

// pinToCPU binds the goroutine to its own OS thread; CPU affinity is Linux-only.
func pinToCPU(int) { runtime.LockOSThread() }
