package kerneltest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"specvma/mm"
	"specvma/procfs"
	"specvma/scenario"
)

const brkChildEnv = "SPECVMA_KERNELTEST_BRK_CHILD"

// TestBrk checks brk against the kernel: growth into a [heap] VMA, shrink,
// a break moved within its page, growth refused near the next mapping
// (the old break comes back), a request below the heap's start. The
// program break of the Go test process is free (the runtime never calls
// brk), but moving it is for the life of the process, so the kernel side
// runs in a child: the test binary again, which runs the script on the
// kernel and on a model given the same heap start, and compares.
func TestBrk(t *testing.T) {
	skipUnlessLinux(t)
	if os.Getenv(brkChildEnv) != "" {
		brkChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrk$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), brkChildEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if strings.Contains(out.String(), "--- SKIP") {
		t.Skipf("the child skipped:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("the brk child failed: %v\n%s", err, out.String())
	}
}

func brkChild(t *testing.T) {
	start, ok := StartBrk()
	if !ok || start == 0 || start%mm.PageSize != 0 {
		t.Skipf("start_brk %#x unreadable or unaligned", start)
	}
	win := Window{Base: start, Size: 64 << 20}
	k, err := NewKernel(win)
	if err != nil {
		t.Skipf("the heap's window is not free (something used brk?): %v", err)
	}
	defer k.Release()
	sp, _ := k.Space("main")
	if cur, _ := sp.Brk(0); cur != start {
		t.Skipf("the break has moved already: %#x, start %#x", cur, start)
	}
	h := func(off int64) string { return fmt.Sprintf("%#x", int64(start)+off) }
	script := strings.Join([]string{
		"brk 0",
		"brk " + h(0x3000),
		"maps",
		"brk " + h(0x1800),
		"maps",
		"brk " + h(0x1900),
		"mmap " + h(0x10000) + " 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"brk " + h(0x10000),
		"brk " + h(0xe000),
		"maps",
		"munmap " + h(0x10000) + " 0x1000",
		"mmap " + h(0x20000) + " 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"brk " + h(0x20000),
		"maps",
		"brk " + h(-0x1000),
		"brk " + h(0),
		"maps",
		"munmap " + h(0x20000) + " 0x1000",
	}, "\n") + "\n"
	kout := run("brk", script, k)
	cfg, _ := procfs.HostConfig()
	model := scenario.NewModel(cfg)
	model.AddressSpace("main").SetLayout(mm.Layout{StartBrk: start, Brk: start})
	mout := run("brk", script, model)
	if kn, mn := win.Normalize(kout), win.Normalize(mout); kn != mn {
		t.Errorf("the model differs from the kernel\nscript:\n%s\nkernel:\n%s\nmodel:\n%s", script, kn, mn)
	}
}
