// Package mapsrace is the kernel's /proc/PID/maps race test
// (tools/testing/selftests/proc/proc-maps-race.c) in Go, run against a
// Target: the live kernel (a child process that changes its mappings) or a
// model address space read by one of procfs's maps readers.
//
// A modifier maps VMACount three-page anonymous VMAs whose protections
// alternate (so neighbours never merge): more than one page of maps text.
// The reader reads the first two pages and takes the last line of page 1
// and the first line of page 2: the VMA at the page boundary and the one
// after it. Each race changes the boundary VMA one way and back, over and
// over, while the reader rereads the two pages and checks that each pair of
// lines is one the contract allows:
//
//   - Split: a page in the middle of the boundary VMA is mapped again with
//     PROT_EXEC added (three VMAs), then with the original protection (one
//     VMA again). The pair is the split form, or the split last line
//     followed by the merged VMA (reported twice: first as its split piece,
//     then whole), or the original; and the two lines change in unison.
//     PROCMAP_QUERY at the middle page returns the whole VMA or the middle
//     piece, nothing else.
//   - Resize: the boundary VMA shrinks to one page with mremap and grows
//     back. The pair is the shrunk form, the shrunk last line followed by
//     the grown VMA, or the original. PROCMAP_QUERY at its start returns it
//     with one or three pages.
//   - Remap: the last page of the next VMA is moved (MREMAP_DONTUNMAP) into
//     the middle of the boundary VMA, splitting it; mprotect of that page
//     to the boundary VMA's protection merges it back. The pair is the
//     remapped form, the remapped last line followed by the merged VMA, or
//     the original. PROCMAP_QUERY at the middle page returns the whole VMA
//     or the one moved page.
//
// Before racing, each race captures its modified and restored forms with
// the modifier stopped, and checks them (the restored form must be the
// original text exactly). What no reader may ever show is a gap where a VMA
// existed both before and after a change.
package mapsrace

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Race is one of the three races.
type Race int

// The races, as the selftest names its tests.
const (
	Split  Race = iota // test_maps_tearing_from_split
	Resize             // test_maps_tearing_from_resize
	Remap              // test_maps_tearing_from_remap
)

var raceNames = [...]string{"split", "resize", "remap"}

func (r Race) String() string { return raceNames[r] }

// Races lists the three races.
func Races() []Race { return []Race{Split, Resize, Remap} }

// Page is the page size the races assume.
const Page = 4096

// VMACount is how many VMAs the modifier maps: enough for the maps text to
// run past one page, at 32 bytes or more per line.
const VMACount = Page/32 + 1

// Base is where the modifier's VMAs start: far below the mmap base, so that
// the mappings a Go runtime makes on its own land elsewhere.
const Base = 0x7e0000000000

// Protection bits (PROT_*).
const (
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4
)

// VMAStart returns the start of the modifier's i'th VMA.
func VMAStart(i int) uint64 { return Base + uint64(i)*3*Page }

// VMAProt returns the protection of the modifier's i'th VMA.
func VMAProt(i int) int {
	if i%2 == 0 {
		return ProtRead | ProtWrite
	}
	return ProtRead
}

// Target is the process, or model, under test.
type Target interface {
	// Arm tells the modifier which race to run on which VMAs.
	Arm(r Race, addr, next uint64, prot int) error
	// Modify and Restore make one change (the modifier must be idle).
	Modify() error
	Restore() error
	// StartChurn makes the modifier modify and restore without pause
	// until StopChurn, which leaves the VMAs restored.
	StartChurn() error
	StopChurn() error
	// ReadPages reads the first two pages of the maps text, from offset 0.
	ReadPages() (page1, page2 []byte, err error)
	// Query is PROCMAP_QUERY for the VMA covering addr.
	Query(addr uint64) (start, end uint64, err error)
}

// Result is what a race run saw.
type Result struct {
	Race       Race
	Iterations int
	Modified   int      // reads that saw the modified form (or the reported-twice one)
	Violations []string // each disallowed observation, with the lines (the first 10)
	NumBad     int
}

type line struct {
	text       string
	start, end uint64
}

func parseLine(s string) (line, error) {
	dash := strings.IndexByte(s, '-')
	sp := strings.IndexByte(s, ' ')
	if dash < 0 || sp < dash {
		return line{}, fmt.Errorf("not a maps line: %q", s)
	}
	start, err1 := strconv.ParseUint(s[:dash], 16, 64)
	end, err2 := strconv.ParseUint(s[dash+1:sp], 16, 64)
	if err1 != nil || err2 != nil {
		return line{}, fmt.Errorf("not a maps line: %q", s)
	}
	return line{s, start, end}, nil
}

