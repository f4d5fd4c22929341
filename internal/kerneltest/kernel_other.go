//go:build !linux

package kerneltest

import (
	"errors"
	"runtime"

	"specvma/scenario"
)

// Supported reports whether this OS runs the kernel backend.
const Supported = false

// Kernel is the kernel backend; on this OS it cannot be created.
type Kernel struct{ scenario.Backend }

// NewKernel fails: the kernel backend drives Linux system calls.
func NewKernel(window Window) (*Kernel, error) {
	return nil, errors.New("kerneltest: the kernel backend needs Linux, this is " + runtime.GOOS)
}

// Window returns the window the backend owns.
func (k *Kernel) Window() Window { return Window{} }

// Release does nothing.
func (k *Kernel) Release() error { return nil }
