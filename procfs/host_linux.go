//go:build linux

package procfs

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"specvma/mm"
	"specvma/vfs"

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

// softRlimit is resource res's soft limit; ok is false when it is
// unlimited or cannot be read.
func softRlimit(res int) (uint64, bool) {
	var r unix.Rlimit
	if unix.Getrlimit(res, &r) != nil || r.Cur == unix.RLIM_INFINITY || r.Cur < mm.PageSize {
		return 0, false
	}
	return r.Cur, true
}

// dataRlimit is RLIMIT_DATA's soft limit (softRlimit).
func dataRlimit() (uint64, bool) { return softRlimit(unix.RLIMIT_DATA) }

// asRlimit is RLIMIT_AS's soft limit (softRlimit).
func asRlimit() (uint64, bool) { return softRlimit(unix.RLIMIT_AS) }

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

// hugeAnonDev maps one huge page of MAP_HUGETLB|MAP_NORESERVE anonymous
// memory (no huge page is taken until it is touched) and reads its device
// from /proc/self/maps: the kernel's internal hugetlbfs mount. The zero
// Dev when that fails (no hugetlb support).
func hugeAnonDev() vfs.Dev {
	const size = 2 << 20
	addr, _, e := unix.Syscall6(unix.SYS_MMAP, 0, size, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_HUGETLB, ^uintptr(0), 0)
	if e != 0 {
		return vfs.Dev{}
	}
	defer unix.Syscall(unix.SYS_MUNMAP, addr, size, 0)
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return vfs.Dev{}
	}
	prefix := fmt.Sprintf("%x-", addr)
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		var d vfs.Dev
		if len(f) >= 4 {
			if _, err := fmt.Sscanf(f[3], "%x:%x", &d.Major, &d.Minor); err == nil {
				return d
			}
		}
	}
	return vfs.Dev{}
}
