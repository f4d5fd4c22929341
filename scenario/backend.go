package scenario

import "specvma/procfs"

// Backend is what a script drives: the specvma model, or (in the
// differential tests) the running Linux kernel. Errors are errno.Errno
// values, the errno Linux returns for the call.
type Backend interface {
	// Space returns the address space called name, creating it empty on
	// first use; a backend with only one address space may refuse others.
	Space(name string) (Space, error)
	// Open opens path the way scripts do: read-write when the file's
	// permissions allow it, read-only otherwise (open(2)).
	Open(path string) (FileRef, error)
	// Close drops an open file description (close(2)).
	Close(f FileRef) error
}

// Forker is a Backend whose address spaces can fork. Without it, a script
// that uses "process NAME fork" stops before it runs.
type Forker interface {
	// Fork makes the address space child, which must not exist, a copy of
	// parent as fork(2) makes one. An errno.Errno error is the call's
	// failure (ENOMEM); any other stops the run.
	Fork(parent, child string) error
}

// FileRef is a backend's open file description (a *vfs.File, or an fd).
type FileRef any

// Space is one address space.
type Space interface {
	Mmap(addr, length uint64, prot, flags int, file FileRef, off uint64) (uint64, error)
	Munmap(addr, length uint64) error
	Mprotect(addr, length uint64, prot int) error
	Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error)
	// SetAnonName names anonymous memory; a nil name clears it.
	SetAnonName(addr, length uint64, name *string) error
	// Madvise is madvise(2) with the advice mm.Madvise models.
	Madvise(addr, length uint64, advice int) error
	// Mlock2 is mlock2(2); flags 0 is mlock(2).
	Mlock2(addr, length uint64, flags int) error
	Munlock(addr, length uint64) error
	Mlockall(flags int) error
	Munlockall() error
	// Brk is brk(2): the new program break, or the old one when refused.
	Brk(addr uint64) (uint64, error)
	// Mseal is mseal(2).
	Mseal(addr, length uint64, flags int) error
	// Touch makes a one-byte access; errno.EFAULT where Linux would signal.
	Touch(addr uint64, write bool) error
	// Maps returns the address space as /proc/PID/maps prints it.
	Maps() (string, error)
}

// MapsReader is a Space whose maps text can be read with a chosen maps
// reader (the model's: procfs.Reader), page by page.
type MapsReader interface {
	MapsWith(r procfs.Reader) (string, error)
}

// Querier is a Space that answers PROCMAP_QUERY: the VMA for addr with the
// query flags, its name and build ID asked for.
type Querier interface {
	Query(flags, addr uint64) (procfs.QueryResult, error)
}
