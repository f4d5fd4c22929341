package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"specvma/litmus"
)

var litmusCommand = command{
	name:    "litmus",
	summary: "explore a C litmus test under a memory model (lkmm, armv8, armv8-ax, tso, sc)",
	run:     runLitmus,
}

// defFlag collects -D NAME=VALUE.
type defFlag map[string]int64

func (d defFlag) String() string { return "" }

func (d defFlag) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE")
	}
	v, err := strconv.ParseInt(val, 0, 32)
	if err != nil {
		return fmt.Errorf("bad value %q for %s", val, name)
	}
	d[name] = v
	return nil
}

// runLitmus is `specvma litmus [flags] FILE...`.
func runLitmus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("litmus", stderr, `usage: specvma litmus [flags] FILE...

Reads litmus tests in the Linux kernel's C litmus format, explores every
candidate execution under the memory model and prints the result as herd7
does. Malformed tests give FILE:LINE: message and exit status 2; a test
stopped by -max-states gives exit status 1 and no result.
`)
	model := fs.String("model", "lkmm", "memory model: "+strings.Join(litmus.ModelNames(), ", "))
	witness := fs.Bool("witness", false, "print one execution that meets the condition, step by step")
	maxStates := fs.Int64("max-states", 10_000_000, "stop a test after this many explored states (0: no bound)")
	stats := fs.Bool("stats", false, "print the states explored and the time for each test")
	sweep := fs.String("sweep", "", "NAME=LO:HI: run with -D NAME=LO..HI and report the first value at which the condition is observed (each run stops at the first execution that meets it)")
	defs := defFlag{}
	fs.Var(defs, "D", "NAME=VALUE: a constant the test uses (loop bounds, widths); repeatable")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	m, err := litmus.ModelByName(*model)
	if err != nil {
		fmt.Fprintf(stderr, "specvma litmus: %v\n", err)
		return 2
	}
	var sweepName string
	var lo, hi int64
	if *sweep != "" {
		name, rng, ok := strings.Cut(*sweep, "=")
		a, b, ok2 := strings.Cut(rng, ":")
		var e1, e2 error
		lo, e1 = strconv.ParseInt(a, 10, 32)
		hi, e2 = strconv.ParseInt(b, 10, 32)
		if !ok || !ok2 || name == "" || e1 != nil || e2 != nil || lo > hi {
			fmt.Fprintf(stderr, "specvma litmus: bad -sweep %q: want NAME=LO:HI\n", *sweep)
			return 2
		}
		sweepName = name
	}
	status := 0
	for _, file := range fs.Args() {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "specvma litmus: %v\n", err)
			status = max(status, 2)
			continue
		}
		t, err := litmus.Parse(file, string(src))
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = max(status, 2)
			continue
		}
		opt := litmus.Options{Model: m, MaxStates: *maxStates}
		if sweepName != "" {
			status = max(status, litmusSweep(t, defs, sweepName, lo, hi, opt, stdout, stderr))
			continue
		}
		pg, err := litmus.Compile(t, defs)
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = max(status, 2)
			continue
		}
		r, err := litmus.Explore(pg, opt)
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = max(status, litmusErrStatus(err))
			continue
		}
		litmus.WriteHerd(stdout, r)
		if *stats {
			fmt.Fprintf(stdout, "Explored %s %d states, %d complete candidates, %.3fs\n", t.Name, r.Explored, r.Complete, r.Elapsed.Seconds())
		}
		if *witness {
			if r.Witness == nil {
				fmt.Fprintf(stdout, "No witness: no allowed execution meets the condition under %s.\n", m.Name())
			} else {
				r.Witness.Write(stdout)
			}
		}
		fmt.Fprintln(stdout)
	}
	return status
}

func litmusErrStatus(err error) int {
	var le *litmus.Error
	if errors.As(err, &le) {
		return 2
	}
	return 1
}

// litmusSweep runs the test for NAME = lo..hi and reports the first value
// at which the condition's proposition is observed.
func litmusSweep(t *litmus.Test, defs defFlag, name string, lo, hi int64, opt litmus.Options, stdout, stderr io.Writer) int {
	d := map[string]int64{}
	for k, v := range defs {
		d[k] = v
	}
	for v := lo; v <= hi; v++ {
		d[name] = v
		pg, err := litmus.Compile(t, d)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		// A reachability question: stop at the first execution that
		// meets the proposition.
		opt.FirstPositive = true
		r, err := litmus.Explore(pg, opt)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return litmusErrStatus(err)
		}
		if r.Stopped {
			fmt.Fprintf(stdout, "%s %s=%d: observed; search stopped at the first execution that meets it (%d states, %.3fs)\n", t.Name, name, v, r.Explored, r.Elapsed.Seconds())
		} else {
			fmt.Fprintf(stdout, "%s %s=%d: %s %d %d (%d states, %.3fs)\n", t.Name, name, v, r.Verdict(), r.Positive, r.Negative, r.Explored, r.Elapsed.Seconds())
		}
		if r.Positive > 0 {
			fmt.Fprintf(stdout, "%s: first observed at %s=%d under %s\n", t.Name, name, v, opt.Model.Name())
			return 0
		}
	}
	fmt.Fprintf(stdout, "%s: not observed for %s=%d..%d under %s\n", t.Name, name, lo, hi, opt.Model.Name())
	return 0
}
