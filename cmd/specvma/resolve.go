package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"specvma/mm"
	"specvma/vfs"
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
// loads the live process into the model and resolves each address with
// mm.Resolve (strategy locked) to the file page it maps, printing
//
//	0xADDR PATH MAJ:MIN INODE 0xOFFSET [EVENTS]
//
// with the device and inode as maps prints them, or "0xADDR -" for an
// address that is unmapped or maps no file. With -probe, EVENTS lists the
// events (GRP/EVENT, comma-separated) of the breakpoint at the address, or
// "-" where the specs put none there (the mapping is not eligible, or no
// probe is at that offset).
func runResolve(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("resolve", stderr, `usage: specvma resolve -pid PID ADDR... [-probe SPEC]...

Loads the mappings of a live process into the specvma model and prints,
for each ADDR (a Go integer literal: 0x55d0c0de1139), the file it maps,
its device and inode as maps prints them and the file offset, or "-".
With -probe, also the events whose breakpoint is at ADDR ("-": none).
`)
	pidArg := fl.String("pid", "", "the process: a positive `PID`, or self")
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
		return 2
	}
	pid, err := mapsPID(*pidArg)
	if err != nil {
		fmt.Fprintf(stderr, "specvma resolve: %v\n", err)
		return 2
	}
	addrs := make([]uint64, len(addrArgs))
	for i, a := range addrArgs {
		if addrs[i], err = strconv.ParseUint(a, 0, 64); err != nil {
			fmt.Fprintf(stderr, "specvma resolve: bad address %q: want a number such as 0x7f0000001000\n", a)
			return 2
		}
	}
	specs, err := probeSpecs(probes)
	if err != nil {
		fmt.Fprintf(stderr, "specvma resolve: %v\n", err)
		return 2
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
	for _, addr := range addrs {
		m, ok := resolveAddr(as, addr)
		if !ok {
			fmt.Fprintf(stdout, "%#x -\n", addr)
			continue
		}
		line := fmt.Sprintf("%#x %s %02x:%02x %d %#x", addr, strings.ReplaceAll(m.path, "\n", `\012`),
			m.id.Dev.Major, m.id.Dev.Minor, m.id.Ino, m.off)
		if len(specs) > 0 {
			ev := "-"
			if names := events[addr]; len(names) > 0 {
				ev = strings.Join(names, ",")
			}
			line += " " + ev
		}
		fmt.Fprintln(stdout, line)
	}
	return 0
}

// filePage is what an address resolves to, copied while the mapping was
// stable.
type filePage struct {
	path string
	id   vfs.InodeID
	off  uint64
}

// resolveAddr resolves addr under the mmap read lock (mm.Locked), so the
// File is read while no writer can recycle it.
func resolveAddr(as *mm.AddressSpace, addr uint64) (filePage, bool) {
	fp, ok, _ := mm.Resolve(as, addr, mm.Locked, func(m mm.Mapping) (filePage, bool) {
		if m.File == nil || m.Inode == nil {
			return filePage{}, false
		}
		return filePage{m.File.Path(), m.Inode.ID(), m.Offset}, true
	})
	return fp, ok
}
