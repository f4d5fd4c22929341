//go:build !linux

package kerneltest

// warmRuntime has nothing to do where there is no kernel backend to limit.
func warmRuntime() {}
