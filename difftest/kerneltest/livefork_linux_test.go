//go:build linux && amd64

package kerneltest

import (
	"fmt"
	"strings"
	"testing"

	"specvma/mm"
	"specvma/procfs"
)

// TestLiveLoadFork forks a model loaded from a live process and compares
// the child with the real one. An agent maps, in the window, memory
// written and left alone, under MADV_DONTFORK, MADV_WIPEONFORK (written),
// mlock and MADV_DONTDUMP; the model is procfs.LoadLive of the agent with
// Smaps (so its VMAs carry VM_DONTCOPY, VM_WIPEONFORK, VM_LOCKED ...) and
// mm.AddressSpace.Fork of that; the agent then forks for real, and the
// real child, loaded the same way, must have the model child's VMAs, every
// one of the whole address space (libc, the stack, [vdso] included) with
// the same range, name and flags: no DONTFORK VMA, WIPEONFORK kept, mlock
// dropped. A model loaded from maps alone forks the DONTFORK VMA into the
// child, which the test shows too.
func TestLiveLoadFork(t *testing.T) {
	skipUnlessLinux(t)
	p, err := NewProcesses(DefaultWindow)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { p.Release() })
	const base = 0x500000000000
	steps := []string{
		"mmap 0x500000000000 0x4000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"touch 0x500000001000 write",
		"mmap 0x500000010000 0x4000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"madvise 0x500000011000 0x2000 MADV_DONTFORK",
		"mmap 0x500000020000 0x4000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"madvise 0x500000020000 0x2000 MADV_WIPEONFORK",
		"touch 0x500000020000 write",
		"mmap 0x500000030000 0x4000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"mlock 0x500000030000 0x1000",
		"madvise 0x500000032000 0x1000 MADV_DONTDUMP",
		"mmap 0x500000040000 0x2000 r-- MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED",
		"madvise 0x500000040000 0x2000 MADV_DONTFORK",
	}
	if out := run("livefork", strings.Join(steps, "\n")+"\n", p); strings.Contains(out, "error") || strings.Contains(out, "-E") {
		t.Fatalf("setting the agent up:\n%s", out)
	}
	parentPID := p.proc["main"].pid
	load := func(pid int, smaps bool) *mm.AddressSpace {
		as, _, err := procfs.LoadLive(pid, procfs.LoadOptions{Smaps: smaps})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(as.Exit)
		return as
	}
	parent := load(parentPID, true)
	for addr, f := range map[uint64]mm.VMFlags{base + 0x11000: mm.VMDontCopy, base + 0x20000: mm.VMWipeOnFork, base + 0x30000: mm.VMLocked} {
		if v, ok := parent.Lookup(addr); !ok || v.Flags&f == 0 {
			t.Fatalf("the parent loaded from smaps lacks flag %#x at %#x: %+v", f, addr, v)
		}
	}
	mchild, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mchild.Exit)
	if err := p.Fork("main", "kid"); err != nil {
		t.Fatal(err)
	}
	kchild := load(p.proc["kid"].pid, true)
	if diff := diffVMAs(kchild.VMAs(), mchild.VMAs()); diff != "" {
		t.Errorf("the model's child differs from the kernel's (kernel | model):\n%s", diff)
	}
	// Loaded from maps, the DONTFORK VMAs come with the fork.
	plain, err := load(parentPID, false).Fork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Exit)
	if _, ok := plain.Lookup(base + 0x11000); !ok {
		t.Error("a model loaded from maps alone knew of MADV_DONTFORK")
	}
}

// diffVMAs lists the VMAs of two address spaces that differ in range,
// name or flags (the flags both sides can know: VM_SOFTDIRTY aside).
func diffVMAs(kern, model []mm.Info) string {
	line := func(v mm.Info) string {
		return fmt.Sprintf("%x-%x %#x %s%s", v.Start, v.End, v.Flags&^mm.VMSoftDirty, v.Special, v.AnonName)
	}
	var b strings.Builder
	for i := 0; i < max(len(kern), len(model)); i++ {
		var k, m string
		if i < len(kern) {
			k = line(kern[i])
		}
		if i < len(model) {
			m = line(model[i])
		}
		mark := " "
		if k != m {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %-60s | %s\n", mark, k, m)
		if k != m && i < len(kern) && i < len(model) && kern[i].File != nil && model[i].File != nil {
			fmt.Fprintf(&b, "    files: %v | %v\n", kern[i].File.Inode().ID(), model[i].File.Inode().ID())
		}
	}
	if !strings.Contains(b.String(), "!") {
		return ""
	}
	return b.String()
}
