package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"specvma/mm"
	"specvma/scenario"
)

var runCommand = command{
	name:    "run",
	summary: "run a scenario script (FILE, or - for stdin) against the model",
	run:     runScript,
}

// runStdin is where `specvma run -` reads its script; tests replace it.
var runStdin io.Reader = os.Stdin

// runScript is `specvma run FILE|-`. A malformed script, or a run that
// cannot go on, prints FILE:LINE: message on stderr and exits 2.
func runScript(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr, `usage: specvma run [flags] FILE|-

Runs a scenario script against the specvma model and prints each
command's result; with -echo, each command beside its result, as strace
does. docs/scenario.md describes the language.
`)
	echo := fs.Bool("echo", false, "print a transcript: each command (in canonical form) followed by its result")
	noAnonNames := fs.Bool("no-anon-names", false, "model a kernel without CONFIG_ANON_VMA_NAME (anon_name fails with EINVAL)")
	strategy := fs.String("strategy", "mmseq", "how hit resolves breakpoints: locked, mmseq, vmaseq or vmalock")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	st, ok := mm.ParseStrategy(*strategy)
	if !ok {
		fmt.Fprintf(stderr, "specvma run: unknown strategy %q (locked, mmseq, vmaseq, vmalock)\n", *strategy)
		return 2
	}
	path := fs.Arg(0)
	name, in := path, runStdin
	if path == "-" {
		name = "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "specvma run: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	b := scenario.NewModel(mm.Config{NoAnonNames: *noAnonNames})
	b.SetStrategy(st)
	s, err := scenario.Parse(name, in)
	if err == nil {
		s.Echo = *echo
		if err = s.Run(b, stdout); err == nil {
			return 0
		}
	}
	var se *scenario.Error
	if errors.As(err, &se) {
		fmt.Fprintln(stderr, se)
		return 2
	}
	fmt.Fprintf(stderr, "specvma run: %v\n", err)
	return 1
}
