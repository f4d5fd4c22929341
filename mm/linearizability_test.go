package mm

// Linearizability of the lockless readers, checked with porcupine: clients
// run Resolve (one strategy per history) against writers that mmap,
// munmap, mprotect and mremap a small window, each operation stamped with
// a global counter at call and return; porcupine then looks for an order
// of the operations, consistent with those intervals, in which a small
// sequential specification of the window (linSpec) gives every output
// that was observed.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"specvma/internal/testsupport"
	"specvma/vfs"
)

var linViz = flag.String("linviz", "", "write the porcupine visualisation of TestLinearizabilityCatchesNoValidate to this HTML file (default: a file in the test's temporary directory)")

const (
	linBase    = uint64(0x320000000000)
	linPages   = 16 // the window; writer w owns pages [w*linHalf, (w+1)*linHalf)
	linHalf    = linPages / 2
	linFiles   = 3
	linReaders = 3
	linWriters = 2
	linQuota   = 2000 // operations per client: 10,000 per history
)

// linPage is what one page of the window maps: file 0 is nothing.
type linPage struct{ file, pgoff, prot uint8 }

// linState is the specification's state: the window, page by page.
type linState [linPages]linPage

type linKind uint8

const (
	linRead linKind = iota
	linMmap
	linMunmap
	linMprotect
	linMremap
)

var linKindNames = [...]string{"read", "mmap", "munmap", "mprotect", "mremap"}

type linInput struct {
	kind              linKind
	page, n, to       int
	file, pgoff, prot uint8
}

type linOutput struct {
	failed bool    // a write failed
	seen   linPage // what a read saw
}

const linGarbage = 255 // a file no writer maps: a reused File, or a torn range

// linSpec is the sequential specification.
var linSpec = porcupine.Model{
	Init: func() any { return linState{} },
	Step: func(st, in, out any) (bool, any) {
		s, i, o := st.(linState), in.(linInput), out.(linOutput)
		switch i.kind {
		case linRead:
			return o.seen == s[i.page], s
		case linMmap:
			for p := i.page; p < i.page+i.n; p++ {
				s[p] = linPage{i.file, i.pgoff + uint8(p-i.page), i.prot}
			}
		case linMunmap:
			for p := i.page; p < i.page+i.n; p++ {
				s[p] = linPage{}
			}
		case linMprotect:
			for p := i.page; p < i.page+i.n; p++ {
				if s[p].file == 0 {
					return false, s // the writers only protect mapped ranges
				}
				s[p].prot = i.prot
			}
		case linMremap:
			if s[i.page].file == 0 {
				return false, s
			}
			s[i.to], s[i.page] = s[i.page], linPage{}
		}
		return !o.failed, s
	},
	Equal: func(a, b any) bool { return a.(linState) == b.(linState) },
	Hash: func(st any) uint64 {
		s := st.(linState)
		h := uint64(14695981039346656037)
		for _, p := range s {
			h = (h ^ uint64(p.file)<<16 ^ uint64(p.pgoff)<<8 ^ uint64(p.prot)) * 1099511628211
		}
		return h
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(linInput), out.(linOutput)
		switch i.kind {
		case linRead:
			return fmt.Sprintf("read page %d -> %s", i.page, o.seen)
		case linMmap:
			return fmt.Sprintf("mmap pages %d+%d file %d pgoff %d prot %d -> failed=%v", i.page, i.n, i.file, i.pgoff, i.prot, o.failed)
		case linMremap:
			return fmt.Sprintf("mremap page %d to %d -> failed=%v", i.page, i.to, o.failed)
		}
		return fmt.Sprintf("%s pages %d+%d prot %d -> failed=%v", linKindNames[i.kind], i.page, i.n, i.prot, o.failed)
	},
	DescribeState: func(st any) string {
		var b strings.Builder
		for i, p := range st.(linState) {
			if p.file != 0 {
				fmt.Fprintf(&b, "%d:%s ", i, p)
			}
		}
		return b.String()
	},
}

func (p linPage) String() string {
	if p.file == 0 {
		return "-"
	}
	return fmt.Sprintf("f%d@%d/%d", p.file, p.pgoff, p.prot)
}

