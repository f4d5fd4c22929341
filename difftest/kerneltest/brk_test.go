package kerneltest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
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
// kernel and on a model given the same heap start, and compares. Random
// sequences around the heap follow (one per ten of -random), and last a
// sequence under RLIMIT_DATA, which then holds for the child.
func TestBrk(t *testing.T) {
	skipUnlessLinux(t)
	if os.Getenv(brkChildEnv) != "" {
		brkChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrk$", "-test.count=1", "-test.v", fmt.Sprintf("-random=%d", *randomSeqs))
	// A test binary that links C (the fork agent) has glibc's malloc, which
	// would take the break for its main arena: have it use mmap only.
	cmd.Env = append(os.Environ(), brkChildEnv+"=1", "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=0")
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
		m, _ := os.ReadFile("/proc/self/maps")
		t.Skipf("the heap's window is not free (something used brk?): %v\n%s", err, m)
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
	// RLIMIT_DATA (last: the limit stays for this process): growth past
	// it is refused, whether the heap alone or with another data mapping.
	limited := strings.Join([]string{
		"config data_rlimit 0x8000",
		"brk " + h(0x8000),
		"brk " + h(0x8001),
		"brk " + h(0x4000),
		"mmap " + h(0x10000) + " 0x3000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"brk " + h(0x6000),
		"brk " + h(0x5000),
		"mmap " + h(0x20000) + " 0x3000 r-- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
		"maps",
		"brk " + h(0),
		"munmap " + h(0x10000) + " 0x20000",
	}, "\n") + "\n"
	scripts := []string{script}
	for seed := range uint64(*randomSeqs / 10) {
		scripts = append(scripts, randomBrkScript(seed, h))
	}
	for _, sc := range append(scripts, limited) {
		k.ApplyLimits = true
		kout := run("brk", sc, k)
		mout := runModelHeap(t, "brk", sc, start)
		if kn, mn := win.Normalize(kout), win.Normalize(mout); kn != mn {
			t.Errorf("the model differs from the kernel\nscript:\n%s\nkernel:\n%s\nmodel:\n%s", sc, kn, mn)
		}
	}
}

// randomBrkScript is a random sequence around the heap: brk to page and
// byte offsets (below the start too), with mappings, unmaps, protection
// changes, locks, advice and touches in and next to the heap, so that
// growth meets other mappings and the [heap] VMA is split and merged. It
// ends with the break back at the start and the range unmapped.
func randomBrkScript(seed uint64, h func(int64) string) string {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	off := func() int64 { return int64(r.IntN(32)) * 0x1000 }
	var b strings.Builder
	for range 20 {
		switch r.IntN(9) {
		case 0, 1, 2:
			o := off()
			switch r.IntN(4) {
			case 0:
				o += int64(r.IntN(0x1000))
			case 1:
				o = -0x1000
			}
			fmt.Fprintf(&b, "brk %s\n", h(o))
		case 3:
			fmt.Fprintf(&b, "mmap %s %#x %s MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED\n", h(off()), (r.IntN(4)+1)*0x1000,
				[]string{"rw-", "r--", "---"}[r.IntN(3)])
		case 4:
			fmt.Fprintf(&b, "munmap %s %#x\n", h(off()), (r.IntN(4)+1)*0x1000)
		case 5:
			fmt.Fprintf(&b, "mprotect %s %#x %s\n", h(off()), (r.IntN(4)+1)*0x1000, []string{"rw-", "r--"}[r.IntN(2)])
		case 6:
			fmt.Fprintf(&b, "touch %s %s\n", h(off()+int64(r.IntN(0x1000))), []string{"read", "write"}[r.IntN(2)])
		case 7:
			fmt.Fprintf(&b, "madvise %s %#x %s\n", h(off()), (r.IntN(4)+1)*0x1000, []string{"MADV_DONTFORK", "MADV_DOFORK", "MADV_DONTNEED"}[r.IntN(3)])
		default:
			b.WriteString("maps\n")
		}
	}
	// Back to the start: a shrink needs something mapped above the new
	// break, or Linux refuses it.
	fmt.Fprintf(&b, "maps\nmmap %s 0x40000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED\nbrk %s\nmunmap %s 0x40000\n", h(0), h(0), h(0))
	return b.String()
}

// runModelHeap runs script on a model configured like this kernel whose
// "main" has its heap at start (start_brk and the break). The script's
// leading config lines are applied first, each printing "= 0" as the
// config command does: giving the layout creates the address space, after
// which config would be refused.
func runModelHeap(t *testing.T, name, script string, start uint64) string {
	t.Helper()
	cfg, _ := procfs.HostConfig()
	prefix, rest := "", script
	for strings.HasPrefix(rest, "config ") {
		line, after, _ := strings.Cut(rest, "\n")
		f := strings.Fields(line)
		v, _ := strconv.ParseUint(f[2], 0, 64)
		if err := scenario.SetConfig(&cfg, f[1], v); err != nil {
			t.Fatal(err)
		}
		prefix, rest = prefix+"= 0\n", after
	}
	model := scenario.NewModel(cfg)
	model.AddressSpace("main").SetLayout(mm.Layout{StartBrk: start, Brk: start})
	return prefix + run(name, rest, model)
}
