package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"specvma/difftest/uprobetest"
	"specvma/internal/testsupport"
	"specvma/procfs"
	"specvma/uprobes"
)

// textLine returns the maps line of the executable text of the program
// whose path ends in base.
func textLine(t *testing.T, pid int, base string) procfs.Entry {
	t.Helper()
	text, err := procfs.ReadMaps(pid)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := procfs.ParseString(string(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.FileBacked() && e.Perms.Exec() && filepath.Base(e.Path()) == base {
			return e
		}
	}
	t.Fatalf("no executable mapping of %s in\n%s", base, text)
	return procfs.Entry{}
}

// eligibleAddrs computes from the maps text alone where a probe at off of
// path would get a breakpoint: every private, not writable mapping of the
// file that covers off (valid_vma, for files on mounts that allow exec).
func eligibleAddrs(t *testing.T, pid int, path string, off uint64) []uint64 {
	t.Helper()
	text, err := procfs.ReadMaps(pid)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := procfs.ParseString(string(text))
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range entries {
		if e.FileBacked() && e.Path() == path && !e.Perms.Shared() && !e.Perms.Write() &&
			off >= e.Offset && off-e.Offset < e.End-e.Start {
			out = append(out, e.Start+off-e.Offset)
		}
	}
	return out
}

func runProbeCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestProbesSleep(t *testing.T) {
	testsupport.RequireProcMaps(t)
	pid := testsupport.SettledSleeper(t)
	text := textLine(t, pid, "sleep")
	path := text.Path()
	off := text.Offset + 0x10
	spec := func(k, ev string) string { return fmt.Sprintf("%s:svt/%s %s:%#x", k, ev, path, off) }
	code, out, errs := runProbeCmd(t, "probes", "-pid", strconv.Itoa(pid), spec("p", "e"), spec("r", "r"),
		fmt.Sprintf("%s:%#x", path, off))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var want []string
	for _, a := range eligibleAddrs(t, pid, path, off) {
		for _, ev := range []string{"svt/e", "svt/r", "uprobes/" + uprobes.DefaultEventName(path, off)} {
			want = append(want, fmt.Sprintf("%s %#x", ev, a))
		}
	}
	if got := strings.Join(want, "\n") + "\n"; out != got {
		t.Errorf("specvma probes:\n%s\nwant:\n%s", out, got)
	}
	if !strings.Contains(out, fmt.Sprintf("svt/e %#x\n", text.Start+0x10)) {
		t.Errorf("no breakpoint at the text line's address %#x:\n%s", text.Start+0x10, out)
	}
	if errs != "" {
		t.Errorf("stderr: %s", errs)
	}
}

// TestProbesMappings runs the uprobetest target, which maps its own file
// again privately, read-only, writable and shared: the breakpoints follow
// valid_vma, and a symbol spec resolves to the loader's address.
func TestProbesMappings(t *testing.T) {
	testsupport.RequireProcMaps(t)
	if runtime.GOARCH != "amd64" {
		t.Skipf("the uprobetest target is written for x86-64; this is %s", runtime.GOARCH)
	}
	testsupport.RequireTool(t, "gcc", "this test builds its target with it")
	bin, err := uprobetest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lay, err := uprobetest.ReadLayout(bin)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := uprobetest.Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	size := (lay.Size + 4095) &^ 4095
	addrs := map[string]uint64{}
	for _, m := range []struct {
		name, prot string
		shared     bool
	}{{"rx", "r-x", false}, {"ro", "r--", false}, {"rwx", "rwx", false}, {"shared", "r-x", true}} {
		a, err := tg.Map(m.prot, m.shared, 0, size)
		if err != nil {
			t.Fatal(err)
		}
		addrs[m.name] = a
	}
	code, out, errs := runProbeCmd(t, "probes", "-pid", strconv.Itoa(tg.PID),
		"p:t/foo "+bin+":svt_foo", "r:t/bar "+bin+":svt_bar", "p:t/bar4 "+bin+":svt_bar+4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	type line struct {
		addr uint64
		ev   string
	}
	var want []line
	for _, base := range []uint64{tg.Foo - lay.Foo, addrs["rx"], addrs["ro"]} {
		want = append(want, line{base + lay.Foo, "t/foo"}, line{base + lay.Bar, "t/bar"}, line{base + lay.Bar + 4, "t/bar4"})
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].addr != want[j].addr {
			return want[i].addr < want[j].addr
		}
		return want[i].ev < want[j].ev
	})
	var b strings.Builder
	for _, l := range want {
		fmt.Fprintf(&b, "%s %#x\n", l.ev, l.addr)
	}
	if out != b.String() {
		t.Errorf("specvma probes (own text at %#x, rx %#x, ro %#x, rwx %#x, shared %#x):\n%s\nwant:\n%s",
			tg.Foo-lay.Foo, addrs["rx"], addrs["ro"], addrs["rwx"], addrs["shared"], out, b.String())
	}

	// resolve: the same addresses, through each mapping.
	args := []string{"resolve", "-pid", strconv.Itoa(tg.PID)}
	probeAddrs := []uint64{tg.Foo, addrs["rwx"] + lay.Foo, addrs["shared"] + lay.Bar + 4, addrs["ro"] + lay.Bar + 4}
	for _, a := range probeAddrs {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	args = append(args, "-probe", "p:t/foo "+bin+":svt_foo", "-probe", "p:t/bar4 "+bin+":svt_bar+4")
	code, out, errs = runProbeCmd(t, args...)
	if code != 0 {
		t.Fatalf("resolve: exit %d: %s", code, errs)
	}
	id := textLine(t, tg.PID, filepath.Base(bin))
	dev := fmt.Sprintf("%02x:%02x %d", id.Dev.Major, id.Dev.Minor, id.Inode)
	wantRes := fmt.Sprintf("%#x file %s %#x t/foo %s\n", probeAddrs[0], dev, lay.Foo, bin) +
		fmt.Sprintf("%#x file %s %#x - %s\n", probeAddrs[1], dev, lay.Foo, bin) +
		fmt.Sprintf("%#x file %s %#x - %s\n", probeAddrs[2], dev, lay.Bar+4, bin) +
		fmt.Sprintf("%#x file %s %#x t/bar4 %s\n", probeAddrs[3], dev, lay.Bar+4, bin)
	if out != wantRes {
		t.Errorf("specvma resolve:\n%s\nwant:\n%s", out, wantRes)
	}
}

