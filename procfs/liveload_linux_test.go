//go:build linux

package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"specvma/errno"
)

// TestLoadLiveModes: loading a sleeping child from its text and through
// PROCMAP_QUERY gives the same mappings (the query walk has no gate line),
// and the executable-file-only modes give the executable file mappings;
// LiveEntries returns those same mappings as entries.
func TestLoadLiveModes(t *testing.T) {
	skipNoQuery(t)
	pid := startSleep(t, "60").Process.Pid
	waitExec(t, pid, "sleep")
	// ld.so may still be mapping libraries: compare only when the text read
	// before and after the loads is the same.
	for try := 0; ; try++ {
		text, err := ReadMaps(pid)
		if err != nil {
			t.Fatal(err)
		}
		msgs := compareLoadModes(t, pid, text)
		if after, _ := ReadMaps(pid); !bytes.Equal(after, text) && try < 20 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, m := range msgs {
			t.Error(m)
		}
		return
	}
}

func compareLoadModes(t *testing.T, pid int, text []byte) (msgs []string) {
	entries, err := Parse(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var noGate, execs []Entry
	for _, e := range entries {
		if !e.IsGate() {
			noGate = append(noGate, e)
		}
		if e.Perms&PermExec != 0 && e.FileBacked() && !e.IsGate() {
			execs = append(execs, e)
		}
	}
	if len(execs) < 2 {
		msgs = append(msgs, fmt.Sprintf("sleep has %d executable file mappings; want ld.so and more", len(execs)))
	}
	for _, tc := range []struct {
		o    LoadOptions
		want []Entry
	}{
		{LoadOptions{}, entries},
		{LoadOptions{Query: true}, noGate},
		{LoadOptions{ExecOnly: true}, execs},
		{LoadOptions{Query: true, ExecOnly: true}, execs},
	} {
		as, st, err := LoadLive(pid, tc.o)
		if err != nil {
			t.Fatalf("%+v: %v", tc.o, err)
		}
		if got, want := Maps(as), Format(tc.want); got != want {
			msgs = append(msgs, fmt.Sprintf("%+v: loaded\n%s\nwant\n%s", tc.o, got, want))
		}
		if st.Entries != len(tc.want) || st.Retries != 0 {
			msgs = append(msgs, fmt.Sprintf("%+v: stats %+v", tc.o, st))
		}
		got, st, err := LiveEntries(pid, tc.o)
		if err != nil {
			t.Fatalf("LiveEntries %+v: %v", tc.o, err)
		}
		if !slices.Equal(got, tc.want) || st.Entries != len(tc.want) {
			msgs = append(msgs, fmt.Sprintf("LiveEntries %+v: %+v (stats %+v)\nwant %+v", tc.o, got, st, tc.want))
		}
	}
	return msgs
}

// TestReadMapsZombie: a zombie's maps text is empty, and reading it is an
// error, not an empty address space.
func TestReadMapsZombie(t *testing.T) {
	skipNoQuery(t)
	cmd := exec.Command("sleep", "0")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatal("the child never became a zombie")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := ReadMaps(pid); !errors.Is(err, ErrExited) {
		t.Errorf("ReadMaps of a zombie: %v, want ErrExited", err)
	}
	if _, _, err := LoadLive(pid, LoadOptions{Query: true}); err == nil {
		t.Error("LoadLive -query of a zombie succeeded")
	}
}

// TestReadMapsExitedMidRead: a maps file opened before the process exits
// answers PROCMAP_QUERY with ESRCH afterwards, and reads as an error, never
// as a short text.
func TestReadMapsExitedMidRead(t *testing.T) {
	skipNoQuery(t)
	cmd := startSleep(t, "60")
	f, err := os.Open(MapsPath(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first := make([]byte, 100) // the first read, before the exit
	if _, err := f.Read(first); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := QueryLive(f, Query{Flags: QueryCoveringOrNext}); err != errno.ESRCH {
		t.Errorf("PROCMAP_QUERY after the exit: %v, want ESRCH", err)
	}
	if _, err := readMapsFile(f, cmd.Process.Pid, nil); !errors.Is(err, ErrExited) {
		t.Errorf("reading on after the exit: %v, want ErrExited", err)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
