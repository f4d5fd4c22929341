package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"specvma/mm"
	"specvma/procfs"
	"specvma/uprobes"
)

var probesCommand = command{
	name:    "probes",
	summary: "list the breakpoints uprobe specs would install in a live process",
	run:     runProbes,
}

// runProbes is `specvma probes -pid PID SPEC...`: it loads the live process
// into the model, registers each SPEC there and prints one line per event
// and breakpoint address, "GRP/EVENT 0xVADDR", by address, then name.
func runProbes(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("probes", stderr, `usage: specvma probes -pid PID SPEC...

Loads the mappings of a live process into the specvma model, registers
each SPEC (a line of tracefs uprobe_events: p[:[GRP/]EVENT] PATH:OFFSET,
r:..., with PATH:SYMBOL[+OFF] accepted for PATH:OFFSET, and a bare
PATH:OFFSET taken as "p PATH:OFFSET") and prints the breakpoints the
kernel would write if the events were enabled now, one line per event
and address: GRP/EVENT 0xVADDR.
`)
	pidArg := fl.String("pid", "", "the process: a positive `PID`, or self")
	if code, done := parseFlags(fl, args); done {
		return code
	}
	if *pidArg == "" || fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	pid, err := mapsPID(*pidArg)
	if err != nil {
		fmt.Fprintf(stderr, "specvma probes: %v\n", err)
		return 2
	}
	specs, err := probeSpecs(fl.Args())
	if err != nil {
		fmt.Fprintf(stderr, "specvma probes: %v\n", err)
		return 2
	}
	sys, as, code := loadProbed("probes", pid, specs, stderr)
	if code != 0 {
		return code
	}
	defer as.Exit()
	for _, ea := range sys.EventBreakpoints(as) {
		fmt.Fprintf(stdout, "%s %#x\n", ea.Event, ea.Addr)
	}
	return 0
}

// probeSpecs checks the syntax of each spec and turns a bare PATH:OFFSET
// into "p PATH:OFFSET".
func probeSpecs(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for _, a := range args {
		line := strings.TrimSpace(a)
		if strings.HasPrefix(line, "/") {
			line = "p " + line
		}
		if _, err := uprobes.ParseSpec(line); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, nil
}

// loadProbed loads pid with the specs registered. On failure it reports on
// stderr and returns the exit status: 2 for a process that does not exist
// or a spec the model refuses, 1 for a process the model cannot load.
func loadProbed(cmd string, pid int, specs []string, stderr io.Writer) (*uprobes.System, *mm.AddressSpace, int) {
	as, err := procfs.Load(pid)
	if err == nil {
		var sys *uprobes.System
		if sys, err = uprobes.Instrument(as, specs); err == nil {
			return sys, as, 0
		}
		as.Exit() // drop the VMAs and their file references
	}
	fmt.Fprintf(stderr, "specvma %s: %v\n", cmd, err)
	var se *uprobes.SpecLineError
	if errors.As(err, &se) || errors.Is(err, fs.ErrNotExist) {
		return nil, nil, 2
	}
	return nil, nil, 1
}
