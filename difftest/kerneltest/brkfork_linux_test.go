//go:build linux && amd64

package kerneltest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBrkFork checks brk in forking scripts against the kernel, on the
// multi-process backend: the main agent's heap is the window
// (UseHeapWindow), a forked agent inherits its parent's heap start and
// break, and each process moves its own break afterwards. The model is
// given the main agent's heap start; its fork copies the layout. A fixed
// sequence (the child's break and [heap] are the parent's; growth in the
// child does not extend a heap the parent had written, which is a fork
// child's VMA, but does extend an unwritten one; shrinking in one process
// leaves the other's alone; RLIMIT_AS refuses a child's growth) is
// followed by random ones (one per ten of -random).
func TestBrkFork(t *testing.T) {
	skipUnlessLinux(t)
	fixed := func(h func(int64) string) string {
		return strings.Join([]string{
			"brk 0",
			"brk " + h(0x3000),
			"touch " + h(0x1000) + " write",
			"maps",
			"process kid fork",
			"brk 0",
			"maps",
			"brk " + h(0x5000),
			"maps",
			"brk " + h(0x2000),
			"maps",
			"process main",
			"brk 0",
			"maps",
			"brk " + h(0x6000),
			"maps",
			"process kid2 fork",
			"brk " + h(0x8000),
			"maps",
			"process main",
			"brk " + h(0x7000),
			"maps",
		}, "\n") + "\n"
	}
	limited := func(h func(int64) string) string {
		return strings.Join([]string{
			"config as_rlimit 0x4000",
			"brk " + h(0x3000),
			"process kid fork",
			"brk " + h(0x5000),
			"brk " + h(0x4000),
			"mmap " + h(0x10000) + " 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
			"maps",
			"process main",
			"brk " + h(0x4000),
			"maps",
		}, "\n") + "\n"
	}
	gens := []func(func(int64) string) string{fixed, limited}
	for seed := range uint64(*randomSeqs / 10) {
		gens = append(gens, func(h func(int64) string) string { return randomBrkForkScript(seed, h) })
	}
	for i, gen := range gens {
		p, err := NewProcesses(DefaultWindow)
		if err != nil {
			t.Skip(err)
		}
		win, err := p.UseHeapWindow(64 << 20)
		if err != nil {
			p.Release()
			t.Fatal(err)
		}
		start := win.Base
		script := gen(func(off int64) string { return fmt.Sprintf("%#x", int64(start)+off) })
		kout := run("brkfork", script, p)
		p.Release()
		if *kernelOnly {
			t.Logf("sequence %d, kernel:\n%s", i, formatTranscript(transcript("brkfork", script, win.Normalize(kout))))
			continue
		}
		mout := runModelHeap(t, "brkfork", script, start)
		if strings.Contains(kout, "error: ") {
			t.Fatalf("sequence %d: the kernel run stopped:\n%s\n%s", i, script, kout)
		}
		if kn, mn := win.Normalize(kout), win.Normalize(mout); kn != mn {
			t.Errorf("sequence %d: the model differs from the kernel\n%s", i,
				sideBySide(transcript("brkfork", script, kn), transcript("brkfork", script, mn)))
		}
	}
}

// randomBrkForkScript is randomBrkScript with forks: up to three children
// (forks of forks too), the calls moving between the processes, so that
// each moves its own break around a heap it inherited.
func randomBrkForkScript(seed uint64, h func(int64) string) string {
	r := rand.New(rand.NewPCG(seed, seed^0xb4f0))
	off := func() int64 { return int64(r.IntN(32)) * 0x1000 }
	procs := []string{"main"}
	var b strings.Builder
	for range 24 {
		switch r.IntN(12) {
		case 0, 1, 2, 3:
			o := off()
			if r.IntN(4) == 0 {
				o += int64(r.IntN(0x1000))
			}
			fmt.Fprintf(&b, "brk %s\n", h(o))
		case 4:
			if len(procs) < 4 {
				name := fmt.Sprintf("kid%d", len(procs))
				procs = append(procs, name)
				fmt.Fprintf(&b, "process %s fork\n", name)
			}
		case 5:
			fmt.Fprintf(&b, "process %s\n", procs[r.IntN(len(procs))])
		case 6:
			fmt.Fprintf(&b, "mmap %s %#x %s MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED\n", h(off()), (r.IntN(4)+1)*0x1000,
				[]string{"rw-", "r--"}[r.IntN(2)])
		case 7:
			fmt.Fprintf(&b, "munmap %s %#x\n", h(off()), (r.IntN(4)+1)*0x1000)
		case 8:
			fmt.Fprintf(&b, "mprotect %s %#x %s\n", h(off()), (r.IntN(4)+1)*0x1000, []string{"rw-", "r--"}[r.IntN(2)])
		case 9, 10:
			fmt.Fprintf(&b, "touch %s %s\n", h(off()+int64(r.IntN(0x1000))), []string{"read", "write"}[r.IntN(2)])
		default:
			b.WriteString("maps\n")
		}
	}
	for _, p := range procs {
		fmt.Fprintf(&b, "process %s\nbrk 0\nmaps\n", p)
	}
	return b.String()
}
