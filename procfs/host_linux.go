//go:build linux

package procfs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const hostIsLinux = true

// stackRlimit is RLIMIT_STACK's soft limit, or 0 (the model's default)
// when it cannot be read or is unlimited.
func stackRlimit() uint64 {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_STACK, &r) != nil || r.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return r.Cur
}

// memlockRlimit is RLIMIT_MEMLOCK's soft limit; unlimited reads as the
// largest value.
func memlockRlimit() (uint64, bool) {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r) != nil {
		return 0, false
	}
	return r.Cur, true
}

// anonNamesSupported names a page of its own with PR_SET_VMA_ANON_NAME:
// kernels without CONFIG_ANON_VMA_NAME refuse with EINVAL.
func anonNamesSupported() bool {
	p, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(p)
	name := []byte("specvma-probe\x00")
	_, _, e := unix.Syscall6(unix.SYS_PRCTL, unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME,
		uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(unsafe.Pointer(&name[0])), 0)
	return e == 0
}
