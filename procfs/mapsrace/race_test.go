package mapsrace

import (
	"flag"
	"testing"

	"specvma/mm"
	"specvma/procfs"
)

// -mapsrace.iterations sets the reads per race. The default keeps the
// suite fast; the documented full run is
//
//	go test ./procfs/mapsrace -mapsrace.iterations 100000
var iterations = flag.Int("mapsrace.iterations", 0, "reads per race (default 2000, 500 under the race detector)")

var defaultIterations = 2000

// reads returns the reads per race this run makes.
func reads() int {
	if *iterations > 0 {
		return *iterations
	}
	return defaultIterations
}

// TestModelReaders: every model maps reader passes all three races.
func TestModelReaders(t *testing.T) {
	for _, rd := range procfs.Readers() {
		for _, r := range Races() {
			t.Run(rd.String()+"/"+r.String(), func(t *testing.T) {
				tg, err := NewModelTarget(mm.Config{}, rd)
				if err != nil {
					t.Fatal(err)
				}
				res, err := Run(tg, r, reads(), false)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range res.Violations {
					t.Error(v)
				}
				t.Logf("%d reads, %d saw the change, %d rounds of churn, %d violations; walk %v",
					res.Iterations, res.Modified, tg.Rounds.Load(), res.NumBad, tg.File().Stats.Walk)
			})
		}
	}
}
