package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"specvma/internal/testsupport"
	"specvma/procfs"
)

func TestMapsCommand(t *testing.T) {
	testsupport.RequireProcMaps(t)
	pid := testsupport.SettledSleeper(t)
	var out, errb bytes.Buffer
	if code := dispatch([]string{"maps", strconv.Itoa(pid)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	live, err := os.ReadFile(procfs.MapsPath(pid))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(live) {
		t.Fatalf("specvma maps:\n%s\nkernel:\n%s", out.String(), live)
	}
	if errb.Len() != 0 {
		t.Errorf("stderr: %s", errb.String())
	}
}

func TestMapsCommandSelf(t *testing.T) {
	testsupport.RequireProcMaps(t)
	var out, errb bytes.Buffer
	if code := dispatch([]string{"maps", "self"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	entries, err := procfs.ParseString(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || !strings.Contains(out.String(), "[stack]\n") {
		t.Errorf("self maps:\n%s", out.String())
	}
}

func TestMapsCommandErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"maps"}, 2, "usage: specvma maps [-json] [-query] [-exec] PID|self"},
		{[]string{"maps", "1", "2"}, 2, "usage: specvma maps [-json] [-query] [-exec] PID|self"},
		{[]string{"maps", "-x"}, 2, "flag provided but not defined: -x"},
		{[]string{"maps", "abc"}, 2, `specvma maps: bad process ID "abc"`},
		{[]string{"maps", "0"}, 2, `specvma maps: bad process ID "0"`},
		{[]string{"maps", "-5"}, 2, "flag provided but not defined: -5"},
		{[]string{"maps", "-h"}, 0, "usage: specvma maps [-json] [-query] [-exec] PID|self"},
	} {
		var out, errb bytes.Buffer
		code := dispatch(tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.msg) || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, out.String(), errb.String(), tt.code, tt.msg)
		}
	}
	testsupport.RequireProcMaps(t)
	var out, errb bytes.Buffer
	if code := dispatch([]string{"maps", strconv.Itoa(1 << 30)}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no process with PID") {
		t.Errorf("a process that does not exist: exit %d, stderr %q", code, errb.String())
	}
}

// TestMapsQueryExec: -query -exec prints only executable file mappings,
// walked with PROCMAP_QUERY, and -exec alone prints the same lines.
func TestMapsQueryExec(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	code, out, errs := runCmd("maps", "-query", "-exec", "self")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 1 {
		t.Fatal("no lines")
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 6 || f[1][2] != 'x' || !strings.HasPrefix(f[5], "/") {
			t.Errorf("not an executable file mapping: %q", l)
		}
	}
	if code, text, _ := runCmd("maps", "-exec", "self"); code != 0 || text != out {
		t.Errorf("-exec from the text: exit %d\n%s\nwant\n%s", code, text, out)
	}
}
