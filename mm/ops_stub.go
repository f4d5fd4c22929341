package mm

import (
	"specvma/errno"
	"specvma/vfs"
)

// Mmap is mmap(2). file is nil for anonymous memory; it is referenced, not consumed.
func (as *AddressSpace) Mmap(addr, length uint64, prot, flags int, file *vfs.File, off uint64) (uint64, error) {
	return 0, errno.ENOSYS
}

// Munmap is munmap(2).
func (as *AddressSpace) Munmap(addr, length uint64) error { return errno.ENOSYS }

// Mprotect is mprotect(2).
func (as *AddressSpace) Mprotect(addr, length uint64, prot int) error { return errno.ENOSYS }

// Mremap is mremap(2).
func (as *AddressSpace) Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error) {
	return 0, errno.ENOSYS
}

// SetAnonName is prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, length, name); nil clears.
func (as *AddressSpace) SetAnonName(addr, length uint64, name *string) error { return errno.ENOSYS }

// Fault is a one-byte access at addr (a page fault); EFAULT where Linux raises a signal.
func (as *AddressSpace) Fault(addr uint64, write bool) error { return errno.ENOSYS }
