package litmus

import "testing"

// BenchmarkVMASpec12 explores the full per-VMA protocol with 12 writer
// rounds under the LKMM: the explorer's cost on a protocol-sized test.
func BenchmarkVMASpec12(b *testing.B) {
	pg := loadTest(b, "testdata/protocol/vma-spec.litmus", map[string]int64{"ROUNDS": 12, "MASK": -1})
	for b.Loop() {
		if _, err := Explore(pg, Options{Model: models["lkmm"]}); err != nil {
			b.Fatal(err)
		}
	}
}
