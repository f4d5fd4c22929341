package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"specvma/internal/testsupport"
)

// TestRoundTripSelf parses this process's maps, loads it into the model and
// renders it back: the text must come back byte for byte.
func TestRoundTripSelf(t *testing.T) {
	testsupport.RequireProcMaps(t)
	text, err := ReadMaps(0)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Parse(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := Format(entries); got != string(text) {
		t.Fatalf("Format(Parse(maps)) differs:\n%s\nfrom\n%s", got, text)
	}
	as, err := LoadFrom(entries)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if got := Maps(as); got != string(text) {
		t.Fatalf("Maps(LoadFrom(maps)) differs:\n%s\nfrom\n%s", got, text)
	}
}

// startChild starts cmd and cleans it up when the test ends.
func startChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

// checkLoad loads pid into the model and compares its maps with the
// kernel's, read again afterwards; pid must not be changing its mappings.
func checkLoad(t *testing.T, pid int) string {
	t.Helper()
	as, text, err := LoadText(pid)
	if err != nil {
		t.Fatalf("Load(%d): %v\n%s", pid, err, text)
	}
	live, err := os.ReadFile(MapsPath(pid))
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != string(live) {
		t.Fatalf("process %d changed its mappings during the test", pid)
	}
	if got := Maps(as); got != string(live) {
		t.Fatalf("model:\n%s\nkernel:\n%s", got, live)
	}
	return string(live)
}

// TestLoadChild builds a C program that maps files with awkward names,
// deleted files and shared anonymous memory, and checks Maps(Load(pid))
// against its /proc/PID/maps.
func TestLoadChild(t *testing.T) {
	testsupport.RequireProcMaps(t)
	gcc := testsupport.RequireTool(t, "gcc", "the child program is built with it")
	dir := t.TempDir()
	bin := filepath.Join(dir, "maps_child")
	if out, err := exec.Command(gcc, "-O1", "-o", bin, filepath.Join("testdata", "maps_child.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, data)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startChild(t, cmd)
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = errors.New("child said " + strconv.Quote(line))
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not get ready")
	}

	text := checkLoad(t, cmd.Process.Pid)
	for _, want := range []string{
		"/data/with space.bin\n", `/data/new\012line` + "\n", "/data/gone.bin (deleted)\n",
		" 00:01 ", "/dev/zero (deleted)\n", "[heap]\n", "[stack]\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the child's maps lack %q:\n%s", want, text)
		}
	}
}

// TestLoadSleep loads a sleep(1) process: a dynamically linked program
// with the usual heap, stack, vdso and libraries.
func TestLoadSleep(t *testing.T) {
	testsupport.RequireProcMaps(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	cmd := exec.Command(sleep, "60")
	startChild(t, cmd)
	testsupport.WaitSettled(t, cmd.Process.Pid)
	checkLoad(t, cmd.Process.Pid)
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(-1); err == nil {
		t.Error("Load(-1) succeeded")
	}
	testsupport.RequireProcMaps(t)
	if _, err := Load(1 << 30); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a process that does not exist: %v", err)
	}
}
