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

type liveWalker struct{}

func newLiveWalker(*os.File) *liveWalker { return &liveWalker{} }

func (*liveWalker) query(uint64, uint64) (QueryResult, error) {
	return QueryResult{}, errors.New("PROCMAP_QUERY needs Linux")
}

func checkAlive(*os.File) error { return nil }
