// Command specvma runs specvma's experiments and tools: bench (the uprobe
// scalability experiment), run (scenario scripts), maps, probes and resolve
// (live processes through the model). Each subcommand lives in its own file
// and registers itself in init.
//
// The packages, bottom up (imports only go upwards):
//
//	errno, internal/slab, internal/rcu   errno values; type-stable caches; grace periods
//	vfs                                  open file descriptions and inodes
//	mm                                   address spaces, locks, lockless resolution (doc.go: lock order, protocols)
//	uprobes, procfs                      the uprobe subsystem; /proc/PID/maps
//	scenario, bench                      the script language; the benchmark
//	internal/kerneltest, internal/uprobetest  differential tests against the running kernel
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit status.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: specvma COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'specvma help COMMAND' (or 'specvma COMMAND -h') for a command's usage and flags.")
}

func main() { os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr)) }

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		// specvma help COMMAND: the command's own -h, on stdout.
		c, ok := commands[args[1]]
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
	c, ok := commands[args[0]]
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
