package kerneltest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

var randomSeqs = flag.Int("random", 300, "random sequences TestRandomDiff runs")

// TestRandomDiff runs random sequences of calls inside a 64-page corner of
// the window on the kernel and on the model, and requires the same output.
// Each sequence is generated from its seed, so a failure names a seed that
// reproduces it (-run TestRandomDiff/seed=N). The calls mix valid and
// invalid arguments on purpose: errno and "nothing changed" are compared
// too.
func TestRandomDiff(t *testing.T) {
	skipUnlessLinux(t)
	fx := newFixture(t)
	win := DefaultWindow
	for seed := 1; seed <= *randomSeqs; seed++ {
		script := randomScript(uint64(seed))
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			text := fx.expand(script)
			kout := runKernel(t, "random", text)
			mout := runModel("random", text)
			kn, mn := win.Normalize(kout), win.Normalize(mout)
			if kn != mn {
				t.Errorf("the model differs from the kernel\nscript:\n%s\nkernel:\n%s\nmodel:\n%s", script, fx.unexpand(kn), fx.unexpand(mn))
			}
		})
	}
}

// randomScript makes one sequence: files opened once, then calls whose
// addresses and lengths fall on a small page grid so that they collide.
func randomScript(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed*7919))
	const base, pages = 0x500000000000, 48
	page := func() uint64 { return base + uint64(r.IntN(pages))*0x1000 }
	length := func() uint64 {
		switch r.IntN(10) {
		case 0:
			return 0
		case 1:
			return uint64(r.IntN(0x1000)) + 1 // unaligned
		}
		return uint64(r.IntN(6)+1) * 0x1000
	}
	prots := []string{"---", "r--", "rw-", "r-x", "rwx"}
	var b strings.Builder
	b.WriteString("open f $FILE1\nopen g $FILE1\nopen h $FILE2\n")
	for i := 0; i < 30; i++ {
		switch r.IntN(9) {
		case 0, 1:
			flags := []string{"MAP_PRIVATE|MAP_ANONYMOUS", "MAP_SHARED|MAP_ANONYMOUS"}[r.IntN(2)]
			fixed := []string{"|MAP_FIXED", "|MAP_FIXED_NOREPLACE", "", "|MAP_FIXED|MAP_POPULATE", "|MAP_FIXED|MAP_GROWSDOWN"}[r.IntN(5)]
			fmt.Fprintf(&b, "mmap %#x %#x %s %s%s\n", page(), length(), prots[r.IntN(len(prots))], flags, fixed)
		case 2, 3:
			file := []string{"f", "g", "h"}[r.IntN(3)]
			typ := []string{"MAP_PRIVATE", "MAP_SHARED"}[r.IntN(2)]
			fmt.Fprintf(&b, "mmap %#x %#x %s %s|MAP_FIXED %s %#x\n", page(), length(), prots[r.IntN(len(prots))], typ, file, uint64(r.IntN(8))*0x1000)
		case 4:
			fmt.Fprintf(&b, "munmap %#x %#x\n", page(), length())
		case 5:
			fmt.Fprintf(&b, "mprotect %#x %#x %s\n", page(), length(), prots[r.IntN(len(prots))])
		case 6:
			fmt.Fprintf(&b, "touch %#x %s\n", page()+uint64(r.IntN(4096)), []string{"read", "write"}[r.IntN(2)])
		case 7:
			flags := []string{"0", "MREMAP_MAYMOVE", "MREMAP_MAYMOVE|MREMAP_FIXED", "MREMAP_MAYMOVE|MREMAP_DONTUNMAP|MREMAP_FIXED"}[r.IntN(4)]
			old, nl := length(), length()
			if strings.Contains(flags, "DONTUNMAP") {
				nl = old
			}
			if strings.Contains(flags, "FIXED") {
				fmt.Fprintf(&b, "mremap %#x %#x %#x %s %#x\n", page(), old, nl, flags, page())
			} else if flags == "0" {
				fmt.Fprintf(&b, "mremap %#x %#x %#x %s\n", page(), old, nl, flags)
			} else {
				// A move without a destination may leave the window: both
				// sides then report "<outside window>" and drop those lines.
				fmt.Fprintf(&b, "mremap %#x %#x %#x MREMAP_MAYMOVE\n", page(), old, nl)
			}
		case 8:
			b.WriteString("maps\n")
		}
	}
	b.WriteString("maps\n")
	return b.String()
}
