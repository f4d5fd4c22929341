package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"specvma/mm"
	"specvma/procfs"
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
	host := fs.Bool("host", true, "configure the model as the running kernel and this process are (mmap_min_addr, privilege, overcommit, CONFIG_ANON_VMA_NAME); false: the model's defaults")
	echo := fs.Bool("echo", false, "print a transcript: each command (in canonical form) followed by its result")
	noAnonNames := fs.Bool("no-anon-names", false, "model a kernel without CONFIG_ANON_VMA_NAME (anon_name fails with EINVAL)")
	var sets []string
	fs.Func("set", "KEY=VALUE: set one config key as the script's config command would (repeatable; keys: "+strings.Join(scenario.ConfigKeys(), ", ")+")", func(s string) error {
		if _, _, ok := strings.Cut(s, "="); !ok {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		sets = append(sets, s)
		return nil
	})
	strategy := fs.String("strategy", mm.MMSeq.String(), "how hit resolves breakpoints: one of "+strategyNames())
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	st, ok := mm.ParseStrategy(*strategy)
	if !ok {
		fmt.Fprintf(stderr, "specvma run: unknown strategy %q (%s)\n", *strategy, strategyNames())
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
	var cfg mm.Config
	if *host {
		cfg, _ = procfs.HostConfig()
	}
	if *noAnonNames {
		cfg.NoAnonNames = true
	}
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		n, err := scenario.ParseNumber(v)
		if err == nil {
			err = scenario.SetConfig(&cfg, k, n)
		}
		if err != nil {
			fmt.Fprintf(stderr, "specvma run: -set %s: %v\n", kv, err)
			return 2
		}
	}
	b := scenario.NewModel(cfg)
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

// strategyNames lists mm's resolution strategies for usage text and errors.
func strategyNames() string {
	var names []string
	for _, s := range mm.Strategies() {
		names = append(names, s.String())
	}
	return strings.Join(names, ", ")
}
