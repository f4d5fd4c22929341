//go:build linux

package bench

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// pinToCPU binds the calling goroutine to its own OS thread and that thread
// to one CPU, as the kernel's bench does with -a. The goroutine must exit
// without unlocking: its thread then exits too, and the binding with it.
func pinToCPU(i int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(i % runtime.NumCPU())
	_ = unix.SchedSetaffinity(0, &set) // best effort: a restricted cpuset keeps the default
}
