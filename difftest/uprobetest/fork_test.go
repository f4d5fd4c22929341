//go:build linux && amd64

package uprobetest

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"

	"specvma/mm"
	"specvma/procfs"
	"specvma/uprobes"
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

// TestTaskFork: a process forks inside a function with an entry and a
// return probe (svt_forker, the target's rfork command). In the kernel the
// parent fires the entry probe and the return probe, and the child, which
// was created inside the function, fires the return probe (dup_utask gave
// it the parent's pending return) and has the parent's [uprobes] area at
// the same address (dup_xol_work), although fork does not copy that area.
// The model: the parent's task hits the entry, the child's address space
// is uprobes.System.Fork of the parent (loaded from smaps after the fork,
// so with its [uprobes] area, VM_DONTCOPY), the child's task is Task.Fork
// of the parent's, and both return: each must fire what the kernel's did,
// and the child's address space must have the real child's VMAs.
func TestTaskFork(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	g := e.tr.Group
	lines := []string{e.spec("p", "forker", hexOff(e.lay.Forker)), e.spec("r", "forkerr", hexOff(e.lay.Forker))}
	e.register(lines...)
	entry := tg.Foo - e.lay.Foo + e.lay.Forker // svt_forker in the target's own text
	child, err := tg.RFork(entry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	kparent, _ := kernelHits(t, e.tr, tg.PID)
	kchild, _ := kernelHits(t, e.tr, child)
	at := fmt.Sprintf("@%#x", entry)
	if want := []string{g + "/forker" + at, g + "/forkerr" + at}; !slicesEqual(kparent, want) {
		t.Errorf("kernel: the parent fired %v, want %v", kparent, want)
	}
	if want := []string{g + "/forkerr" + at}; !slicesEqual(kchild, want) {
		t.Errorf("kernel: the child fired %v, want %v", kchild, want)
	}

	sys, parent := loadModelWith(t, tg.PID, lines, procfs.LoadOptions{Smaps: true})
	for _, s := range mm.Strategies() {
		task := sys.NewTask(parent, s)
		var mparent, mchild []string
		names, _ := task.HitNames(entry)
		for _, n := range names {
			mparent = append(mparent, n+at)
		}
		cas, err := sys.Fork(parent)
		if err != nil {
			t.Fatal(err)
		}
		ctask := task.Fork(cas)
		for _, side := range []struct {
			task *uprobes.Task
			out  *[]string
		}{{task, &mparent}, {ctask, &mchild}} {
			for side.task.Depth() > 0 {
				names, _ := side.task.ReturnNames()
				for _, n := range names {
					*side.out = append(*side.out, n+at)
				}
			}
			side.task.Exit()
		}
		sort.Strings(mparent)
		if !slicesEqual(mparent, kparent) || !slicesEqual(mchild, kchild) {
			t.Errorf("strategy %v: the model's parent fired %v and child %v; the kernel's %v and %v", s, mparent, mchild, kparent, kchild)
		}
		if s == mm.Strategies()[0] {
			real, _, err := procfs.LoadLive(child, procfs.LoadOptions{Smaps: true})
			if err != nil {
				t.Fatal(err)
			}
			if d := diffSpaces(real.VMAs(), cas.VMAs()); d != "" {
				t.Errorf("the model's child differs from the kernel's (kernel | model):\n%s", d)
			}
			real.Exit()
		}
		cas.Exit()
	}
	if err := tg.Kill(child); err != nil {
		t.Fatal(err)
	}
}

// diffSpaces lists two address spaces' VMAs side by side (range, flags,
// special name), marking those that differ; "" when none does.
func diffSpaces(kern, model []mm.Info) string {
	line := func(v []mm.Info, i int) string {
		if i >= len(v) {
			return ""
		}
		return fmt.Sprintf("%x-%x %#x %s", v[i].Start, v[i].End, v[i].Flags, v[i].Special)
	}
	var b strings.Builder
	differ := false
	for i := 0; i < max(len(kern), len(model)); i++ {
		k, m := line(kern, i), line(model, i)
		mark := " "
		if k != m {
			mark, differ = "!", true
		}
		fmt.Fprintf(&b, "%s %-50s | %s\n", mark, k, m)
	}
	if !differ {
		return ""
	}
	return b.String()
}
