package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"specvma/internal/testsupport"
	"specvma/procfs"
)

// TestNoAddressSpace: a kernel thread and a zombie have no user address
// space; maps, probes and resolve say what the process is and exit 1,
// as they do for a process that does not exist.
func TestNoAddressSpace(t *testing.T) {
	testsupport.RequireProcMaps(t)
	check := func(pid int, what string) {
		t.Helper()
		p := strconv.Itoa(pid)
		for _, args := range [][]string{{"maps", p}, {"probes", "-pid", p, "/bin/true:0x10"}, {"resolve", "-pid", p, "0x1000"}} {
			code, out, errs := runProbeCmd(t, args...)
			if code != 1 || out != "" || !strings.Contains(errs, fmt.Sprintf("specvma %s: PID %d (", args[0], pid)) ||
				!strings.Contains(errs, what) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errs, what)
			}
		}
	}
	// A kernel thread: kthreadd is PID 2 wherever /proc shows the host's
	// PID namespace.
	if info, err := readProcessInfo(2); err == nil && info.kthread {
		check(2, "is a kernel thread: it has no user address space")
	} else {
		t.Log("PID 2 is not a kernel thread here (a PID namespace); kernel-thread case not checked")
	}
	// A zombie: a child that exited and was not waited for.
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if info, err := readProcessInfo(pid); err == nil && info.state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PID %d never became a zombie", pid)
		}
	}
	check(pid, "is a zombie: it has exited")
}

// mapFile maps path into this process with prot (MAP_PRIVATE) and returns
// the address; the mapping is undone at the end of the test.
func mapFile(t *testing.T, path string, prot int) uint64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, 8192, prot, syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return uint64(uintptr(unsafePointer(b)))
}

// TestResolveKinds: resolve tells a file, a deleted file, anonymous memory
// and an unmapped address apart, keeps a path with spaces whole (it is the
// rest of the line), and -json says the same.
func TestResolveKinds(t *testing.T) {
	testsupport.RequireProcMaps(t)
	dir := t.TempDir()
	spaced := filepath.Join(dir, "a file with spaces")
	gone := filepath.Join(dir, "unlinked")
	for _, p := range []string{spaced, gone} {
		if err := os.WriteFile(p, make([]byte, 8192), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := mapFile(t, spaced, syscall.PROT_READ)
	d := mapFile(t, gone, syscall.PROT_READ)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	anon, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(anon)
	an := uint64(uintptr(unsafePointer(anon)))
	// One byte past the anonymous page is free unless something else was
	// mapped there: use an address the maps text shows as a hole.
	hole := holeAddr(t)

	addrs := []string{hex(a + 0x1004), hex(d + 8), hex(an), hex(hole)}
	code, out, errs := runProbeCmd(t, append([]string{"resolve", "-pid", "self"}, addrs...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("resolve printed %d lines:\n%s", len(lines), out)
	}
	for i, want := range []string{
		fmt.Sprintf(`^%s file [0-9a-f]+:[0-9a-f]+ \d+ 0x1004 %s$`, addrs[0], regexp.QuoteMeta(spaced)),
		fmt.Sprintf(`^%s deleted [0-9a-f]+:[0-9a-f]+ \d+ 0x8 %s$`, addrs[1], regexp.QuoteMeta(gone)),
		fmt.Sprintf(`^%s anon -$`, addrs[2]),
		fmt.Sprintf(`^%s unmapped$`, addrs[3]),
	} {
		if !matches(want, lines[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, lines[i], want)
		}
	}
	code, out, errs = runProbeCmd(t, append([]string{"resolve", "-json", "-pid", "self"}, addrs...)...)
	if code != 0 {
		t.Fatalf("-json: exit %d: %s", code, errs)
	}
	var got []resolved
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	if len(got) != 4 || got[0].Kind != "file" || got[0].Path != spaced || got[0].Offset != "0x1004" ||
		got[1].Kind != "deleted" || got[1].Path != gone || got[2].Kind != "anon" || got[3].Kind != "unmapped" {
		t.Errorf("-json: %+v", got)
	}
}

// holeAddr returns an address in no mapping of this process.
func holeAddr(t *testing.T) uint64 {
	text, err := procfs.ReadMaps(0)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := procfs.ParseString(string(text))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Start > entries[i-1].End {
			return entries[i-1].End
		}
	}
	t.Skip("no hole in this process's maps")
	return 0
}

func TestMapsJSON(t *testing.T) {
	testsupport.RequireProcMaps(t)
	dir := t.TempDir()
	gone := filepath.Join(dir, "gone file")
	if err := os.WriteFile(gone, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	d := mapFile(t, gone, syscall.PROT_READ)
	os.Remove(gone)
	code, out, errs := runProbeCmd(t, "maps", "-json", "self")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got []mapsEntry
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	found := false
	for _, m := range got {
		if m.Start == hex(d) {
			found = m.Deleted && m.Path == gone && m.Name == gone+" (deleted)" && m.Perms == "r--p"
			if !found {
				t.Errorf("the deleted mapping: %+v", m)
			}
		}
	}
	if !found || len(got) < 5 {
		t.Errorf("maps -json has %d entries, the deleted file's found=%v", len(got), found)
	}
}

// TestProbesNoBreakpoint: an event whose file is not mapped, or is mapped
// only where no breakpoint goes, is named with the reason instead of
// printing nothing.
func TestProbesNoBreakpoint(t *testing.T) {
	testsupport.RequireProcMaps(t)
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	mapFile(t, file, syscall.PROT_READ|syscall.PROT_WRITE) // private writable: valid_vma says no
	code, out, errs := runProbeCmd(t, "probes", "-pid", "self", "p:t/w "+file+":0x10", "p:t/n /bin/true:0x10")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, want := range []string{
		"specvma probes: t/w: no breakpoint: offset 0x10 of " + file + " is mapped only where no breakpoint goes",
		"specvma probes: t/n: no breakpoint: /bin/true is not mapped in this process",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q lacks %q", errs, want)
		}
	}
	code, out, errs = runProbeCmd(t, "probes", "-json", "-pid", "self", "p:t/n /bin/true:0x10")
	var got probesOutput
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Breakpoints) != 0 ||
		len(got.Unplaced) != 1 || got.Unplaced[0].Event != "t/n" {
		t.Errorf("-json: exit %d, %q, %q", code, out, errs)
	}
}

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// unsafePointer is the address of a mapping's first byte.
func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
