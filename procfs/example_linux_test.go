//go:build linux

package procfs_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"testing"

	"specvma/procfs"
)

// Ask the running kernel which mapping covers an address with the
// PROCMAP_QUERY ioctl (Linux 6.11+) on an open /proc/PID/maps, instead of
// reading and parsing the whole text.
func ExampleQueryLive() {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	code := uint64(reflect.ValueOf(fmt.Println).Pointer())
	r, err := procfs.QueryLive(f, procfs.Query{Addr: code, Flags: procfs.QueryVMAExecutable})
	if err != nil {
		fmt.Println("PROCMAP_QUERY:", err) // ENOTTY before 6.11
		return
	}
	fmt.Printf("%#x is in %x-%x, offset %#x of inode %d\n", code, r.Start, r.End, r.Offset, r.Inode)
}

// TestUncheckedQueryExample runs ExampleQueryLive, whose output depends on
// the machine, and checks its shape.
func TestUncheckedQueryExample(t *testing.T) {
	out := captureStdout(t, ExampleQueryLive)
	if !regexp.MustCompile(`^0x[0-9a-f]+ is in [0-9a-f]+-[0-9a-f]+, offset 0x[0-9a-f]+ of inode [1-9]\d*\n$|^PROCMAP_QUERY: ENOTTY\n$`).MatchString(out) {
		t.Errorf("ExampleQueryLive printed %q", out)
	}
}
