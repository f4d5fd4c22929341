//go:build !linux

package procfs

import "specvma/vfs"

// liveFileSize cannot stat mapped files on this OS.
func liveFileSize(Entry) (int64, bool) { return 0, false }

// sameFile cannot stat files on this OS.
func sameFile(string, vfs.InodeID) bool { return false }
