//go:build !linux

package kerneltest

func kernelRelease() (release, machine string) { return "?", "?" }