func TestResolveSleep(t *testing.T) {
	testsupport.RequireProcMaps(t)
	pid := testsupport.SettledSleeper(t)
	text := textLine(t, pid, "sleep")
	stack := uint64(0)
	entries, err := procfs.ParseString(mustMaps(t, pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name == "[stack]" {
			stack = e.End - 8
		}
	}
	a := text.Start + 0x10
	code, out, errs := runProbeCmd(t, "resolve", "-pid", strconv.Itoa(pid), fmt.Sprintf("%#x", a), "0x1000",
		strconv.FormatUint(stack, 10))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := fmt.Sprintf("%#x file %02x:%02x %d %#x %s\n0x1000 unmapped\n%#x anon [stack]\n", a, text.Dev.Major, text.Dev.Minor,
		text.Inode, text.Offset+0x10, text.Path(), stack)
	if out != want {
		t.Errorf("specvma resolve:\n%s\nwant:\n%s", out, want)
	}
	// With a probe: the address gets its event, other file addresses "-".
	spec := fmt.Sprintf("p:svt/e %s:%#x", text.Path(), text.Offset+0x10)
	code, out, errs = runProbeCmd(t, "resolve", "-pid", strconv.Itoa(pid), "-probe", spec,
		fmt.Sprintf("%#x", a), fmt.Sprintf("%#x", a+1), "0x1000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want = fmt.Sprintf("%#x file %02x:%02x %d %#x svt/e %s\n%#x file %02x:%02x %d %#x - %s\n0x1000 unmapped\n",
		a, text.Dev.Major, text.Dev.Minor, text.Inode, text.Offset+0x10, text.Path(),
		a+1, text.Dev.Major, text.Dev.Minor, text.Inode, text.Offset+0x11, text.Path())
	if out != want {
		t.Errorf("specvma resolve -probe:\n%s\nwant:\n%s", out, want)
	}
}

func mustMaps(t *testing.T, pid int) string {
	t.Helper()
	b, err := procfs.ReadMaps(pid)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// missingPID returns a process ID with no process.
func missingPID(t *testing.T) string {
	for pid := 1 << 22; pid > 1<<20; pid-- {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return strconv.Itoa(pid)
		}
	}
	t.Skip("no free process ID found")
	return ""
}

func TestProbesErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"probes"}, 2, "usage: specvma probes [-json] -pid PID SPEC..."},
		{[]string{"probes", "-pid", "1"}, 2, "usage: specvma probes"},
		{[]string{"probes", "/bin/true:0x10"}, 2, "usage: specvma probes"},
		{[]string{"probes", "-pid", "abc", "/bin/true:0x10"}, 2, `-pid: bad process ID "abc"`},
		{[]string{"probes", "-pid", "0", "/bin/true:0x10"}, 2, `bad process ID "0"`},
		{[]string{"probes", "-pid", "-5", "/bin/true:0x10"}, 2, `bad process ID "-5"`},
		{[]string{"probes", "-pid", "self", "x:y"}, 2, `unknown command "x:y"`},
		{[]string{"probes", "-pid", "self", "p:g/e /bin/true:0x"}, 2, `bad offset`},
		{[]string{"probes", "-pid", "self", "p:g/e nopath:0x10"}, 2, `must contain '/'`},
		{[]string{"probes", "-h"}, 0, "usage: specvma probes"},
		{[]string{"resolve"}, 2, "usage: specvma resolve [-json] -pid PID ADDR... [-probe SPEC]..."},
		{[]string{"resolve", "-pid", "self"}, 2, "usage: specvma resolve"},
		{[]string{"resolve", "-pid", "self", "zz"}, 2, `bad address "zz"`},
		{[]string{"resolve", "-pid", "abc", "0x1000"}, 2, `bad process ID "abc"`},
		{[]string{"resolve", "-pid", "self", "0x1000", "-probe", "q:x"}, 2, `unknown command "q:x"`},
		{[]string{"resolve", "-h"}, 0, "usage: specvma resolve"},
	} {
		code, out, errs := runProbeCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.msg) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, out, errs, tt.code, tt.msg)
		}
	}
	testsupport.RequireProcMaps(t)
	pid := missingPID(t)
	// A process that does not exist: status 1 from every command.
	for _, args := range [][]string{
		{"probes", "-pid", pid, "/bin/true:0x10"},
		{"resolve", "-pid", pid, "0x1000"},
		{"maps", pid},
	} {
		code, out, errs := runProbeCmd(t, args...)
		if want := "specvma " + args[0] + ": no process with PID " + pid + "\n"; code != 1 || out != "" || errs != want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errs, want)
		}
	}
	for _, args := range [][]string{
		{"probes", "-pid", "self", "p:g/e /nonexistent/specvma:0x10"},
		{"probes", "-pid", "self", "p:g/e " + os.Args[0] + ":no_such_symbol_here"},
		{"resolve", "-pid", "self", "0x1000", "-probe", "p:g/e /nonexistent/specvma:0x10"},
	} {
		code, out, errs := runProbeCmd(t, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, "specvma "+args[0]+": ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and a message", args, code, out, errs)
		}
	}
}
