package main

import (
	"fmt"
	"io"

	"github.com/schollz/progressbar/v3"

	"specvma/bench"
)

// runLoadExec runs the loadexec workload with the plan's rounds as its
// runs, telling stderr what it does: progress on the bar's description
// when there is a bar, else one line per step (the child, each run); a
// change to the sysctl always on a line of its own.
func runLoadExec(plan bench.Plan, vmas int, bar *progressbar.ProgressBar, stderr io.Writer) (*bench.LoadExecResult, error) {
	o := bench.LoadExecOptions{VMAs: vmas, Runs: plan.Rounds}
	o.Progress = func(msg string) {
		if bar != nil {
			bar.Describe("loadexec: " + msg)
		} else {
			fmt.Fprintln(stderr, "specvma bench: loadexec:", msg)
		}
	}
	o.Notice = func(msg string) {
		if bar != nil {
			fmt.Fprintln(stderr)
		}
		fmt.Fprintln(stderr, "specvma bench: loadexec:", msg)
	}
	return bench.RunLoadExec(o)
}
