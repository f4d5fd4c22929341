package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"specvma/procfs"
)

var mapsCommand = command{
	name:    "maps",
	summary: "load a live process (PID or self) into the model and print its maps",
	run:     runMaps,
}

// runMaps is `specvma maps PID|self`: it reads /proc/PID/maps, builds the
// model address space that stands for it and prints the model's maps text,
// which matches the kernel's byte for byte.
func runMaps(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("maps", stderr, `usage: specvma maps PID|self

Loads the mappings of a live process into the specvma model and prints
the model's /proc/PID/maps text, which equals the kernel's.
`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	pid, err := mapsPID(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "specvma maps: %v\n", err)
		return 2
	}
	as, err := procfs.Load(pid)
	if err != nil {
		fmt.Fprintf(stderr, "specvma maps: %v\n", err)
		return 1
	}
	vmas, l := as.Snapshot()
	if err := procfs.Render(stdout, vmas, l); err != nil {
		fmt.Fprintf(stderr, "specvma maps: %v\n", err)
		return 1
	}
	return 0
}

// mapsPID accepts a positive decimal process ID or "self".
func mapsPID(s string) (int, error) {
	if s == "self" {
		return os.Getpid(), nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad process ID %q: want a positive number or self", s)
	}
	return pid, nil
}
