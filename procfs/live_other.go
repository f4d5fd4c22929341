//go:build !linux

package procfs

import (
	"errors"
	"os"

	"specvma/vfs"
)

// liveFileSize cannot stat mapped files on this OS.
func liveFileSize(Entry) (int64, bool) { return 0, false }

// sameFile cannot stat files on this OS.
func sameFile(string, vfs.InodeID) bool { return false }

var errNoEntry = errors.New("no entry")

func queryLive(*os.File, Query) (QueryResult, error) {
	return QueryResult{}, errors.New("PROCMAP_QUERY needs Linux")
}

func checkAlive(*os.File) error { return nil }
