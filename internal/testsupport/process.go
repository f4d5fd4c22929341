package testsupport

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Live processes for the tests that load one into the model.

// SettledSleeper starts sleep(1) for a minute (killed when t ends), waits
// until it is settled (WaitSettled) and returns its pid. It skips t without
// a sleep program.
func SettledSleeper(t testing.TB) int {
	t.Helper()
	sleep := RequireTool(t, "sleep", "the test loads a sleeping process")
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	WaitSettled(t, cmd.Process.Pid)
	return cmd.Process.Pid
}

// WaitSettled waits until process pid is asleep with the same
// /proc/PID/maps text twice in a row: the loader and the libraries are
// done mapping, so two reads of its maps agree.
func WaitSettled(t testing.TB, pid int) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	var last []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'S' {
			last = nil
			continue
		}
		text, err := os.ReadFile(dir + "/maps")
		if err != nil {
			t.Fatal(err)
		}
		if last != nil && bytes.Equal(text, last) {
			return
		}
		last = text
	}
	t.Fatalf("process %d did not settle", pid)
}
