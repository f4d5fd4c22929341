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
	"specvma/internal/testsupport"
)

const uprobeEvents = "/sys/kernel/tracing/uprobe_events"

func openUprobeEvents(t *testing.T) *os.File {
	f, err := os.OpenFile(uprobeEvents, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		testsupport.Skip(t, "live tracefs check needs a writable %s (root, tracefs mounted): %v", uprobeEvents, err)
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

// TestFetchArgsAgainstLinux: the kernel's verdict on each fetch argument
// (and its errno) must be ParseSpec's.
func TestFetchArgsAgainstLinux(t *testing.T) {
	f := openUprobeEvents(t)
	defer f.Close()
	path := probeFile(t)
	g := fmt.Sprintf("specvma_f%d", os.Getpid())
	deep := func(n int, leaf string) string {
		for range n {
			leaf = "+0(" + leaf + ")"
		}
		return leaf
	}
	many := strings.Repeat(" %ax", maxTraceArgs)
	args := []string{
		"%ax", "x=%ax", "%bogus", "%rax", "%r15", "%r16", "%orig_ax", "%flags", "%ds",
		"$stack", "$stack0", "$stack01", "$stack999", "$stackx", "$stack-1", "$retval", "$comm", "$COMM", "$Comm",
		"$arg1", "$argc", "$current", "arg1", "_x", "=%ax", "1=%ax", "a-b=%ax", "a=", "a=%ax a=%bx",
		"%ax arg1=%bx", "arg2=%ax %bx", "common_pid=%ax", "common_tgid=%ax", "__probe_ip=%ax", "__probe_func=%ax",
		"abcdefghijklmnopqrstuvwxyz012345=%ax", "abcdefghijklmnopqrstuvwxyz0123456=%ax",
		"+0(%sp):u64", "+0(%sp):badtype", "%ax:char", "%ax:symbol", "%ax:symstr", "+0(%ax):symstr", "%ax:x32",
		"%ax:u128", "%ax:s0", "%ax:", ":u8", "%ax:u8:u8", "%ax:string", "+0(%ax):string", "%ax:ustring",
		"+0(%ax):ustring", "+u0(%ax):string", "$stack:string", "\\1:string", "\\1:ustring", "$comm:string",
		"$comm:ustring", "$comm:u8", `\"a"`, `\"a":string`, `\"a":ustring`, `\"abc`, `\"`, "\\1", "\\-1", "\\+1",
		"\\0x10", "\\1x", "\\imm", "\\", "@0x1000", "@+0x10", "@+-0x10", "@-1", "@+x", "@0x", "@sym", "@/bin/true+0x10",
		"@0x10:string", "@1:u8[64]", "@1:u8[65]", "@1:u8[0]", "@1:u8[2", "@1:u8[2]x", "@1:string[2]", "\\1:u8[2]",
		"%ax:u8[4]", "%ax:x8[1]", "+0(%ax):u8[2]:x", "+0(%ax):string[2]", "+0(%ax):ustring[2]", "+0(%ax):symbol[2]",
		"+u0(%ax):u32", "-u8(%ax):u32", "+0x10(%ax)", "-0x10(%ax)", "+(%ax)", "+x(%ax)", "+0(%ax", "+0(%ax)x",
		"+0(%ax))", "+0((%ax))", "+0(%ax)(%bx)", "+0($comm)", `+0(\"a")`, "+0(\\1)", "+0(@+1)", "+0(+0(@1))",
		"%ax:b1@0/8", "%ax:b8@1/8", "%ax:b0@0/8", "%ax:b4@0/12", "%ax:b4/8", "%ax:b4@/8", "%ax:b4@0/0x8", "%ax:bx@0/8",
		"%ax:b4@0/32", "+0(%ax):b4@0/32[2]", "%ax:b64@0/64", "%ax:b65@0/64",
		"+0x" + strings.Repeat("0", 55) + "(%ax)", "+0x" + strings.Repeat("0", 56) + "(%ax)",
		deep(8, "%ax"), deep(13, "%ax"), deep(14, "%ax"), deep(15, "%ax"), deep(13, "%ax") + ":string",
		deep(14, "%ax") + ":string", deep(13, "%ax") + ":u8[2]", deep(14, "%ax") + ":u8[2]",
		deep(13, "%ax") + ":b1@0/8", deep(14, "%ax") + ":b1@0/8", deep(13, "@1"), deep(14, "@1"),
		deep(12, "@1") + ":u8[2]", deep(13, "@1") + ":u8[2]", deep(14, "\\1"), deep(13, "\\1") + ":string",
		many[1:], many[1:] + " %bx",
	}
	for _, a := range args {
		compareWithLinux(t, f, fmt.Sprintf("p:%s/fa %s:0x10 %s", g, path, a))
	}
	for _, a := range []string{"$retval", "$retval:string", "+0($retval):string", "$retval:u8", "$stack:u8"} {
		compareWithLinux(t, f, fmt.Sprintf("r:%s/fr %s:0x10 %s", g, path, a))
		compareWithLinux(t, f, fmt.Sprintf("p:%s/fr %s:0x10%%return %s", g, path, a))
	}
}

// TestAddEventPathTypesAgainstLinux: tracefs refuses a probe on what is not
// a regular file; System.AddEvent must refuse the same paths with the same
// errno, and accept the rest.
func TestAddEventPathTypesAgainstLinux(t *testing.T) {
	f := openUprobeEvents(t)
	defer f.Close()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	g := fmt.Sprintf("specvma_p%d", os.Getpid())
	for i, path := range []string{probeFile(t), dir, "/dev/null", fifo, "/proc/self/maps"} {
		line := fmt.Sprintf("p:%s/p%d %s:0x0", g, i, path)
		kerr := writeLine(f, line)
		if kerr == 0 {
			writeLine(f, fmt.Sprintf("-:%s/p%d", g, i))
		}
		_, err := NewSystem().AddEvent(line)
		var got errno.Errno
		if err != nil && !errors.As(err, &got) {
			t.Errorf("%s: AddEvent error %v carries no errno", path, err)
		}
		if got != kerr {
			t.Errorf("%s: Linux says %v, AddEvent says %v", path, kerr, err)
		}
	}
}
