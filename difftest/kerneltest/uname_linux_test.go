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
