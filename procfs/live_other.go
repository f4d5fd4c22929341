//go:build !linux

package procfs

// liveFileSize cannot stat mapped files on this OS.
func liveFileSize(Entry) (int64, bool) { return 0, false }
