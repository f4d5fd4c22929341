package procfs_test

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"specvma/mm"
	"specvma/procfs"
)

// Load a live process (here, this one) into the model and resolve
// addresses of it to the file and offset they map, without asking the
// kernel again. The output depends on the machine, so it is not checked.
func ExampleLoad() {
	as, err := procfs.Load(os.Getpid())
	if err != nil {
		fmt.Println(err) // a process that is gone, or not Linux
		return
	}
	defer as.Exit()
	type page struct {
		path string
		off  uint64
	}
	code := uint64(reflect.ValueOf(fmt.Println).Pointer()) // an address in this binary's text
	for _, addr := range []uint64{code, 0x10} {
		p, ok, _ := mm.Resolve(as, addr, mm.Locked, func(m mm.Mapping) (page, bool) {
			if m.File == nil {
				return page{}, false // anonymous memory
			}
			return page{m.File.Path(), m.Offset}, true
		})
		if ok {
			fmt.Printf("%#x: %s+%#x\n", addr, p.path, p.off)
		} else {
			fmt.Printf("%#x: no file\n", addr)
		}
	}
}

// Read a model address space's maps text the way Linux 6.17 does, one VMA
// at a time under its own read lock and never the mmap lock, and the way
// older kernels did, under the mmap read lock; both print the same lines.
func ExampleReadAll() {
	as := mm.New(mm.Config{})
	defer as.Exit()
	as.Mmap(0x200000000000, 0x3000, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous, nil, 0)
	as.Mprotect(0x200000001000, 0x1000, mm.ProtRead)

	text, _ := procfs.ReadAll(as, procfs.ReadVMALock)
	locked, _ := procfs.ReadAll(as, procfs.ReadLocked)
	// An anonymous line ends in a space after the inode, as in Linux; an
	// Example's output cannot show trailing spaces, so they are cut here.
	fmt.Print(strings.ReplaceAll(string(text), " \n", "\n"))
	fmt.Println("same as under the mmap lock:", string(text) == string(locked))
	// Output:
	// 200000000000-200000001000 rw-p 00000000 00:00 0
	// 200000001000-200000002000 r--p 00000000 00:00 0
	// 200000002000-200000003000 rw-p 00000000 00:00 0
	// same as under the mmap lock: true
}

// captureStdout runs f and returns what it printed.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	f()
	os.Stdout = old
	w.Close()
	return string(<-done)
}

// TestUncheckedExamples runs the examples whose output depends on the
// machine and checks its shape, so that they stay working code.
func TestUncheckedExamples(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skip("no /proc")
	}
	out := captureStdout(t, ExampleLoad)
	if !regexp.MustCompile(`(?m)^0x[0-9a-f]+: /\S+\+0x[0-9a-f]+\n0x10: no file\n$`).MatchString(out) {
		t.Errorf("ExampleLoad printed %q", out)
	}
}