var linProts = []uint8{uint8(ProtRead), uint8(ProtRead | ProtExec), uint8(ProtRead | ProtWrite)}

func linInode(k uint8) *vfs.Inode {
	ino := vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: 0x78}, Ino: uint64(k)})
	ino.SetSize(1 << 20)
	return ino
}

// linWriter changes its half of the window. It knows that half's state
// exactly (nobody else writes there), so it only issues operations whose
// outcome the specification defines, and each must succeed.
type linWriter struct {
	mu     sync.Mutex // one step at a time: its own loop, or one injected by a reader's hook
	t      *testing.T
	as     *AddressSpace
	rec    *testsupport.LinRecorder
	client int
	lo     int
	rng    *rand.Rand
	state  [linHalf]linPage
}

// step runs one operation; w.mu is held.
func (w *linWriter) step() {
	r := w.rng
	in := linInput{page: w.lo + r.IntN(linHalf)}
	rel := in.page - w.lo
	mapped := func(p int) bool { return w.state[p-w.lo].file != 0 }
	switch k := r.IntN(10); {
	case k < 4:
		in.kind, in.n = linMmap, 1+r.IntN(min(4, linHalf-rel))
		in.file, in.pgoff, in.prot = uint8(1+r.IntN(linFiles)), uint8(r.IntN(8)), linProts[r.IntN(len(linProts))]
	case k < 6:
		in.kind, in.n = linMunmap, 1+r.IntN(min(4, linHalf-rel))
	case k < 8 && mapped(in.page):
		in.kind, in.n, in.prot = linMprotect, 1, linProts[r.IntN(len(linProts))]
		for in.page+in.n < w.lo+linHalf && mapped(in.page+in.n) && r.IntN(2) == 0 {
			in.n++
		}
	case mapped(in.page):
		in.kind, in.to = linMremap, w.lo+r.IntN(linHalf)
		if in.to == in.page {
			in.to = w.lo + (rel+1)%linHalf
		}
	default:
		in.kind, in.n = linMunmap, 1
	}
	addr := func(p int) uint64 { return linBase + uint64(p)*PageSize }
	call := w.rec.Now()
	var err error
	switch in.kind {
	case linMmap:
		f := vfs.NewFile(fmt.Sprintf("/lin/%d", in.file), linInode(in.file), vfs.ORdonly)
		_, err = w.as.Mmap(addr(in.page), uint64(in.n)*PageSize, int(in.prot), MapPrivate|MapFixed, f, uint64(in.pgoff)*PageSize)
		f.Put() // the mapping holds the only reference: unmapping frees the File
	case linMunmap:
		err = w.as.Munmap(addr(in.page), uint64(in.n)*PageSize)
	case linMprotect:
		err = w.as.Mprotect(addr(in.page), uint64(in.n)*PageSize, int(in.prot))
	case linMremap:
		_, err = w.as.Mremap(addr(in.page), PageSize, PageSize, MremapMayMove|MremapFixed, addr(in.to))
	}
	w.rec.Record(w.client, in, call, linOutput{failed: err != nil})
	if err != nil {
		w.t.Errorf("%s: %v", linSpec.DescribeOperation(in, linOutput{}), err)
		return
	}
	// Follow the specification on the half's own copy.
	var s linState
	copy(s[w.lo:], w.state[:])
	_, ns := linSpec.Step(s, in, linOutput{})
	ns2 := ns.(linState)
	copy(w.state[:], ns2[w.lo:w.lo+linHalf])
}

// linResolve resolves page p's address with strategy s and describes the answer.
func linResolve(as *AddressSpace, p int, s Strategy, inodes map[*vfs.Inode]uint8) linPage {
	addr := linBase + uint64(p)*PageSize + 0x10
	m, ok, _ := Resolve(as, addr, s, identity)
	if !ok {
		return linPage{}
	}
	seen := linPage{file: inodes[m.Inode], pgoff: uint8(m.Offset >> PageShift),
		prot: uint8(m.Flags & (VMRead | VMWrite | VMExec))}
	if seen.file == 0 || addr < m.Start || addr >= m.End || m.Offset&(PageSize-1) != 0x10 {
		seen.file = linGarbage
	}
	return seen
}

