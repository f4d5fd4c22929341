package uprobes

// Linux as the oracle for ParseSpec: each line is written to the running
// kernel's uprobe_events; the kernel's verdict (and errno) must match
// ParseSpec's, and the kernel's listing must match Spec.String(). Probes are
// created in groups of their own (or, for default names, on a file of a
// unique name) and deleted again; the events are never enabled.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"specvma/errno"
)

const uprobeEvents = "/sys/kernel/tracing/uprobe_events"

func openUprobeEvents(t *testing.T) *os.File {
	f, err := os.OpenFile(uprobeEvents, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Skipf("live tracefs check needs a writable %s (root, tracefs mounted): %v", uprobeEvents, err)
	}
	return f
}

// probeFile copies a small executable to a file of a unique base name.
func probeFile(t *testing.T) string {
	src, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skipf("no /bin/true to probe: %v", err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("svt%d", os.Getpid()))
	if err := os.WriteFile(path, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func kernelListing(t *testing.T, name string) string {
	f, err := os.Open(uprobeEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); len(l) > 2 && strings.HasPrefix(l[1:], ":"+name+" ") {
			return l
		}
	}
	return ""
}

func writeLine(f io.Writer, line string) errno.Errno {
	_, err := io.WriteString(f, line)
	var se syscall.Errno
	if errors.As(err, &se) {
		return errno.Errno(se)
	}
	if err != nil {
		return errno.EIO
	}
	return 0
}

func TestParseSpecAgainstLinux(t *testing.T) {
	f := openUprobeEvents(t)
	defer f.Close()
	path := probeFile(t)
	g := fmt.Sprintf("specvma_t%d", os.Getpid())
	lines := []string{
		"p $P:0x10", "r $P:16", "p $P:020", "p:$G/e1 $P:0x10(0x20)", "p:$G/e2 $P:0x10%return(0x8)",
		"p:$G/ $P:0x30", "p:$G.e3 $P:0x40 %ax arg2=%bx", "px:$G/e4 $P:0x10", "pz $P:0x50",
		"p:$G/e5 $P:0xffffffffffffffff", "p:$G/e6 $P:0x10(0)",
		"p:$G/9e $P:1", "p:$G/a/b $P:1", "p: $P:1", "p:/e $P:1", "p $P:0x", "p $P:08", "p $P:+1",
		"p $P:0x10000000000000000", "p $P:0x10()", "p $P:0x10(1)x", "p $P:1%ret", "-x", "-:", "-:/e",
	}
	for _, l := range lines {
		line := strings.NewReplacer("$P", path, "$G", g).Replace(l)
		compareWithLinux(t, f, line)
	}
}

func compareWithLinux(t *testing.T, f io.Writer, line string) {
	t.Helper()
	spec, perr := ParseSpec(line)
	kerr := writeLine(f, line)
	var se *SpecError
	switch {
	case kerr != 0 && perr == nil:
		t.Errorf("%q: Linux says %v, ParseSpec accepts it", line, kerr)
	case kerr != 0 && (!errors.As(perr, &se) || se.Errno != kerr):
		t.Errorf("%q: Linux says %v, ParseSpec says %v", line, kerr, perr)
	case kerr == 0 && perr != nil:
		t.Errorf("%q: Linux accepts it, ParseSpec says %v", line, perr)
	case kerr == 0:
		got := kernelListing(t, spec.Name())
		if got != spec.String() {
			t.Errorf("%q: Linux lists %q, String() gives %q", line, got, spec.String())
		}
		if e := writeLine(f, "-:"+spec.Name()); e != 0 {
			t.Errorf("deleting %s: %v", spec.Name(), e)
		}
	}
}
