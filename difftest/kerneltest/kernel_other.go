//go:build !linux || !amd64

package kerneltest

import (
	"errors"
	"runtime"

	"specvma/scenario"
)

// Supported reports whether this OS runs the kernel backend.
const Supported = false

// Kernel is the kernel backend; on this OS it cannot be created.
type Kernel struct {
	scenario.Backend
	ApplyLimits bool
}

// NewKernel fails: the kernel backend drives Linux system calls, and the
// model it is compared with is x86-64's (page size, address limit).
func NewKernel(window Window) (*Kernel, error) {
	return nil, errors.New("kerneltest: the kernel backend needs linux/amd64, this is " +
		runtime.GOOS + "/" + runtime.GOARCH)
}

// Window returns the window the backend owns.
func (k *Kernel) Window() Window { return Window{} }

// Release does nothing.
func (k *Kernel) Release() error { return nil }

// StartBrk has no /proc/self/stat to read here.
func StartBrk() (uint64, bool) { return 0, false }

// Processes is the multi-process kernel backend; on this OS it cannot be
// created.
type Processes struct{ scenario.Backend }

// NewProcesses fails, as NewKernel does.
func NewProcesses(window Window) (*Processes, error) { _, err := NewKernel(window); return nil, err }

// Release does nothing.
func (p *Processes) Release() error { return nil }

// RemoveAgent does nothing: no agent is built here.
func RemoveAgent() {}
