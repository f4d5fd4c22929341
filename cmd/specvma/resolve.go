package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"specvma/procfs"
)

var resolveCommand = command{
	name:    "resolve",
	summary: "resolve addresses of a live process to file, device:inode and offset",
	run:     runResolve,
}

// probeFlags collects repeated -probe flags.
type probeFlags []string

func (p *probeFlags) String() string { return strings.Join(*p, "; ") }

func (p *probeFlags) Set(s string) error {
	*p = append(*p, s)
	return nil
}

// runResolve is `specvma resolve -pid PID ADDR... [-probe SPEC]...`: it
// loads the live process into the model and prints what each address
// maps, one line each, in one of four forms (KIND is the second word):
//
//	0xADDR file MAJ:MIN INODE 0xOFFSET [EVENTS] PATH
//	0xADDR deleted MAJ:MIN INODE 0xOFFSET [EVENTS] PATH
//	0xADDR anon NAME
//	0xADDR unmapped
//
// PATH is the rest of the line (it may contain spaces; a newline in it is
// written \012, as maps writes it); "deleted" is a file unlinked since it
// was mapped, which maps shows as "PATH (deleted)". NAME is the maps name of
// anonymous memory ([heap], [stack], [anon:NAME], [vdso], ...), or "-"
// when it has none. With -probe, EVENTS lists the events (GRP/EVENT,
// comma-separated) whose breakpoint is at the address, or "-".
func runResolve(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("resolve", stderr, `usage: specvma resolve [-json] -pid PID ADDR... [-probe SPEC]...

Loads the mappings of a live process into the specvma model and prints
what each ADDR (a Go integer literal: 0x55d0c0de1139) maps, one line each:

  0xADDR file MAJ:MIN INODE 0xOFFSET [EVENTS] PATH
  0xADDR deleted MAJ:MIN INODE 0xOFFSET [EVENTS] PATH
  0xADDR anon NAME
  0xADDR unmapped

file: the file PATH (the rest of the line; a newline in it is \012), its
device and inode as maps prints them and the offset of ADDR in it.
deleted: the same for a file unlinked since (maps adds " (deleted)").
anon: anonymous memory, NAME as maps names it ([heap], [stack],
[anon:NAME], [vdso], ...), or "-" for none. With -probe, EVENTS lists
the events whose breakpoint is at ADDR (GRP/EVENT,...; "-": none).
With -json, a list of objects with the same fields.

Exit status: 0; 1 when the process cannot be loaded (it does not exist,
or is a kernel thread or a zombie); 2 for a bad argument or spec.
`)
	pidArg := fl.String("pid", "", "the process: a positive `PID`, or self")
	asJSON := fl.Bool("json", false, "print the results as JSON")
	var probes probeFlags
	fl.Var(&probes, "probe", "a uprobe_events `SPEC` to register first (repeatable)")
	// Flags may come before, between and after the addresses.
	var addrArgs []string
	for rest := args; ; {
		if code, done := parseFlags(fl, rest); done {
			return code
		}
		rest = fl.Args()
		if len(rest) == 0 {
			break
		}
		addrArgs, rest = append(addrArgs, rest[0]), rest[1:]
	}
	if *pidArg == "" || len(addrArgs) == 0 {
		fl.Usage()
		return exitUsage
	}
	pid, err := mapsPID(*pidArg)
	if err != nil {
		fmt.Fprintf(stderr, "specvma resolve: -pid: %v\n", err)
		return exitUsage
	}
	addrs := make([]uint64, len(addrArgs))
	for i, a := range addrArgs {
		if addrs[i], err = strconv.ParseUint(a, 0, 64); err != nil {
			fmt.Fprintf(stderr, "specvma resolve: bad address %q: want a number such as 0x7f0000001000\n", a)
			return exitUsage
		}
	}
	specs, err := probeSpecs(probes)
	if err != nil {
		fmt.Fprintf(stderr, "specvma resolve: -probe: %v\n", err)
		return exitUsage
	}
	sys, as, code := loadProbed("resolve", pid, specs, stderr)
	if code != 0 {
		return code
	}
	defer as.Exit()

	events := map[uint64][]string{}
	for _, ea := range sys.EventBreakpoints(as) {
		events[ea.Addr] = append(events[ea.Addr], ea.Event)
	}
	vmas, l := as.Snapshot()
	var text strings.Builder
	if err := procfs.Render(&text, vmas, l); err != nil {
		fmt.Fprintf(stderr, "specvma resolve: %v\n", err)
		return 1
	}
	entries, err := procfs.ParseString(text.String())
	if err != nil {
		fmt.Fprintf(stderr, "specvma resolve: %v\n", err)
		return 1
	}
	out := make([]resolved, len(addrs))
	for i, addr := range addrs {
		out[i] = resolveIn(entries, addr)
		if len(specs) > 0 && out[i].Kind != "unmapped" && out[i].Kind != "anon" {
			out[i].Events = append([]string{}, events[addr]...)
		}
	}
	if *asJSON {
		err = writeJSON(stdout, out)
	} else {
		for _, r := range out {
			if _, err = fmt.Fprintln(stdout, r.text(len(specs) > 0)); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "specvma resolve: %v\n", err)
		return 1
	}
	return 0
}

// resolved is what one address maps: a line of resolve's output, or an
// object of its -json output.
type resolved struct {
	Addr   string   `json:"addr"`
	Kind   string   `json:"kind"` // file, deleted, anon or unmapped
	Path   string   `json:"path,omitempty"`
	Dev    string   `json:"dev,omitempty"`
	Inode  uint64   `json:"inode,omitempty"`
	Offset string   `json:"offset,omitempty"` // the address's offset in the file
	Name   string   `json:"name,omitempty"`   // anon: the maps name, if any
	Events []string `json:"events,omitempty"` // with -probe: the events at the address
}

// resolveIn finds addr in a process's maps entries (sorted by address).
func resolveIn(entries []procfs.Entry, addr uint64) resolved {
	r := resolved{Addr: hex(addr), Kind: "unmapped"}
	i := sort.Search(len(entries), func(i int) bool { return entries[i].End > addr })
	if i == len(entries) || entries[i].Start > addr {
		return r
	}
	e := entries[i]
	if !e.FileBacked() {
		r.Kind, r.Name = "anon", e.Name
		return r
	}
	r.Kind = "file"
	if e.Deleted() {
		r.Kind = "deleted"
	}
	r.Path, r.Dev, r.Inode = e.Path(), fmt.Sprintf("%02x:%02x", e.Dev.Major, e.Dev.Minor), e.Inode
	r.Offset = hex(e.Offset + (addr - e.Start))
	return r
}

// text is the resolve output line for r.
func (r resolved) text(withEvents bool) string {
	switch r.Kind {
	case "unmapped":
		return r.Addr + " unmapped"
	case "anon":
		name := r.Name
		if name == "" {
			name = "-"
		}
		return r.Addr + " anon " + name
	}
	line := fmt.Sprintf("%s %s %s %d %s", r.Addr, r.Kind, r.Dev, r.Inode, r.Offset)
	if withEvents {
		ev := "-"
		if len(r.Events) > 0 {
			ev = strings.Join(r.Events, ",")
		}
		line += " " + ev
	}
	return line + " " + strings.ReplaceAll(r.Path, "\n", `\012`)
}
