//go:build race

package mapsrace

// The race detector slows every read about tenfold: the default run reads
// less under it (an explicit -mapsrace.iterations still wins).
func init() { defaultIterations = 500 }