// boundary reads the last line of page 1 and the first of page 2.
func boundary(t Target) (last, first line, err error) {
	p1, p2, err := t.ReadPages()
	if err != nil {
		return last, first, err
	}
	if len(p1) == 0 || p1[len(p1)-1] != '\n' || len(p2) == 0 {
		return last, first, fmt.Errorf("maps text shorter than two pages (%d, %d bytes)", len(p1), len(p2))
	}
	p1 = p1[:len(p1)-1]
	l := string(p1[bytes.LastIndexByte(p1, '\n')+1:])
	f := string(p2)
	if i := strings.IndexByte(f, '\n'); i >= 0 {
		f = f[:i]
	}
	if last, err = parseLine(l); err != nil {
		return
	}
	first, err = parseLine(f)
	return
}

// Run runs race r on t for iterations reads, or until the first violation
// when stopAtFirst is set.
func Run(t Target, r Race, iterations int, stopAtFirst bool) (*Result, error) {
	last, first, err := boundary(t)
	if err != nil {
		return nil, err
	}
	idx, next := -1, -1
	for i := 0; i < VMACount; i++ {
		switch VMAStart(i) {
		case last.start:
			idx = i
		case first.start:
			next = i
		}
	}
	if idx < 0 || next < 0 {
		return nil, fmt.Errorf("the page boundary (%q | %q) is not between two of the modifier's VMAs", last.text, first.text)
	}
	addr, nextAddr := VMAStart(idx), VMAStart(next)
	if err := t.Arm(r, addr, nextAddr, VMAProt(idx)); err != nil {
		return nil, err
	}

	// Capture the modified and restored forms with the modifier idle.
	if err := t.Modify(); err != nil {
		return nil, err
	}
	modLast, modFirst, err := boundary(t)
	if err != nil {
		return nil, err
	}
	if err := t.Restore(); err != nil {
		return nil, err
	}
	resLast, resFirst, err := boundary(t)
	if err != nil {
		return nil, err
	}
	if resLast.text != last.text || resFirst.text != first.text {
		return nil, fmt.Errorf("%s: restored lines %q | %q differ from the original %q | %q", r, resLast.text, resFirst.text, last.text, first.text)
	}
	lastChanges, firstChanges := modLast.text != resLast.text, modFirst.text != resFirst.text
	if wantFirst := r != Resize; !lastChanges || firstChanges != wantFirst {
		return nil, fmt.Errorf("%s: modified lines %q | %q against restored %q | %q: not the change this race makes", r, modLast.text, modFirst.text, resLast.text, resFirst.text)
	}

	res := &Result{Race: r}
	bad := func(format string, args ...any) {
		res.NumBad++
		if len(res.Violations) < 10 {
			res.Violations = append(res.Violations, fmt.Sprintf(format, args...))
		}
	}
	if err := t.StartChurn(); err != nil {
		return nil, err
	}
	for i := 0; i < iterations && !(stopAtFirst && res.NumBad > 0); i++ {
		res.Iterations = i + 1
		nl, nf, err := boundary(t)
		if err != nil {
			_ = t.StopChurn()
			return nil, err
		}
		if nl.text == modLast.text {
			res.Modified++
			if nf.text != modFirst.text && nf.text != resLast.text {
				bad("%s: page 1 ends in the modified form %q but page 2 starts with %q (want %q or %q)", r, nl.text, nf.text, modFirst.text, resLast.text)
			}
		} else if nl.text != resLast.text || nf.text != resFirst.text {
			bad("%s: boundary %q | %q is neither the modified nor the restored form (%q | %q)", r, nl.text, nf.text, resLast.text, resFirst.text)
		}
		if r == Split && (nl.text != last.text) != (nf.text != first.text) {
			bad("%s: boundary lines did not change in unison: %q | %q", r, nl.text, nf.text)
		}
		if err := checkQuery(t, r, last, modFirst, addr); err != "" {
			bad("%s", err)
		}
	}
	if err := t.StopChurn(); err != nil {
		return nil, err
	}
	return res, nil
}

// checkQuery applies the race's PROCMAP_QUERY assertion.
func checkQuery(t Target, r Race, last, modFirst line, addr uint64) string {
	q := addr
	if r != Resize {
		q = addr + Page
	}
	start, end, err := t.Query(q)
	if err != nil {
		return fmt.Sprintf("%s: PROCMAP_QUERY at %#x: %v", r, q, err)
	}
	ok := false
	switch r {
	case Split:
		ok = (start == last.start && end == last.end) || (start == modFirst.start && end == modFirst.end)
	case Resize:
		ok = start == last.start && (end-start == 3*Page || end-start == Page)
	case Remap:
		ok = (start == last.start && end-start == 3*Page) || (start == last.start+Page && end-start == Page)
	}
	if !ok {
		return fmt.Sprintf("%s: PROCMAP_QUERY at %#x returned %#x-%#x", r, q, start, end)
	}
	return ""
}

// readTwoPages makes two page-sized reads.
func readTwoPages(read func([]byte) (int, error)) (p1, p2 []byte, err error) {
	p1 = make([]byte, Page)
	n, err := read(p1)
	if err != nil {
		return nil, nil, err
	}
	p2 = make([]byte, Page)
	m, err := read(p2)
	if err != nil && m == 0 {
		return nil, nil, err
	}
	return p1[:n], p2[:m], nil
}