// linHistory runs linReaders readers with strategy s and linWriters
// writers, linQuota operations each, and returns the history. With inject
// n > 0, a reader runs a writer step in one lockless window in n.
func linHistory(t *testing.T, s Strategy, hooks *Hooks, inject uint32, seed uint64) []porcupine.Operation {
	t.Helper()
	as := New(Config{Test: hooks})
	defer as.Exit()
	rec := &testsupport.LinRecorder{}
	inodes := map[*vfs.Inode]uint8{}
	for k := uint8(1); k <= linFiles; k++ {
		inodes[linInode(k)] = k
	}
	var writers []*linWriter
	for w := range linWriters {
		writers = append(writers, &linWriter{t: t, as: as, rec: rec, client: linReaders + w,
			lo: w * linHalf, rng: rand.New(rand.NewPCG(seed, uint64(w)))})
	}
	if inject > 0 {
		// A writer step from inside the reader's window (taking turns
		// between the writers; skipped when that writer is busy).
		var n atomic.Uint32
		step := func() {
			i := n.Add(1)
			if i%inject != 0 {
				return
			}
			if w := writers[i/inject%linWriters]; w.mu.TryLock() {
				w.step()
				w.mu.Unlock()
			}
		}
		// Between the loads of vm_start and vm_pgoff, a write that moves
		// or reuses the VMA tears the answer; the others are the windows
		// each strategy's validation covers.
		hooks.AfterStartLoad = step
		if inject > 1 {
			hooks.AfterTryBegin, hooks.AfterLockSeqLoad, hooks.BeforeVMARef = step, step, step
		}
	}
	// Readers are clients 0..linReaders-1, writers the next ones.
	quota, rngs := make([]int, linReaders+linWriters), make([]*rand.Rand, linReaders)
	for c := range quota {
		quota[c] = linQuota
	}
	for c := range rngs {
		rngs[c] = rand.New(rand.NewPCG(seed, uint64(100+c)))
	}
	testsupport.RunClients(quota, func(c int) {
		if c >= linReaders {
			w := writers[c-linReaders]
			w.mu.Lock()
			w.step()
			w.mu.Unlock()
			return
		}
		p := rngs[c].IntN(linPages)
		call := rec.Now()
		seen := linResolve(as, p, s, inodes)
		rec.Record(c, linInput{kind: linRead, page: p}, call, linOutput{seen: seen})
	})
	return rec.Ops()
}

// TestLinearizableResolve: for every strategy, a 10,000-operation history
// of three readers and two writers is linearizable with respect to linSpec;
// one lockless window in three runs a writer step inside it, so validation
// has failures to catch on one CPU too.
func TestLinearizableResolve(t *testing.T) {
	for _, s := range Strategies() {
		t.Run(s.String(), func(t *testing.T) {
			live, _, _ := vfs.LiveFiles()
			h := linHistory(t, s, &Hooks{}, 3, uint64(time.Now().UnixNano()))
			testsupport.RequireLinearizable(t, linSpec, h, "resolve-"+s.String(), func(in any) bool { return in.(linInput).kind != linRead })
			if now, _, _ := vfs.LiveFiles(); now != live {
				t.Errorf("live Files %d, %d before", now, live)
			}
		})
	}
}

// TestLinearizabilityCatchesNoValidate: the planted bug. With validation
// switched off and writer steps injected into the readers' windows, mmseq
// and vmaseq readers return torn or reused mappings, and porcupine finds
// the history not linearizable. The visualisation of the last one found
// is written to -linviz (or a temporary file) and its path logged.
func TestLinearizabilityCatchesNoValidate(t *testing.T) {
	for _, s := range []Strategy{MMSeq, VMASeq} {
		t.Run(s.String(), func(t *testing.T) {
			testsupport.UntilIllegal(t, linSpec, *linViz, "linearizability-"+s.String(), func(round int) []porcupine.Operation {
				return linHistory(t, s, &Hooks{NoValidate: true}, 1, uint64(round))
			})
		})
	}
}
