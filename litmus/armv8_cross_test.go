package litmus

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// The operational armv8 model and the axiomatic armv8-ax are written
// independently (a transition system over machine states; axioms over
// candidate executions): on every calibration test and every protocol
// test they must allow the same executions, so the same final states with
// the same counts.
func TestARMv8OperationalMatchesAxiomatic(t *testing.T) {
	type run struct {
		file string
		defs map[string]int64
	}
	var runs []run
	files, _ := filepath.Glob("testdata/kernel/*.litmus")
	// testdata/armv8: cases where the two models once disagreed.
	regress, _ := filepath.Glob("testdata/armv8/*.litmus")
	for _, f := range append(files, regress...) {
		runs = append(runs, run{f, nil})
	}
	for _, c := range protocolCases {
		for n := 1; n <= c.upTo; n++ {
			runs = append(runs, run{"testdata/protocol/" + c.file + ".litmus", map[string]int64{"ROUNDS": int64(n), "MASK": -1}})
		}
	}
	runs = append(runs, run{"testdata/protocol/vma-spec.litmus", map[string]int64{"ROUNDS": 4, "MASK": 3}})
	if len(regress) < 2 || len(runs) < 30+len(protocolCases) {
		t.Fatalf("only %d runs", len(runs))
	}
	for _, r := range runs {
		pg := loadTest(t, r.file, r.defs)
		op, err := Explore(pg, Options{Model: models["armv8"]})
		ax, err2 := Explore(pg, Options{Model: models["armv8-ax"]})
		if err != nil || err2 != nil {
			// Both refuse grace periods and SRCU, and nothing else.
			if err == nil || err2 == nil || !refusal.MatchString(err.Error()) || !refusal.MatchString(err2.Error()) {
				t.Fatalf("%s: %v / %v", r.file, err, err2)
			}
			continue
		}
		name := fmt.Sprintf("%s %v", filepath.Base(r.file), r.defs)
		if !slices.Equal(stateTexts(op), stateTexts(ax)) {
			t.Errorf("%s: operational states\n%v\naxiomatic states\n%v", name, stateTexts(op), stateTexts(ax))
		}
		if op.Positive != ax.Positive || op.Negative != ax.Negative {
			t.Errorf("%s: operational %d %d executions, axiomatic %d %d", name, op.Positive, op.Negative, ax.Positive, ax.Negative)
		}
	}
}

func stateTexts(r *Result) []string {
	var out []string
	for _, s := range r.States {
		out = append(out, fmt.Sprintf("%s (%d)", s.Text, s.Count))
	}
	return out
}
