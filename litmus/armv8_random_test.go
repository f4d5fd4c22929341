package litmus

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var randomTests = flag.Int("litmus.random", 300, "TestARMv8RandomAgree: number of random tests")

// randomLitmus writes a random test of 2 or 3 processes over x, y, z: plain
// and annotated loads and stores, fences, RMWs, and stores or loads that
// depend on an earlier load through data, address or control. Its
// locations clause names every register and variable, so the final
// states say everything the test can observe.
func randomLitmus(rng *rand.Rand) string {
	vars := []string{"x", "y", "z"}
	var b strings.Builder
	b.WriteString("C random\n\n{}\n\n")
	var locs []string
	nproc := 2 + rng.IntN(2)
	for p := 0; p < nproc; p++ {
		fmt.Fprintf(&b, "P%d(int *x, int *y, int *z)\n{\n", p)
		var regs []string
		var body []string
		n := 2 + rng.IntN(3)
		for i := 0; i < n; i++ {
			v := vars[rng.IntN(3)]
			val := 1 + rng.IntN(2)
			last := ""
			if len(regs) > 0 {
				last = regs[len(regs)-1]
			}
			newReg := func() string {
				r := fmt.Sprintf("r%d", len(regs))
				regs = append(regs, r)
				locs = append(locs, fmt.Sprintf("%d:%s", p, r))
				return r
			}
			switch k := rng.IntN(12); {
			case k < 3:
				body = append(body, fmt.Sprintf("WRITE_ONCE(*%s, %d);", v, val))
			case k < 5:
				body = append(body, fmt.Sprintf("%s = READ_ONCE(*%s);", newReg(), v))
			case k == 5:
				body = append(body, fmt.Sprintf("%s = smp_load_acquire(%s);", newReg(), v))
			case k == 6:
				body = append(body, fmt.Sprintf("smp_store_release(%s, %d);", v, val))
			case k == 7:
				body = append(body, []string{"smp_mb();", "smp_rmb();", "smp_wmb();"}[rng.IntN(3)])
			case k == 8:
				fn := []string{"xchg", "xchg_relaxed", "xchg_acquire", "xchg_release"}[rng.IntN(4)]
				body = append(body, fmt.Sprintf("%s = %s(%s, %d);", newReg(), fn, v, val))
			case k == 9 && rng.IntN(2) == 0:
				fn := []string{"cmpxchg", "cmpxchg_relaxed"}[rng.IntN(2)]
				body = append(body, fmt.Sprintf("%s = %s(%s, %d, %d);", newReg(), fn, v, rng.IntN(2), val))
			case k == 9:
				fn := []string{"atomic_fetch_add_relaxed", "atomic_add_return", "atomic_add_return_relaxed"}[rng.IntN(3)]
				body = append(body, fmt.Sprintf("%s = %s(1, %s);", newReg(), fn, v))
			case last == "":
				body = append(body, fmt.Sprintf("WRITE_ONCE(*%s, %d);", v, val))
			case k == 10:
				// data or address dependency
				if rng.IntN(2) == 0 {
					body = append(body, fmt.Sprintf("WRITE_ONCE(*%s, %s + 1);", v, last))
				} else {
					body = append(body, fmt.Sprintf("%s = READ_ONCE(*(%s + (%s & 0)));", newReg(), v, last))
				}
			default:
				body = append(body, fmt.Sprintf("if (%s == %d) WRITE_ONCE(*%s, %d);", last, rng.IntN(2)+1, v, val))
			}
		}
		for _, r := range regs {
			fmt.Fprintf(&b, "\tint %s = 0;\n", r)
		}
		for _, s := range body {
			fmt.Fprintf(&b, "\t%s\n", s)
		}
		b.WriteString("}\n\n")
	}
	locs = append(locs, vars...)
	fmt.Fprintf(&b, "locations [%s]\nexists (x=1)\n", strings.Join(locs, "; "))
	return b.String()
}

// Beyond the fixed suite: random tests, the operational and the axiomatic
// ARMv8 models must allow the same executions (same final states over
// every register and variable, same counts). -litmus.random=N for more.
func TestARMv8RandomAgree(t *testing.T) {
	n := *randomTests
	switch {
	case raceEnabled:
		n = min(n, 25)
	case testing.Short():
		n = min(n, 60)
	}
	rng := rand.New(rand.NewPCG(10, 2026))
	for i := 0; i < n; i++ {
		src := randomLitmus(rng)
		tst, err := Parse("random.litmus", src)
		if err != nil {
			t.Fatalf("generated test does not parse: %v\n%s", err, src)
		}
		pg, err := Compile(tst, nil)
		if err != nil {
			t.Fatalf("generated test does not compile: %v\n%s", err, src)
		}
		op, err1 := Explore(pg, Options{Model: models["armv8"]})
		ax, err2 := Explore(pg, Options{Model: models["armv8-ax"]})
		if err1 != nil || err2 != nil {
			t.Fatalf("%v / %v\n%s", err1, err2, src)
		}
		if !slices.Equal(stateTexts(op), stateTexts(ax)) || op.Positive != ax.Positive || op.Negative != ax.Negative {
			t.Fatalf("test %d: operational and axiomatic differ\n%s\noperational %d %d:\n%s\naxiomatic %d %d:\n%s", i, src,
				op.Positive, op.Negative, strings.Join(stateTexts(op), "\n"), ax.Positive, ax.Negative, strings.Join(stateTexts(ax), "\n"))
		}
	}
}
