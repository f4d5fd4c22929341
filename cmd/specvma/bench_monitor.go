package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"specvma/bench"
)

// monitorFlags defines the monitor workload's flags on fs, after the
// kernel's proc-vs-map.sh options, and returns a function that builds the
// options from them once parsed (quick: runs of at most 200ms; runs: -count).
func monitorFlags(fs *flag.FlagSet) func(quick bool, runs int) (bench.MonitorOptions, error) {
	def := bench.DefaultMonitorOptions()
	monitors := fs.Int("monitors", def.Monitors, "monitor workload: concurrent monitors (the test's pair of /proc scanners)")
	busy := fs.Int("monitor-busy", def.Busy, "monitor workload: CPU-bound busy tasks on the monitors' CPU, above their priority (proc-vs-map.sh --nbusytasks); 0: the plain setting only (nothing pinned, no priorities, no busy tasks)")
	busyDur := fs.Duration("monitor-busy-duration", def.BusyPeriod, "monitor workload: a busy task's CPU-bound stretch before each 1ms asleep (--busyduration); 0: never asleep")
	nice := fs.Int("monitor-nice", def.Nice, "monitor workload: the monitors' nice value (the test's 15)")
	busyNice := fs.Int("monitor-busy-nice", def.BusyNice, "monitor workload: the busy tasks' nice value, below -monitor-nice (the test runs them at 0)")
	files := fs.String("monitor-files", strings.Join(def.Files, ","), "monitor workload: what the live monitors read (--procfile): maps (text), query (a PROCMAP_QUERY walk), smaps (text)")
	dur := fs.Duration("monitor-duration", def.Duration, "monitor workload: length of one run of a row (the test's runs last 10s); -count runs per row")
	pause := fs.Duration("monitor-pause", def.Pause, "monitor workload: the writer's sleep after each call (the test's 10µs)")
	region := fs.Int("monitor-region", def.RegionMB, "monitor workload: the writer's region in MiB (the test's 128)")
	plain := fs.Bool("monitor-plain", def.Plain, "monitor workload: also run the plain setting (nothing pinned, no priorities, no busy tasks) after the arranged one")
	return func(quick bool, runs int) (bench.MonitorOptions, error) {
		o := def
		o.Monitors, o.Busy, o.BusyPeriod, o.Nice, o.BusyNice = *monitors, *busy, *busyDur, *nice, *busyNice
		o.Duration, o.RegionMB, o.Plain, o.Pause = *dur, *region, *plain, *pause
		o.Runs = max(1, runs) // a bad -count is the plan's error
		o.Files = nil
		for _, f := range strings.Split(*files, ",") {
			if f = strings.TrimSpace(f); f != "" {
				o.Files = append(o.Files, f)
			}
		}
		if quick {
			o.Duration = min(o.Duration, 200*time.Millisecond)
		}
		return o, o.Validate()
	}
}

// runMonitor runs the monitor workload, in the model and (where it can)
// on the live kernel.
func runMonitor(o bench.MonitorOptions, stderr io.Writer) *bench.MonitorResult {
	res, err := bench.RunMonitor(o)
	if err != nil {
		fmt.Fprintln(stderr, "specvma bench: monitor workload skipped:", err)
		return nil
	}
	return res
}
