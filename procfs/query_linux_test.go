//go:build linux

package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"specvma/errno"
	"specvma/internal/testsupport"
)

// queryAddrs returns the addresses the differential test asks about: every
// VMA's first and last byte, its end, the byte below its start, a middle
// page, and addresses below the first VMA, past the last and at the top.
func queryAddrs(entries []Entry) []uint64 {
	addrs := []uint64{0, 0x1000, 1<<47 - 1, 1 << 47, GateStart, ^uint64(0)}
	for _, e := range entries {
		addrs = append(addrs, e.Start, e.Start-1, e.End-1, e.End, e.Start+(e.End-e.Start)/2&^0xfff)
	}
	if len(entries) > 0 {
		addrs = append(addrs, entries[len(entries)-1].End+0x1000)
	}
	return addrs
}

// diffQueries loads pid's maps into the model and asks the model and the
// kernel the same queries: every flag combination (and one unknown bit) at
// every address of queryAddrs, with and without name and build-ID buffers,
// and the argument errors. The process must hold still: the text is read
// again afterwards, and the whole comparison is repeated when it moved.
func diffQueries(t *testing.T, pid int, wantBuildIDs bool) {
	t.Helper()
	for try := 0; ; try++ {
		mismatches, n, err := diffQueriesOnce(pid, wantBuildIDs)
		if err == errMoved && try < 10 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mismatches {
			t.Error(m)
		}
		t.Logf("pid %d: %d queries compared, %d differ", pid, n, len(mismatches))
		return
	}
}

var errMoved = errors.New("the process changed its mappings during the comparison")

func diffQueriesOnce(pid int, wantBuildIDs bool) ([]string, int, error) {
	f, err := os.Open(MapsPath(pid))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	as, text, err := LoadText(pid)
	if err != nil {
		return nil, 0, err
	}
	entries, _ := Parse(bytes.NewReader(text))
	mf := OpenMaps(as, ReadVMALock)
	var bad []string
	n, withID, withName := 0, 0, 0
	check := func(q Query) {
		n++
		want, werr := QueryLive(f, q)
		got, gerr := mf.Query(q)
		if want.BuildIDSize > 0 {
			withID++
		}
		if want.NameSize > 0 {
			withName++
		}
		if fmt.Sprint(werr) != fmt.Sprint(gerr) || fmt.Sprintf("%+v", want) != fmt.Sprintf("%+v", got) {
			if len(bad) < 20 {
				bad = append(bad, fmt.Sprintf("query %+v:\n  kernel %+v %v\n  model  %+v %v", q, want, werr, got, gerr))
			} else if len(bad) == 20 {
				bad = append(bad, "...")
			}
		}
	}
	for _, addr := range queryAddrs(entries) {
		for flags := uint64(0); flags <= queryValidFlags+1; flags++ {
			check(Query{Flags: flags, Addr: addr})
			check(Query{Flags: flags, Addr: addr, NameAddr: 1, NameSize: queryNameMax, BuildIDAddr: 1, BuildIDSize: buildIDMax})
		}
	}
	// Argument errors, and buffers too small for the answer.
	for _, e := range entries {
		for _, q := range []Query{
			{Size: queryMaxSize + 1, Addr: e.Start},
			{Size: QueryMinSize - 1, Addr: e.Start},
			{Size: QueryMinSize, Addr: e.Start, NameAddr: 1, NameSize: 8},
			{Size: 8, Addr: e.Start},
			{Addr: e.Start, NameAddr: 1},
			{Addr: e.Start, NameSize: 16},
			{Addr: e.Start, BuildIDAddr: 1},
			{Addr: e.Start, BuildIDSize: 20},
			{Addr: e.Start, NameAddr: 1, NameSize: 1},
			{Addr: e.Start, NameAddr: 1, NameSize: 12},
			{Addr: e.Start, BuildIDAddr: 1, BuildIDSize: 1},
			{Addr: e.Start, BuildIDAddr: 1, BuildIDSize: 19},
			{Addr: e.Start, Flags: 1 << 40},
		} {
			check(q)
		}
	}
	after, err := ReadMaps(pid)
	if err != nil {
		return nil, 0, err
	}
	if !bytes.Equal(after, text) {
		return nil, 0, errMoved
	}
	if (wantBuildIDs && withID == 0) || withName == 0 {
		bad = append(bad, fmt.Sprintf("%d answers with a build ID, %d with a name: the comparison did not cover them", withID, withName))
	}
	return bad, n, nil
}

// TestQueryMatchesKernelSelf compares PROCMAP_QUERY on the test process.
func TestQueryMatchesKernelSelf(t *testing.T) {
	skipNoQuery(t)
	diffQueries(t, os.Getpid(), false) // Go links without a GNU build ID
}

// TestQueryMatchesKernelChild compares PROCMAP_QUERY on a sleeping child
// (a dynamically linked program: ld.so, libc, their build IDs).
func TestQueryMatchesKernelChild(t *testing.T) {
	skipNoQuery(t)
	cmd := startSleep(t, "60")
	waitExec(t, cmd.Process.Pid, "sleep")
	diffQueries(t, cmd.Process.Pid, true)
}

// skipNoQuery skips where the kernel has no PROCMAP_QUERY (before 6.11).
func skipNoQuery(t *testing.T) {
	f, err := os.Open(MapsPath(0))
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if _, err := QueryLive(f, Query{Flags: QueryCoveringOrNext}); err == errno.Errno(25) || err == errno.EINVAL {
		testsupport.Skip(t, "no PROCMAP_QUERY: %v", err)
	}
}

// startSleep starts `sleep ARG` and ends it when the test ends; it skips
// the test where there is no sleep program.
func startSleep(t *testing.T, arg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", arg)
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// waitExec waits until pid runs the named program (its exec is done).
func waitExec(t *testing.T, pid int, comm string) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && string(bytes.TrimSpace(b)) == comm {
			return
		}
		sleepMillis(2)
	}
	t.Fatalf("pid %d never became %s", pid, comm)
}
