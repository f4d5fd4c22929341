//go:build !linux

package kerneltest

func kernelRelease() (release, machine string) { return "?", "?" }

func mkfifo(path string) error { return nil }
