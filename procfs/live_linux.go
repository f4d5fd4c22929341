//go:build linux

package procfs

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"specvma/vfs"
)

// statRegular stats a regular file: its device, inode and size.
func statRegular(path string) (vfs.InodeID, int64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return vfs.InodeID{}, 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return vfs.InodeID{}, 0, false
	}
	dev := uint64(st.Dev) // Dev is uint32 or uint64, by arch
	return vfs.InodeID{Dev: vfs.Dev{Major: unix.Major(dev), Minor: unix.Minor(dev)}, Ino: st.Ino}, st.Size, true
}

// liveFileSize stats the file a live mapping names and returns its size
// when the path still leads to the same device and inode.
func liveFileSize(e Entry) (int64, bool) {
	if e.Deleted() || e.Name == "" || e.Name[0] != '/' {
		return 0, false
	}
	id, size, ok := statRegular(e.Path())
	if !ok || id.Dev != e.Dev || id.Ino != e.Inode {
		return 0, false
	}
	return size, true
}

// sameFile reports whether path is a regular file with inode id.
func sameFile(path string, id vfs.InodeID) bool {
	got, _, ok := statRegular(path)
	return ok && got == id
}
