package mm

import (
	"strings"
	"testing"
)

// Merge rules as diagrams, one character a page, in the manner of Linux's
// tools/testing/vma. Before an operation each letter is one VMA (a run of
// one letter; installed as it is, merging with nothing):
//
//	A..M   anonymous rw-p, no anon_vma
//	N..Z   anonymous rw-p, each letter with an anon_vma of its own
//	a..z   anonymous r--p, no anon_vma
//	*      (mmap cases) the range mapped by the operation: MAP_FIXED rw-p
//	space  unmapped
//
// The operation is either that mmap, or an mprotect of the pages the range
// line marks with ^ to rw- (or to r-- when the marked pages are rw-). After
// it, every page is drawn with the letter of the original VMA that covers
// it now (so the diagram shows which VMA survived a merge), and a VMA the
// operation created is drawn with a digit, 1 for the first in address order.

const diagBase = 0x200000000000

type diagCase struct {
	name   string
	before string
	marked string // mprotect cases: ^ under the pages to change
	after  string
}

var diagMergeCases = []diagCase{
	// vma_merge_new_range
	{name: "new/both", before: "AA*BB", after: "AAAAA"},
	{name: "new/prev", before: "AA*bb", after: "AAAbb"},
	{name: "new/next", before: "aa*BB", after: "aaBBB"},
	{name: "new/none", before: "aa*bb", after: "aa1bb"},
	{name: "new/gap-both-sides", before: "A *  B", after: "A 1  B"},
	{name: "new/prev-with-anon", before: "NN*BB", after: "NNNNN"},
	{name: "new/next-with-anon", before: "AA*OO", after: "AAAAA"},
	// prev and next are each compatible with the new range but not with
	// each other: prev takes it, next stays.
	{name: "new/both-anon-conflict", before: "NN*OO", after: "NNNOO"},
	{name: "new/both-same-anon-free", before: "N**B", after: "NNNN"},
	// vma_merge_existing_range, by mprotect
	{name: "existing/whole-both", before: "aaBBcc", marked: "  ^^  ", after: "aaaaaa"},
	{name: "existing/whole-prev", before: "aaBBCC", marked: "  ^^  ", after: "aaaaCC"},
	{name: "existing/whole-both-rw", before: "AAbbCC", marked: "  ^^  ", after: "AAAAAA"},
	{name: "existing/whole-next", before: "AABBcc", marked: "  ^^  ", after: "AAcccc"},
	{name: "existing/left-part-joins-prev", before: "aaBBBB", marked: "  ^^  ", after: "aaaaBB"},
	{name: "existing/right-part-joins-next", before: "BBBBcc", marked: "  ^^  ", after: "BBcccc"},
	{name: "existing/middle-splits", before: "aaBBBBcc", marked: "   ^^   ", after: "aa1BB2cc"},
	// split_vma at the range's end: the new VMA is the upper part.
	{name: "existing/left-part-no-prev", before: "  BBBB", marked: "  ^^  ", after: "  BB11"},
	{name: "existing/anon-conflict", before: "NNxxOO", marked: "  ^^  ", after: "NNNNOO"},
	// Read-only again, a VMA keeps VM_ACCOUNT once it has an anon_vma
	// (mprotect_fixup), so it no longer matches its never-charged
	// neighbours; without one it drops VM_ACCOUNT and merges (whole-both).
	{name: "existing/anon-keeps-account", before: "aaPPcc", marked: "  ^^  ", after: "aaPPcc"},
}

// diagSetup installs before's letters and returns the address space and
// the VMA each letter became.
func diagSetup(t *testing.T, before string) (*AddressSpace, map[*VMA]byte) {
	t.Helper()
	as := New(Config{})
	rw := diagFlags(t, ProtRead|ProtWrite)
	ro := diagFlags(t, ProtRead)
	names := map[*VMA]byte{}
	for i := 0; i < len(before); {
		c, j := before[i], i
		for j < len(before) && before[j] == c {
			j++
		}
		if c != ' ' && c != '*' {
			start, end := uint64(diagBase+i*PageSize), uint64(diagBase+j*PageSize)
			in := Info{Start: start, End: end, Pgoff: start >> PageShift, Flags: rw}
			switch {
			case c >= 'N' && c <= 'Z':
				in.AnonVMA = newAnonVMA()
			case c >= 'a' && c <= 'z':
				in.Flags = ro
			}
			if err := as.Install(in); err != nil {
				t.Fatalf("install %c: %v", c, err)
			}
			names[as.vmaAt(start)] = c
		}
		i = j
	}
	return as, names
}

// diagFlags returns the flags a private anonymous mmap with prot gets.
func diagFlags(t *testing.T, prot int) VMFlags {
	as := New(Config{})
	defer as.Exit()
	if _, err := as.Mmap(diagBase, PageSize, prot, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
		t.Fatal(err)
	}
	in, _ := as.Lookup(diagBase)
	return in.Flags
}

// diagDraw draws the pages [0, n) of as as described above.
func diagDraw(as *AddressSpace, names map[*VMA]byte, n int) string {
	b := []byte(strings.Repeat(" ", n))
	digit := byte('1')
	created := map[*VMA]byte{}
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	for _, e := range treeForward(as.index.Load()) {
		c, ok := names[e.vma]
		if !ok {
			if c, ok = created[e.vma]; !ok {
				c = digit
				created[e.vma] = c
				digit++
			}
		}
		for a := e.start; a < e.end; a += PageSize {
			if i := int((a - diagBase) / PageSize); i >= 0 && i < n {
				b[i] = c
			}
		}
	}
	return string(b)
}

// diagApply runs the case's operation.
func diagApply(t *testing.T, as *AddressSpace, c diagCase) {
	t.Helper()
	if c.marked == "" {
		lo, hi := strings.IndexByte(c.before, '*'), strings.LastIndexByte(c.before, '*')+1
		if _, err := as.Mmap(uint64(diagBase+lo*PageSize), uint64((hi-lo)*PageSize), ProtRead|ProtWrite,
			MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
			t.Fatal(err)
		}
		return
	}
	lo, hi := strings.IndexByte(c.marked, '^'), strings.LastIndexByte(c.marked, '^')+1
	prot := ProtRead | ProtWrite
	if m := c.before[lo]; m < 'a' || m > 'z' {
		prot = ProtRead
	}
	if err := as.Mprotect(uint64(diagBase+lo*PageSize), uint64((hi-lo)*PageSize), prot); err != nil {
		t.Fatal(err)
	}
}

func TestMergeDiagrams(t *testing.T) {
	for _, c := range diagMergeCases {
		t.Run(c.name, func(t *testing.T) {
			as, names := diagSetup(t, c.before)
			defer as.Exit()
			diagApply(t, as, c)
			if got := diagDraw(as, names, len(c.before)); got != c.after {
				t.Errorf("\nbefore %q\nmarked %q\nafter  %q\nwant   %q", c.before, c.marked, got, c.after)
			}
			if err := as.checkInvariants(); err != nil {
				t.Error(err)
			}
			as.lock.ReadLock()
			defer as.lock.ReadUnlock()
			if err := as.unmergedNeighbours(nil); err != nil {
				t.Error(err)
			}
		})
	}
}
