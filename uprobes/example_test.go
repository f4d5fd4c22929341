package uprobes_test

import (
	"fmt"

	"specvma/mm"
	"specvma/uprobes"
	"specvma/vfs"
)

// Register a probe and a return probe on a file's offset, map the file into
// a process, and hit the breakpoint the system installed there.
func ExampleSystem() {
	// A file with a fixed identity, so the output does not depend on the
	// machine (System.AddEvent takes a real path and stats it instead).
	id := vfs.InodeID{Dev: vfs.Dev{Major: 8, Minor: 1}, Ino: 4242}
	vfs.InodeFor(id).SetSize(0x4000)
	f := vfs.NewFile("/usr/bin/demo", vfs.InodeFor(id), vfs.ORdonly)
	defer f.Put()

	sys := uprobes.NewSystem()
	as := mm.New(mm.Config{})
	defer as.Exit()
	sys.Attach(as) // breakpoints now follow every mmap of a probed file
	text, _ := as.Mmap(0x400000, 0x4000, mm.ProtRead|mm.ProtExec, mm.MapPrivate, f, 0)

	for _, line := range []string{"p:demo/entry /usr/bin/demo:0x1000", "r:demo/exit /usr/bin/demo:0x1000"} {
		spec, err := uprobes.ParseSpec(line)
		if err != nil {
			fmt.Println(err)
			return
		}
		if _, err := sys.AddEventAt(spec, id); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println(sys.Breakpoints(as))

	task := sys.NewTask(as, mm.VMASeq) // resolve breakpoints with per-VMA validation
	defer task.Exit()
	fired, res := task.HitNames(text + 0x1000)
	fmt.Println("hit:", fired, "fast path:", res.Fallback == mm.FastPath)
	fired, _ = task.ReturnNames()
	fmt.Println("return:", fired)
	fired, _ = task.HitNames(text + 0x1004)
	fmt.Println("no breakpoint:", fired)
	// Output:
	// [0x401000 demo/entry,demo/exit]
	// hit: [demo/entry] fast path: true
	// return: [demo/exit]
	// no breakpoint: []
}
