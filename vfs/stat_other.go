//go:build !linux

package vfs

import (
	"errors"
	"os"

	"specvma/errno"
)

// openPath on systems other than Linux has no stat identity to borrow: the
// file is checked for existence and given a synthetic identity.
func openPath(path string) (*File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errnoOf(err)
	}
	if fi.IsDir() {
		return nil, errno.EISDIR
	}
	path = CanonicalPath(path)
	var h uint64 = 1469598103934665603
	for i := 0; i < len(path); i++ {
		h = (h ^ uint64(path[i])) * 1099511628211
	}
	ino := InodeFor(InodeID{Dev: Dev{0, 0xfe}, Ino: h >> 1})
	ino.SetSize(fi.Size())
	return NewFile(path, ino, ORdonly), nil
}

func underlyingErrno(err error) (errno.Errno, bool) {
	if errors.Is(err, os.ErrNotExist) {
		return errno.ENOENT, true
	}
	if errors.Is(err, os.ErrPermission) {
		return errno.EACCES, true
	}
	return 0, false
}

// PathNoExec reports whether path lies on a noexec mount; unknown here.
func PathNoExec(path string) bool { return false }
