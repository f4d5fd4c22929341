package main

import (
	"fmt"
	"io"
	"strings"

	"specvma/mm"
	"specvma/uprobes"
)

var probesCommand = command{
	name:    "probes",
	summary: "list the breakpoints uprobe specs would install in a live process",
	run:     runProbes,
}

// runProbes is `specvma probes -pid PID SPEC...`: it loads the live process
// into the model, registers each SPEC there and prints one line per event
// and breakpoint address, "GRP/EVENT 0xVADDR", by address, then name. An
// event that gets no breakpoint is named on stderr with the reason.
func runProbes(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("probes", stderr, `usage: specvma probes [-json] -pid PID SPEC...

Loads the mappings of a live process into the specvma model, registers
each SPEC (a line of tracefs uprobe_events: p[:[GRP/]EVENT] PATH:OFFSET,
r:..., with PATH:SYMBOL[+OFF] accepted for PATH:OFFSET, and a bare
PATH:OFFSET taken as "p PATH:OFFSET") and prints the breakpoints the
kernel would write if the events were enabled now, one line per event
and address: GRP/EVENT 0xVADDR. An event that would get no breakpoint is
reported on stderr with the reason (its file is not mapped, or only in
mappings that get none: writable, shared or never executable ones).
With -json: {"breakpoints": [{"event", "addr"}...], "no_breakpoint":
[{"event", "reason"}...]}.

Exit status: 0; 1 when the process cannot be loaded (it does not exist,
or is a kernel thread or a zombie); 2 for a bad argument or a spec the
kernel would refuse.
`)
	pidArg := fl.String("pid", "", "the process: a positive `PID`, or self")
	asJSON := fl.Bool("json", false, "print the breakpoints as JSON")
	if code, done := parseFlags(fl, args); done {
		return code
	}
	if *pidArg == "" || fl.NArg() == 0 {
		fl.Usage()
		return exitUsage
	}
	pid, err := mapsPID(*pidArg)
	if err != nil {
		fmt.Fprintf(stderr, "specvma probes: -pid: %v\n", err)
		return exitUsage
	}
	specs, err := probeSpecs(fl.Args())
	if err != nil {
		fmt.Fprintf(stderr, "specvma probes: %v\n", err)
		return exitUsage
	}
	sys, as, code := loadProbed("probes", pid, specs, stderr)
	if code != 0 {
		return code
	}
	defer as.Exit()
	out := probesOutput{Breakpoints: []eventAddr{}, Unplaced: []unplaced{}}
	placed := map[string]bool{}
	for _, ea := range sys.EventBreakpoints(as) {
		out.Breakpoints = append(out.Breakpoints, eventAddr{ea.Event, hex(ea.Addr)})
		placed[ea.Event] = true
	}
	for _, ev := range sys.Events() {
		if name := ev.Spec.Name(); !placed[name] {
			out.Unplaced = append(out.Unplaced, unplaced{name, whyNoBreakpoint(as, ev)})
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "specvma probes: %v\n", err)
			return 1
		}
		return 0
	}
	for _, b := range out.Breakpoints {
		fmt.Fprintf(stdout, "%s %s\n", b.Event, b.Addr)
	}
	for _, u := range out.Unplaced {
		fmt.Fprintf(stderr, "specvma probes: %s: no breakpoint: %s\n", u.Event, u.Reason)
	}
	return 0
}

// probesOutput is the -json output of probes.
type probesOutput struct {
	Breakpoints []eventAddr `json:"breakpoints"`
	Unplaced    []unplaced  `json:"no_breakpoint"`
}

type eventAddr struct {
	Event string `json:"event"`
	Addr  string `json:"addr"`
}

type unplaced struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
}

// whyNoBreakpoint says why an event has no breakpoint in as.
func whyNoBreakpoint(as *mm.AddressSpace, ev *uprobes.Event) string {
	mapped, covered := false, false
	for _, v := range as.VMAs() {
		if v.Inode == nil || v.Inode.ID() != ev.Inode {
			continue
		}
		mapped = true
		lo := v.Pgoff * mm.PageSize
		if ev.Spec.Offset >= lo && ev.Spec.Offset < lo+(v.End-v.Start) {
			covered = true
		}
	}
	switch {
	case !mapped:
		return fmt.Sprintf("%s is not mapped in this process", ev.Spec.Path)
	case !covered:
		return fmt.Sprintf("offset %#x of %s is in none of its mappings here", ev.Spec.Offset, ev.Spec.Path)
	}
	return fmt.Sprintf("offset %#x of %s is mapped only where no breakpoint goes (writable, shared or never-executable mappings)",
		ev.Spec.Offset, ev.Spec.Path)
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
// stderr and returns the exit status: exitNoProcess for a process that
// cannot be loaded, exitUsage for a spec the model refuses.
func loadProbed(cmd string, pid int, specs []string, stderr io.Writer) (*uprobes.System, *mm.AddressSpace, int) {
	as, code := loadProcess(cmd, pid, stderr)
	if code != 0 {
		return nil, nil, code
	}
	sys, err := uprobes.Instrument(as, specs)
	if err != nil {
		as.Exit() // drop the VMAs and their file references
		fmt.Fprintf(stderr, "specvma %s: %v\n", cmd, err)
		return nil, nil, exitUsage
	}
	return sys, as, 0
}
