//go:build linux

package vfs

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"specvma/errno"
)

func openPath(path string) (*File, error) {
	flags := ORdwr
	fd, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		flags = ORdonly
		if fd, err = os.Open(path); err != nil {
			return nil, errnoOf(err)
		}
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return nil, errnoOf(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errno.ENOSYS
	}
	id := InodeID{Dev: Dev{unix.Major(st.Dev), unix.Minor(st.Dev)}, Ino: st.Ino}
	ino := InodeFor(id)
	ino.SetSize(st.Size)
	ino.SetDeleted(false)
	ino.SetMappable(!fi.IsDir())
	f := NewFile(path, ino, flags)
	f.SetNoExec(PathNoExec(path))
	return f, nil
}

// PathNoExec reports whether path lies on a mount with noexec set.
func PathNoExec(path string) bool {
	var sfs unix.Statfs_t
	return unix.Statfs(path, &sfs) == nil && sfs.Flags&unix.ST_NOEXEC != 0
}

func underlyingErrno(err error) (errno.Errno, bool) {
	var se syscall.Errno
	if errors.As(err, &se) {
		return errno.Errno(se), true
	}
	return 0, false
}
