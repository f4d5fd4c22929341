//go:build !(linux && amd64)

package uprobetest

import (
	"runtime"
	"testing"
)

func TestLiveUprobes(t *testing.T) {
	t.Skipf("uprobetest: live uprobe tests need Linux on x86-64 (tracefs, and a target written in x86 assembly); this is %s/%s",
		runtime.GOOS, runtime.GOARCH)
}
