package kerneltest

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/procfs"
	"specvma/scenario"
)

var (
	update = flag.Bool("update", false,
		"rewrite testdata/NAME.kernel.out with what the running kernel does")
	kernelOnly = flag.Bool("kernelonly", false,
		"run the sequences on the kernel only and log its output (no model)")
)

// run runs script on b with scenario.Run and returns its output; a run
// that stops early ends with an "error: ..." line, so that a comparison
// sees it.
func run(name, script string, b scenario.Backend) string {
	var out strings.Builder
	if err := scenario.Run(name, strings.NewReader(script), b, &out); err != nil {
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		return s + "error: " + err.Error() + "\n"
	}
	return out.String()
}

// runKernel runs script in this process, in a window claimed for it and
// released (unmapped) when the test ends, whatever happens; a script with
// more than one process runs on the multi-process backend instead, whose
// processes are stopped when the test ends.
func runKernel(t *testing.T, name, script string) string {
	t.Helper()
	if needsIsolation(script) && !needsProcesses(script) {
		return runKernelIsolated(t, name, script)
	}
	var b interface {
		scenario.Backend
		Release() error
	}
	var err error
	if needsProcesses(script) {
		b, err = NewProcesses(DefaultWindow)
	} else {
		b, err = NewKernel(DefaultWindow)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Release(); err != nil {
			t.Errorf("releasing the kernel backend: %v", err)
		}
	})
	return run(name, script, b)
}

// runModel runs script on a fresh model configured like this kernel and
// this process (procfs.HostConfig: privilege, mmap_min_addr, overcommit,
// CONFIG_ANON_VMA_NAME).
func runModel(name, script string) string { return runModelHuge(name, script, 0) }

// runModelHuge is runModel with hugePages free unreserved huge pages, the
// number the kernel run started with (HostConfig reads the pool as it is
// after that run, which a kernel leak of reservations may have shrunk).
func runModelHuge(name, script string, hugePages uint64) string {
	cfg, _ := procfs.HostConfig()
	cfg.HugePages = hugePages
	return run(name, script, scenario.NewModel(cfg))
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if !Supported {
		testsupport.Skip(t, "kerneltest: the differential tests run the sequences on linux/amd64 (the model's geometry); this is %s/%s",
			runtime.GOOS, runtime.GOARCH)
	}
}

// TestDiff runs every sequence on the running kernel and on the model and
// requires the same output, normalised only as Window.Normalize describes.
func TestDiff(t *testing.T) {
	skipUnlessLinux(t)
	fx := newFixture(t)
	win := DefaultWindow
	for _, seq := range loadSequences(t) {
		t.Run(seq.name, func(t *testing.T) {
			var huge uint64
			if usesHuge(seq.text) {
				if ok, why := fx.useHuge(); !ok {
					testsupport.Skip(t, "kerneltest: %s maps huge pages: %s", seq.name, why)
				}
				huge = fx.resetHuge(t)
			}
			script := fx.expand(seq.text)
			kout := runKernel(t, seq.name+".vma", script)
			if strings.Contains(kout, "error: ") {
				t.Fatalf("the kernel run stopped: the sequence is broken:\n%s",
					formatTranscript(transcript(seq.name, script, kout)))
			}
			ksteps := transcript(seq.name, seq.text, fx.unexpand(win.Normalize(kout)))
			if *update {
				writeGolden(t, seq, formatTranscript(ksteps))
			}
			if *kernelOnly {
				t.Logf("kernel:\n%s", formatTranscript(ksteps))
				return
			}
			fx.resetHuge(t)
			mout := runModelHuge(seq.name+".vma", script, huge)
			kn, mn := win.Normalize(kout), win.Normalize(mout)
			if kn == mn {
				return
			}
			msteps := transcript(seq.name, seq.text, fx.unexpand(mn))
			t.Errorf("the model differs from the kernel (lines marked !):\n%s", sideBySide(ksteps, msteps))
		})
	}
}

// writeGolden records what the kernel did, for reviewers: the sequence's
// commands, each followed by its output, with the temporary paths put
// back as placeholders. Device and inode numbers of the temporary files
// differ from run to run.
func writeGolden(t *testing.T, seq sequence, text string) {
	t.Helper()
	var uts struct{ release, machine string }
	uts.release, uts.machine = kernelRelease()
	head := "# What Linux " + uts.release + " (" + uts.machine + ") does with the sequence " + seq.name +
		"\n# (regenerate: go test ./difftest/kerneltest -run TestDiff -update).\n" +
		"# Device and inode numbers of the temporary files vary from run to run.\n"
	p := filepath.Join("testdata", seq.name+".kernel.out")
	if err := os.WriteFile(p, []byte(head+text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSequencesStayInWindow checks the sequences' mmap hints and fixed
// addresses are inside the window (or beyond the address limit, for the
// invalid calls): a sequence that left it would depend on where the Go
// runtime and the loader put things.
func TestSequencesStayInWindow(t *testing.T) {
	fx := &fixture{}
	goldens := map[string]bool{}
	outs, _ := filepath.Glob(filepath.Join("testdata", "*.kernel.out"))
	for _, o := range outs {
		goldens[strings.TrimSuffix(filepath.Base(o), ".kernel.out")] = true
	}
	defer func() {
		for g := range goldens {
			t.Errorf("testdata/%s.kernel.out belongs to no sequence: remove it", g)
		}
	}()
	for _, seq := range loadSequences(t) {
		s, err := scenario.ParseString(seq.name, fx.expand(seq.text))
		if err != nil {
			t.Errorf("%s: %v", seq.name, err)
			continue
		}
		delete(goldens, seq.name)
		first := ""
		for _, l := range strings.Split(seq.text, "\n") {
			if strings.TrimSpace(l) != "" {
				first = l
				break
			}
		}
		if !strings.HasPrefix(first, "#") {
			t.Errorf("%s: the first line should be a comment saying what it exercises", seq.name)
		}
		for _, c := range s.Commands {
			switch c.Op {
			case scenario.OpMmap, scenario.OpMunmap, scenario.OpMprotect, scenario.OpMremap, scenario.OpTouch:
				if c.Addr >= mm.TaskSize || DefaultWindow.Contains(c.Addr, 1) {
					continue
				}
				if c.Op == scenario.OpMmap && c.Addr == 0 {
					t.Errorf("%s:%d: mmap without a hint: the kernel's choice is not reproducible", seq.name, c.Line)
					continue
				}
				t.Errorf("%s:%d: %s at %#x is outside the window %v", seq.name, c.Line, c.Op, c.Addr, DefaultWindow)
			}
		}
	}
}
