//go:build linux && amd64

package uprobetest

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"testing"

	"specvma/procfs"
)

// TestFork: a registered probe with an SDT semaphore fires in a forked
// child, which inherits the breakpoints of the parent's copied text
// (its own executable and a second private executable mapping, not a
// third one marked MADV_DONTFORK, which the child does not have) and the
// semaphore's value with its memory (three: one per breakpoint of the
// parent); disabling the event takes the breakpoints out of the child as
// well as the parent and moves each semaphore back by its own process's
// breakpoints, which leaves the child's at one. The model's child is
// uprobes.System.Fork of the parent loaded from smaps (so with its
// VM_DONTCOPY); its breakpoints, hits and semaphore must be the kernel's,
// before and after.
func TestFork(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg, wholeFile(e, "rx", "r-x", false), wholeFile(e, "dontfork", "r-x", false))
	const madvDontFork = 10
	if err := tg.Madvise(ms[1].addr, ms[1].len, madvDontFork); err != nil {
		t.Fatal(err)
	}
	lines := []string{e.spec("p", "fork", fmt.Sprintf("%#x(%#x)", e.lay.Foo, e.lay.Sema))}
	e.register(lines...)
	entry := ms[0].at(e.lay.Foo)
	child, err := tg.Fork(entry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	calls := []call{{via: ms[0].String(), entry: entry, insns: []uint64{entry, entry + 3}}}

	// Loaded from smaps, the model knows the MADV_DONTFORK (VM_DONTCOPY).
	sys, parent := loadModelWith(t, tg.PID, lines, procfs.LoadOptions{Smaps: true})
	mchild, err := sys.Fork(parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mchild.Exit)
	ev := events{e.lay.Foo: {e.tr.Group + "/fork"}}
	checkBreakpoints(t, child, e.bin, ev, sys, mchild)
	checkHits(t, e.tr, child, sys, mchild, calls)
	if kern, _ := kernelHits(t, e.tr, child); len(kern) != 1 {
		t.Errorf("the child's call fired %v in the kernel, want one hit", kern)
	}
	ksema := childSemaphore(t, child, tg.Sema)
	psema, err := tg.Semaphore()
	if err != nil {
		t.Fatal(err)
	}
	if ksema != psema || ksema != 3 {
		t.Errorf("kernel: the child's semaphore is %d, the parent's %d; want 3 and 3 (the parent's three breakpoints, copied)", ksema, psema)
	}
	if got := sys.RefCtr(mchild, tg.Sema); got != ksema {
		t.Errorf("model: the child's semaphore %d, the kernel's %d", got, ksema)
	}

	// Disabling unregisters: the breakpoints leave both processes.
	if err := e.tr.Disable(); err != nil {
		t.Fatal(err)
	}
	for _, ev := range sys.Events() {
		if err := sys.RemoveEvent(ev.Consumer.Name); err != nil {
			t.Fatal(err)
		}
	}
	checkBreakpoints(t, child, e.bin, ev, sys, mchild)
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, parent)
	if k, m := childSemaphore(t, child, tg.Sema), sys.RefCtr(mchild, tg.Sema); k != 1 || m != 1 {
		t.Errorf("after unregistering: the child's semaphore is %d in the kernel, %d in the model; want 1 (3 copied, 2 taken back)", k, m)
	}
	if k, err := tg.Semaphore(); err != nil || k != 0 || sys.RefCtr(parent, tg.Sema) != 0 {
		t.Errorf("after unregistering: the parent's semaphore is %d (%v) in the kernel, %d in the model; want 0", k, err, sys.RefCtr(parent, tg.Sema))
	}
	if err := tg.Kill(child); err != nil {
		t.Fatal(err)
	}
}

// childSemaphore reads the 16-bit semaphore at addr in process pid.
func childSemaphore(t *testing.T, pid int, addr uint64) int {
	t.Helper()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var b [2]byte
	if _, err := mem.ReadAt(b[:], int64(addr)); err != nil {
		t.Fatalf("reading the semaphore of process %d: %v", pid, err)
	}
	return int(binary.LittleEndian.Uint16(b[:]))
}
