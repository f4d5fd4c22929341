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
	huge, why := fx.useHuge()
	if !huge {
		t.Logf("sequences without huge pages: %s", why)
	}
	for seed := 1; seed <= *randomSeqs; seed++ {
		script := randomScript(uint64(seed), huge)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			text := fx.expand(script)
			pages := fx.resetHuge(t)
			memBefore := hugeState()
			kout := runKernel(t, "random", text)
			fx.resetHuge(t)
			mout := runModelHuge("random", text, pages)
			kn, mn := win.Normalize(kout), win.Normalize(mout)
			if kn != mn {
				t.Errorf("the model differs from the kernel (huge pages before: %s)\nscript:\n%s\nkernel:\n%s\nmodel:\n%s", memBefore, script, fx.unexpand(kn), fx.unexpand(mn))
			}
		})
	}
}

// randomScript makes one sequence: files opened once, then calls whose
// addresses and lengths fall on a small page grid so that they collide.
// Besides anonymous memory and regular files it reaches device and
// special files (/dev/zero, /dev/null, a FIFO), files named through
// symbolic links and non-canonical paths, a file large enough for THP
// placement, hinted (not fixed) file mappings, lengths larger than the
// machine's memory and past the address limit, madvise, mlock, mlock2,
// munlock, mlockall and munlockall (MCL_ONFAULT forms), MAP_LOCKED,
// PROCMAP_QUERY, and (in one sequence in 32, whose kernel side then runs
// in a child process) mseal. One sequence in 8 forks instead: up to three
// children (forks of forks too), the calls moving between the processes
// and confined to written private memory in an 8-page corner, each
// process's maps printed when it is left and at the end (the kernel side
// runs on the multi-process backend). One sequence in 16 sets RLIMIT_AS
// first, to 8 to 47 pages (its kernel side runs in an agent that sets the
// limit on itself). With huge, the sequences that do not fork or limit the
// address space map huge pages too: MAP_HUGETLB memory and a hugetlbfs
// file ($HUGE), at 2 MiB-aligned addresses over the same pages (so that small-page calls
// meet huge VMAs), with and without MAP_NORESERVE, and mremap them between
// aligned addresses.
func randomScript(seed uint64, huge bool) string {
	r := rand.New(rand.NewPCG(seed, seed*7919))
	const base, pages = 0x500000000000, 48
	page := func() uint64 { return base + uint64(r.IntN(pages))*0x1000 }
	small := func() uint64 { return uint64(r.IntN(6)+1) * 0x1000 }
	// length may be huge: calls that fault memory in (MAP_POPULATE, mlock,
	// mremap growing a locked VMA) take small() instead, or they would
	// really fill 64 GiB.
	length := func() uint64 {
		switch r.IntN(14) {
		case 0:
			return 0
		case 1:
			return uint64(r.IntN(0x1000)) + 1 // unaligned
		case 2:
			return 0x1000000000 // 64 GiB: more than RAM and swap, inside the window
		case 3:
			return 0x200000 // one PMD: THP placement of hinted file mappings
		}
		return uint64(r.IntN(6)+1) * 0x1000
	}
	// pastLimit lengths run beyond the user address limit; only calls the
	// kernel must refuse from their arguments, or whose old length it never
	// checks (mremap), get them.
	pastLimit := func(l uint64) uint64 {
		if r.IntN(12) == 0 {
			return []uint64{0x800000000000, 0xfffffffffffff000}[r.IntN(2)]
		}
		return l
	}
	prots := []string{"---", "r--", "rw-", "r-x", "rwx"}
	advice := []string{"MADV_DONTFORK", "MADV_DOFORK", "MADV_DONTDUMP", "MADV_DODUMP", "MADV_WIPEONFORK",
		"MADV_KEEPONFORK", "MADV_HUGEPAGE", "MADV_NOHUGEPAGE", "MADV_SEQUENTIAL", "MADV_RANDOM",
		"MADV_NORMAL", "MADV_MERGEABLE", "MADV_UNMERGEABLE", "MADV_DONTNEED", "MADV_FREE"}
	seal := seed%32 == 0 // each such sequence costs a child process
	forks := seed%8 == 4
	asLimit := seed%16 == 2           // RLIMIT_AS: these run in the agents
	huge = huge && !forks && !asLimit // the multi-process backend maps no huge pages
	procs := []string{"main"}
	var b strings.Builder
	if asLimit {
		fmt.Fprintf(&b, "config as_rlimit %#x\n", uint64(r.IntN(40)+8)*0x1000)
	}
	b.WriteString("open f $FILE1\nopen g $LINK\nopen h $DIR//sub/..//file2\nopen z /dev/zero\nopen n /dev/null\n" +
		"open p $FIFO\nopen big $BIG\nopen s $SUBLINK/../file1\n")
	files := []string{"f", "g", "h", "z", "z", "n", "p", "big", "big", "s"}
	if huge {
		b.WriteString("open hh $HUGE\n")
		files = append(files, "hh", "hh")
	}
	// Moving part of a private VMA that reserved huge pages leaks the
	// reservations of the rest, on the real machine until reboot (README):
	// such mappings are made in one sequence in four only.
	reservePrivate := seed%4 == 0
	hugeAddr := func() uint64 { return base + uint64(r.IntN(4))*0x200000 }
	hugeLen := func() uint64 {
		if r.IntN(4) == 0 {
			return length()
		}
		return uint64(r.IntN(3)+1) * 0x200000
	}
	calls := 15 // 13, 14: mlockall, MAP_LOCKED, query; 15, 16: huge pages
	if huge {
		calls = 17
	}
	for i := 0; i < 30; i++ {
		if forks && (r.IntN(8) == 0 || i == 15 && len(procs) == 1) {
			b.WriteString("maps\n") // what this process has come to, before it leaves
			if len(procs) < 4 && (r.IntN(2) == 0 || len(procs) == 1) {
				procs = append(procs, fmt.Sprintf("c%d", len(procs)))
				fmt.Fprintf(&b, "process %s fork\n", procs[len(procs)-1])
			} else {
				fmt.Fprintf(&b, "process %s\n", procs[r.IntN(len(procs))])
			}
			continue
		}
		if forks {
			// A forking sequence makes only what fork treats specially:
			// written private memory split and joined again in an 8-page
			// corner, moved, wiped or not copied (the other calls, whose
			// large mappings would cover the corner, are the other
			// sequences' business).
			near := func() uint64 { return base + uint64(r.IntN(8))*0x1000 }
			rw := []string{"rw-", "r--"}[r.IntN(2)]
			switch n := r.IntN(11); {
			case n < 2: // fills holes only, so written memory stays
				fmt.Fprintf(&b, "mmap %#x %#x %s MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE\n", near(), small(), rw)
			case n < 5:
				fmt.Fprintf(&b, "touch %#x write\n", near())
			case n < 9:
				fmt.Fprintf(&b, "mprotect %#x %#x %s\n", near(), uint64(r.IntN(4)+1)*0x1000, rw)
			case n < 10:
				fmt.Fprintf(&b, "mremap %#x %#x %#x MREMAP_MAYMOVE|MREMAP_FIXED %#x\n", near(), small(), small(), near())
			default:
				fmt.Fprintf(&b, "madvise %#x %#x %s\n", near(), small(), []string{"MADV_WIPEONFORK", "MADV_DONTFORK", "MADV_DONTDUMP", "MADV_DODUMP"}[r.IntN(4)])
			}
			continue
		}
		switch r.IntN(calls) {
		case 15, 16:
			// Huge pages: MAP_HUGETLB memory or the hugetlbfs file at
			// aligned addresses, or an mremap between aligned addresses.
			switch r.IntN(4) {
			case 0, 1:
				typ := []string{"MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB", "MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB"}[r.IntN(2)]
				extra := []string{"|MAP_FIXED", "|MAP_FIXED|MAP_NORESERVE", "|MAP_FIXED|MAP_NORESERVE", "",
					"|MAP_FIXED_NOREPLACE", "|MAP_FIXED|MAP_POPULATE", "|MAP_FIXED|MAP_LOCKED"}[r.IntN(7)]
				a := hugeAddr()
				if r.IntN(6) == 0 {
					a = page()
				}
				if !reservePrivate && strings.Contains(typ, "PRIVATE") && !strings.Contains(extra, "NORESERVE") {
					extra += "|MAP_NORESERVE"
				}
				fmt.Fprintf(&b, "mmap %#x %#x %s %s%s\n", a, hugeLen(), prots[r.IntN(len(prots))], typ, extra)
			case 2:
				typ := []string{"MAP_PRIVATE", "MAP_SHARED", "MAP_PRIVATE|MAP_NORESERVE"}[r.IntN(3)]
				if !reservePrivate && typ == "MAP_PRIVATE" {
					typ += "|MAP_NORESERVE"
				}
				off := uint64(r.IntN(4)) * 0x200000
				if r.IntN(6) == 0 {
					off = uint64(r.IntN(8)) * 0x1000
				}
				fmt.Fprintf(&b, "mmap %#x %#x %s %s|MAP_FIXED hh %#x\n", hugeAddr(), hugeLen(), prots[r.IntN(len(prots))], typ, off)
			default:
				flags := []string{"MREMAP_MAYMOVE|MREMAP_FIXED", "0", "MREMAP_MAYMOVE"}[r.IntN(3)]
				old, nl := hugeLen(), hugeLen()
				if flags == "MREMAP_MAYMOVE|MREMAP_FIXED" {
					fmt.Fprintf(&b, "mremap %#x %#x %#x %s %#x\n", hugeAddr(), old, nl, flags, hugeAddr()+0x1000000)
				} else {
					fmt.Fprintf(&b, "mremap %#x %#x %#x %s\n", hugeAddr(), old, nl, flags)
				}
			}
			continue
		case 13:
			switch r.IntN(4) {
			case 0:
				fmt.Fprintf(&b, "mlockall %s\n", []string{"MCL_CURRENT|MCL_ONFAULT", "MCL_FUTURE|MCL_ONFAULT",
					"MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT", "MCL_ONFAULT", "0"}[r.IntN(5)])
			case 1:
				b.WriteString("munlockall\n")
			default:
				fmt.Fprintf(&b, "mmap %#x %#x %s MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_LOCKED\n", page(), small(), prots[r.IntN(len(prots))])
			}
			continue
		case 14:
			fmt.Fprintf(&b, "query %#x %s\n", page(), []string{"0", "PROCMAP_QUERY_COVERING_OR_NEXT_VMA",
				"PROCMAP_QUERY_FILE_BACKED_VMA|PROCMAP_QUERY_COVERING_OR_NEXT_VMA", "PROCMAP_QUERY_VMA_WRITABLE|PROCMAP_QUERY_COVERING_OR_NEXT_VMA"}[r.IntN(4)])
			continue
		}
		switch r.IntN(13) {
		case 0, 1:
			flags := []string{"MAP_PRIVATE|MAP_ANONYMOUS", "MAP_SHARED|MAP_ANONYMOUS"}[r.IntN(2)]
			fixed := []string{"|MAP_FIXED", "|MAP_FIXED_NOREPLACE", "", "|MAP_FIXED|MAP_POPULATE",
				"|MAP_FIXED|MAP_GROWSDOWN", "|MAP_FIXED|MAP_NORESERVE"}[r.IntN(6)]
			l := length()
			if strings.Contains(fixed, "POPULATE") {
				l = small()
			}
			fmt.Fprintf(&b, "mmap %#x %#x %s %s%s\n", page(), l, prots[r.IntN(len(prots))], flags, fixed)
		case 2, 3:
			file := files[r.IntN(len(files))]
			typ := []string{"MAP_PRIVATE", "MAP_SHARED", "MAP_SHARED_VALIDATE"}[r.IntN(3)]
			fixed := []string{"|MAP_FIXED", "|MAP_FIXED", "|MAP_FIXED_NOREPLACE", ""}[r.IntN(4)]
			off := uint64(r.IntN(8)) * 0x1000
			if r.IntN(10) == 0 {
				off = []uint64{0x7ffffffffffff000, 0xfffffffffff00000, 0x1ff000}[r.IntN(3)]
			}
			fmt.Fprintf(&b, "mmap %#x %#x %s %s%s %s %#x\n", page(), length(), prots[r.IntN(len(prots))], typ, fixed, file, off)
		case 4:
			fmt.Fprintf(&b, "munmap %#x %#x\n", page(), pastLimit(length()))
		case 5:
			fmt.Fprintf(&b, "mprotect %#x %#x %s\n", page(), length(), prots[r.IntN(len(prots))])
		case 6:
			fmt.Fprintf(&b, "touch %#x %s\n", page()+uint64(r.IntN(4096)), []string{"read", "write"}[r.IntN(2)])
		case 7:
			flags := []string{"0", "MREMAP_MAYMOVE", "MREMAP_MAYMOVE|MREMAP_FIXED", "MREMAP_MAYMOVE|MREMAP_DONTUNMAP|MREMAP_FIXED",
				"MREMAP_MAYMOVE|MREMAP_DONTUNMAP"}[r.IntN(5)]
			old, nl := pastLimit(length()), small()
			if strings.Contains(flags, "DONTUNMAP") {
				nl = old
			}
			switch {
			case strings.Contains(flags, "FIXED"), strings.Contains(flags, "DONTUNMAP"):
				fmt.Fprintf(&b, "mremap %#x %#x %#x %s %#x\n", page(), old, nl, flags, page())
			case flags == "0":
				fmt.Fprintf(&b, "mremap %#x %#x %#x %s\n", page(), old, nl, flags)
			default:
				// A move without a destination may leave the window: both
				// sides then report "<outside window>" and drop those lines.
				fmt.Fprintf(&b, "mremap %#x %#x %#x MREMAP_MAYMOVE\n", page(), old, nl)
			}
		case 8:
			b.WriteString("maps\n")
		case 9, 10:
			fmt.Fprintf(&b, "madvise %#x %#x %s\n", page(), length(), advice[r.IntN(len(advice))])
		case 11:
			switch r.IntN(3) {
			case 0:
				fmt.Fprintf(&b, "mlock %#x %#x\n", page()+uint64(r.IntN(2))*0x800, small())
			case 1:
				fmt.Fprintf(&b, "mlock2 %#x %#x MLOCK_ONFAULT\n", page(), small())
			default:
				fmt.Fprintf(&b, "munlock %#x %#x\n", page(), length())
			}
		case 12:
			if seal {
				fmt.Fprintf(&b, "mseal %#x %#x\n", page(), length())
			} else {
				fmt.Fprintf(&b, "mmap %#x %#x rw- MAP_PRIVATE big 0\n", page(), []uint64{0x200000, 0x400000}[r.IntN(2)])
			}
		}
	}
	if !forks {
		b.WriteString("maps\n")
		return b.String()
	}
	for _, p := range procs {
		fmt.Fprintf(&b, "process %s\nmaps\n", p)
	}
	return b.String()
}
