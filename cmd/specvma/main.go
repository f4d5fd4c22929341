// Command specvma runs specvma's experiments and tools: bench (the uprobe
// scalability experiment), run (scenario scripts), maps, probes and resolve
// (live processes through the model). Each subcommand lives in its own file;
// the list below (commands) is the whole set, in the order usage prints it.
//
// The packages, in layers: each imports only from the layers below it.
//
//	5  cmd/specvma, difftest/kerneltest, difftest/uprobetest  the command; differential tests against the running kernel
//	4  bench, scenario, litmus, procfs/mapsrace               the benchmark; the script language; memory-model litmus tests; the maps race test
//	3  uprobes, procfs                                        the uprobe subsystem; /proc/PID/maps
//	2  mm                                                     address spaces, locks, lockless resolution (doc.go: the lock order)
//	1  vfs                                                    open file descriptions and inodes
//	0  errno, internal/{slab,rcu,mmhook,testsupport,safety,cbuild}   errno values; type-stable caches; grace periods; test support; C children
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit status.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand, in the order usage prints them.
var commands = []command{benchCommand, litmusCommand, mapsCommand, probesCommand, resolveCommand, runCommand}

// lookup finds the subcommand called name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: specvma COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'specvma help COMMAND' (or 'specvma COMMAND -h') for a command's usage and flags.")
}

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) }

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		// specvma help COMMAND: the command's own -h, on stdout.
		c, ok := lookup(args[1])
		if !ok {
			fmt.Fprintf(stderr, "specvma help: unknown command %q\n", args[1])
			usage(stderr)
			return 2
		}
		return c.run([]string{"-h"}, stdout, stdout)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "specvma: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

// parseFlags parses a subcommand's flags. done reports that the command must
// stop with code: 0 after -h (the usage was printed), 2 after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	return 0, false
}

// newFlagSet returns a subcommand's flag set: errors and -h go to stderr,
// and -h prints usage (its first line "usage: specvma ...", then what the
// command does) followed by the flags, if it has any.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}
