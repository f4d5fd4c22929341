package kerneltest

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Calls whose effect outlives the kernel backend's Release: sealed memory
// cannot be unmapped for the rest of the process, and RLIMIT_MEMLOCK and
// a dropped capability (config memlock_rlimit, ipc_lock) would hold for
// every later test. A sequence that makes them runs its kernel side in a
// child process (this test binary, re-run as TestKernelChild), which takes
// the seal with it when it exits. (data_rlimit and as_rlimit sequences run
// in the C agents instead: needsProcesses.)
func needsIsolation(script string) bool {
	for line := range strings.SplitSeq(script, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "mseal" || len(f) > 1 && f[0] == "config" && slices.Contains(limitKeys, f[1]) {
			return true
		}
	}
	return false
}

// needsProcesses reports a script with more than one process (a process
// line): its kernel side runs on the multi-process backend (Processes),
// whose agents can fork. So does a script that sets RLIMIT_AS or
// RLIMIT_DATA (config as_rlimit, data_rlimit): an agent's size changes only
// by what the script maps, while the Go runtime maps heap, span records
// and thread stacks whenever it grows, which under the limit would kill it
// ("runtime: cannot allocate memory": a Go child under RLIMIT_DATA died so
// about once in a hundred race runs, even with its heap grown first).
func needsProcesses(script string) bool {
	for line := range strings.SplitSeq(script, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "process" || len(f) > 1 && f[0] == "config" && (f[1] == "as_rlimit" || f[1] == "data_rlimit") {
			return true
		}
	}
	return false
}

const childScriptEnv = "SPECVMA_KERNELTEST_CHILD_SCRIPT"

// runKernelIsolated runs script on the kernel backend in a child process
// and returns what it printed.
func runKernelIsolated(t *testing.T, name, script string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKernelChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childScriptEnv+"="+script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("the child running %s failed: %v\n%s%s", name, err, out.String(), errb.String())
	}
	const begin, end = "--- kernel output ---\n", "--- end ---\n"
	s := out.String()
	i, j := strings.Index(s, begin), strings.LastIndex(s, end)
	if i < 0 || j < i {
		t.Fatalf("the child running %s printed no output block:\n%s%s", name, s, errb.String())
	}
	return s[i+len(begin) : j]
}

// TestKernelChild is the child side of runKernelIsolated; it does nothing
// unless the environment hands it a script.
func TestKernelChild(t *testing.T) {
	script, ok := os.LookupEnv(childScriptEnv)
	if !ok {
		t.Skip("runs only as the child of an isolated kernel sequence")
	}
	// The whole sequence runs on this thread: capabilities are per thread.
	runtime.LockOSThread()
	k, err := NewKernel(DefaultWindow)
	if err != nil {
		t.Fatal(err)
	}
	k.ApplyLimits = true
	out := run("child", script, k)
	os.Stdout.WriteString("--- kernel output ---\n" + out + "--- end ---\n")
}
