package main

import (
	"fmt"
	"io"

	"specvma/bench"
)

// runMonitor runs the monitor workload, in the model and (where it can)
// on the live kernel, each reader for two of the plan's windows.
func runMonitor(plan bench.Plan, stderr io.Writer) *bench.MonitorResult {
	o := bench.MonitorOptions{Duration: 2 * plan.Window, Runs: plan.Rounds}
	res, err := bench.RunMonitor(o)
	if err != nil {
		fmt.Fprintln(stderr, "specvma bench: monitor workload skipped:", err)
		return nil
	}
	if live, err := bench.RunLiveMonitor(o); err != nil {
		res.LiveErr = err.Error()
	} else {
		res.Live = live
	}
	return res
}
