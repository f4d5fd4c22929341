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
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(fd.Fd()), &sfs); err != nil {
		return nil, errnoOf(err)
	}
	ino := InodeFor(id)
	ino.SetSize(st.Size)
	ino.SetDeleted(false)
	typ, ops, thp := classify(st.Mode, st.Rdev, sfs.Type)
	ino.SetType(typ)
	ino.SetMmapOps(ops)
	ino.SetTHPAligned(thp)
	f := NewFile(CanonicalPath(path), ino, flags)
	f.SetNoExec(sfs.Flags&unix.ST_NOEXEC != 0)
	return f, nil
}

// classify derives the file type and what its mmap does from the mode, the
// device number of a device file and the filesystem's magic number.
func classify(mode uint32, rdev uint64, fsMagic int64) (Type, MmapOps, bool) {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return Directory, MmapNone, false
	case unix.S_IFCHR:
		// Of the character devices only /dev/zero (mem, minor 5) is
		// modelled; the others here have no mmap or a privileged one.
		if unix.Major(rdev) == 1 && unix.Minor(rdev) == 5 {
			return CharDevice, MmapZero, false
		}
		return CharDevice, MmapNone, false
	case unix.S_IFBLK:
		return BlockDevice, MmapPageCache, false
	case unix.S_IFIFO:
		return FIFO, MmapNone, false
	case unix.S_IFSOCK:
		return Socket, MmapNone, false
	}
	switch fsMagic {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.TRACEFS_MAGIC, unix.DEBUGFS_MAGIC,
		unix.SECURITYFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC:
		// Synthetic files: their file_operations have no mmap.
		return Regular, MmapNone, false
	case unix.HUGETLBFS_MAGIC:
		return Regular, MmapHugeTLB, false
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC:
		return Regular, MmapPageCache, true // f_op->get_unmapped_area is thp_get_unmapped_area
	}
	return Regular, MmapPageCache, false
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
