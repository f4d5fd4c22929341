//go:build linux

package kerneltest

import "golang.org/x/sys/unix"

// kernelRelease returns uname's release and machine.
func kernelRelease() (release, machine string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?", "?"
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
}

// mkfifo creates a named pipe.
func mkfifo(path string) error { return unix.Mkfifo(path, 0o644) }
