package litmus

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// The compact state keys (op_visited.go) dedupe exactly the states the
// whole-state keys do: on every calibration test, every protocol test at
// 1..upTo rounds, the wraparounds and random tests, the operational
// explorer visits the same number of states and finds the same executions
// with either key.
func TestOpCompactKeys(t *testing.T) {
	type run struct {
		name string
		pg   *Program
	}
	var runs []run
	files, _ := filepath.Glob("testdata/kernel/*.litmus")
	regress, _ := filepath.Glob("testdata/armv8/*.litmus")
	for _, f := range append(files, regress...) {
		runs = append(runs, run{f, loadTest(t, f, nil)})
	}
	for _, c := range protocolCases {
		for n := 1; n <= c.upTo; n++ {
			f := "testdata/protocol/" + c.file + ".litmus"
			runs = append(runs, run{fmt.Sprintf("%s ROUNDS=%d", f, n), loadTest(t, f, map[string]int64{"ROUNDS": int64(n), "MASK": -1})})
		}
	}
	wrap := [][2]int64{{3, 4}}
	if !raceEnabled && !testing.Short() {
		wrap = append(wrap, [2]int64{7, 8})
	}
	for _, w := range wrap {
		runs = append(runs, run{fmt.Sprintf("vma-spec MASK=%d ROUNDS=%d", w[0], w[1]),
			loadTest(t, "testdata/protocol/vma-spec.litmus", map[string]int64{"MASK": w[0], "ROUNDS": w[1]})})
	}
	n := 200
	if raceEnabled || testing.Short() {
		n = 25
	}
	rng := rand.New(rand.NewPCG(7, 2027))
	for i := 0; i < n; i++ {
		src := randomLitmus(rng)
		runs = append(runs, run{fmt.Sprintf("random %d\n%s", i, src), compileSrc(t, "random.litmus", src)})
	}
	checked := 0
	for _, r := range runs {
		full, err1 := Explore(r.pg, Options{Model: models["armv8"], fullKeys: true})
		compact, err2 := Explore(r.pg, Options{Model: models["armv8"]})
		if err1 != nil || err2 != nil {
			if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
				t.Fatalf("%s: %v / %v", r.name, err1, err2)
			}
			continue // refused by armv8 (grace periods, SRCU)
		}
		checked++
		if full.Explored != compact.Explored || full.Complete != compact.Complete ||
			full.Positive != compact.Positive || full.Negative != compact.Negative ||
			!slices.Equal(stateTexts(full), stateTexts(compact)) {
			t.Errorf("%s: whole-state keys %d states %d complete %d %d, compact keys %d states %d complete %d %d",
				r.name, full.Explored, full.Complete, full.Positive, full.Negative,
				compact.Explored, compact.Complete, compact.Positive, compact.Negative)
		}
	}
	if checked < 50+n {
		t.Fatalf("only %d runs compared", checked)
	}
}

// keySet is a set: every key is new once, and found after, across table
// growth and key chunks; and with every key hashing alike (one probe
// chain, equal tags) it still tells keys apart by their bytes.
func TestKeySet(t *testing.T) {
	testKeySet(t, newKeySet(), 60000, 2)
	colliding := newKeySet()
	colliding.hash = func([]byte) uint64 { return 0x5eed << 44 }
	testKeySet(t, colliding, 3000, 1)
}

func testKeySet(t *testing.T, ks *keySet, n, chunks int) {
	ref := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		k := make([]byte, rng.IntN(90))
		for j := range k {
			k[j] = byte(rng.IntN(3)) // few symbols: many repeats and shared prefixes
		}
		if got, want := ks.insert(k), !ref[string(k)]; got != want {
			t.Fatalf("insert %d (%v): new=%v, want %v", i, k, got, want)
		}
		ref[string(k)] = true
	}
	if ks.n != len(ref) || len(ks.chunks) < chunks {
		t.Fatalf("%d keys stored for %d distinct, %d chunks", ks.n, len(ref), len(ks.chunks))
	}
	for k := range ref {
		if ks.insert([]byte(k)) {
			t.Fatalf("%v lost", []byte(k))
		}
	}
}
