package kerneltest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/procfs"
	"specvma/vfs"
)

// TestTopDownPlacement checks where mmap puts mappings that have no fixed
// address: Linux's top-down search below the mmap base, the hint rules,
// huge-page alignment of large anonymous mappings and the stack guard gap.
// A C program (testdata/topdown) runs without address-space randomisation,
// prints its maps, makes a series of calls and prints their results and its
// maps again; the model loads the first maps, makes the same calls, and must
// give the same addresses and the same final maps.
func TestTopDownPlacement(t *testing.T) {
	skipUnlessLinux(t)
	gcc := testsupport.RequireTool(t, "gcc", "the top-down test builds a C program")
	dir := t.TempDir()
	bin := filepath.Join(dir, "topdown")
	if out, err := exec.Command(gcc, "-O1", "-o", bin, "testdata/topdown/topdown.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, data).Output()
	if err != nil {
		testsupport.Skip(t, "kerneltest: the top-down program failed (%v); it needs personality(ADDR_NO_RANDOMIZE)", err)
	}
	parts := strings.Split(string(out), "--\n")
	if len(parts) != 3 {
		t.Fatalf("unexpected program output:\n%s", out)
	}
	// parts: the first maps; the call results followed by the last maps; "".
	before := parts[0]
	var calls, after strings.Builder
	for _, line := range strings.SplitAfter(parts[1], "\n") {
		if strings.Contains(line, " = ") {
			calls.WriteString(line)
		} else {
			after.WriteString(line)
		}
	}
	entries, err := procfs.ParseString(before)
	if err != nil {
		t.Fatal(err)
	}
	as, err := procfs.LoadFrom(entries)
	if err != nil {
		t.Fatalf("loading the program's maps: %v", err)
	}
	defer as.Exit()
	f, err := vfs.OpenPath(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Put()

	const rw, ro = mm.ProtRead | mm.ProtWrite, mm.ProtRead
	anon := mm.MapPrivate | mm.MapAnonymous
	var a uint64
	steps := []struct {
		name string
		do   func() (uint64, error)
	}{
		{"anon-1p", func() (uint64, error) { return as.Mmap(0, 4096, rw, anon, nil, 0) }},
		{"anon-3p-ro", func() (uint64, error) { return as.Mmap(0, 3*4096, ro, anon, nil, 0) }},
		{"anon-2m", func() (uint64, error) { return as.Mmap(0, 2<<20, rw, anon, nil, 0) }},
		{"anon-4m1p", func() (uint64, error) { return as.Mmap(0, 4<<20+4096, rw, anon, nil, 0) }},
		{"anon-2p-refill", func() (uint64, error) {
			if err := as.Munmap(a, 4096); err != nil {
				return 0, err
			}
			return as.Mmap(0, 2*4096, rw, anon, nil, 0)
		}},
		{"hint-taken", func() (uint64, error) { return as.Mmap(a, 4096, ro, anon, nil, 0) }},
		{"hint-free", func() (uint64, error) { return as.Mmap(0x300000000000, 4096, ro, anon, nil, 0) }},
		{"hint-unaligned", func() (uint64, error) { return as.Mmap(0x300000100123, 4096, ro, anon, nil, 0) }},
		{"file-1p", func() (uint64, error) { return as.Mmap(0, 4096, ro, mm.MapPrivate, f, 0) }},
		{"file-2p-off", func() (uint64, error) { return as.Mmap(0, 2*4096, ro, mm.MapPrivate, f, 4096) }},
		{"shared-anon", func() (uint64, error) { return as.Mmap(0, 4096, rw, mm.MapShared|mm.MapAnonymous, nil, 0) }},
		{"shared-anon-2m", func() (uint64, error) { return as.Mmap(0, 2<<20, rw, mm.MapShared|mm.MapAnonymous, nil, 0) }},
		{"growsdown", func() (uint64, error) { return as.Mmap(0, 4*4096, rw, anon|mm.MapGrowsDown, nil, 0) }},
		{"below-growsdown", func() (uint64, error) { return as.Mmap(0, 4096, ro, anon, nil, 0) }},
		{"huge-len", func() (uint64, error) { return as.Mmap(0, 1<<46, mm.ProtNone, anon|mm.MapNoReserve, nil, 0) }},
		{"after-huge", func() (uint64, error) { return as.Mmap(0, 4096, ro, anon, nil, 0) }},
	}
	var model strings.Builder
	for i, s := range steps {
		got, err := s.do()
		if i == 0 {
			a = got
		}
		if err != nil {
			fmt.Fprintf(&model, "%s = -1\n", s.name)
		} else {
			fmt.Fprintf(&model, "%s = 0x%x\n", s.name, got)
		}
	}
	if model.String() != calls.String() {
		t.Errorf("mmap results differ\nkernel:\n%s\nmodel:\n%s", calls.String(), model.String())
	}
	all := Window{Base: 0, Size: 1 << 62}
	kernelMaps := all.Normalize(strings.TrimSuffix(after.String(), "\n"))
	modelMaps := all.Normalize(strings.TrimSuffix(procfs.Maps(as), "\n"))
	if kernelMaps != modelMaps {
		t.Errorf("final maps differ\nkernel:\n%s\nmodel:\n%s", kernelMaps, modelMaps)
	}
}
