// Package errno holds the Linux error numbers that specvma's calls return.
//
// The values are Linux's (x86-64 and every other architecture share them for
// the ones used here), independent of the host OS, so a model run on any
// system reports what Linux would. An Errno is an error; String gives the
// symbolic name ("ENOMEM") and Result the strace-style "-ENOMEM".
package errno

import "strconv"

// Errno is a Linux error number.
type Errno int

// The error numbers the address-space and uprobe calls can return.
const (
	EPERM        Errno = 1
	ENOENT       Errno = 2
	ESRCH        Errno = 3
	EINTR        Errno = 4
	EIO          Errno = 5
	ENXIO        Errno = 6
	E2BIG        Errno = 7
	ENOEXEC      Errno = 8
	EBADF        Errno = 9
	EAGAIN       Errno = 11
	ENOMEM       Errno = 12
	EACCES       Errno = 13
	EFAULT       Errno = 14
	EBUSY        Errno = 16
	EEXIST       Errno = 17
	ENODEV       Errno = 19
	ENOTDIR      Errno = 20
	EISDIR       Errno = 21
	EINVAL       Errno = 22
	ENFILE       Errno = 23
	EMFILE       Errno = 24
	ETXTBSY      Errno = 26
	EFBIG        Errno = 27
	ENOSPC       Errno = 28
	ESPIPE       Errno = 29
	EROFS        Errno = 30
	ERANGE       Errno = 34
	ENAMETOOLONG Errno = 36
	ENOSYS       Errno = 38
	ENOTEMPTY    Errno = 39
	ELOOP        Errno = 40
	ENODATA      Errno = 61
	EOVERFLOW    Errno = 75
	EOPNOTSUPP   Errno = 95
)

var names = map[Errno]string{
	EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
	ENXIO: "ENXIO", E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF",
	EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT",
	EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR",
	EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
	ETXTBSY: "ETXTBSY", EFBIG: "EFBIG", ENOSPC: "ENOSPC", ESPIPE: "ESPIPE",
	EROFS: "EROFS", ERANGE: "ERANGE", ENAMETOOLONG: "ENAMETOOLONG",
	ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP", ENODATA: "ENODATA",
	EOVERFLOW: "EOVERFLOW", EOPNOTSUPP: "EOPNOTSUPP",
}

// String returns the symbolic name, or "errno N" for a number not listed.
func (e Errno) String() string {
	if n, ok := names[e]; ok {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}

// Error implements error.
func (e Errno) Error() string { return e.String() }

// Result is the strace-style result text of a failed call: "-ENOMEM".
func (e Errno) Result() string { return "-" + e.String() }

// Parse turns a symbolic name ("ENOMEM") back into an Errno.
func Parse(name string) (Errno, bool) {
	for e, n := range names {
		if n == name {
			return e, true
		}
	}
	return 0, false
}

// Of extracts the Errno of err; ok is false when err is not an Errno.
func Of(err error) (e Errno, ok bool) {
	e, ok = err.(Errno)
	return e, ok
}
