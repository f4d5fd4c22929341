package litmus

import "testing"

func BenchmarkVMASpec8(b *testing.B) {
	t := &testing.T{}
	pg := loadTest(t, "testdata/protocol/vma-spec.litmus", map[string]int64{"ROUNDS": 12, "MASK": -1})
	for i := 0; i < b.N; i++ {
		if _, err := Explore(pg, Options{Model: models["lkmm"]}); err != nil {
			b.Fatal(err)
		}
	}
}
