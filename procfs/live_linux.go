//go:build linux

package procfs

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// liveFileSize stats the file a live mapping names and returns its size
// when the path still leads to the same device and inode.
func liveFileSize(e Entry) (int64, bool) {
	if e.Deleted() || e.Name == "" || e.Name[0] != '/' {
		return 0, false
	}
	fi, err := os.Stat(e.Path())
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return 0, false
	}
	dev := uint64(st.Dev) // Dev is uint32 or uint64, by arch
	if unix.Major(dev) != e.Dev.Major || unix.Minor(dev) != e.Dev.Minor || st.Ino != e.Inode {
		return 0, false
	}
	return st.Size, true
}
