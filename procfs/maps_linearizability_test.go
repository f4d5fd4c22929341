package procfs

// Linearizability of whole-maps reads, checked with porcupine: readers of
// one kind (one history per reader) read the maps file through OpenMaps,
// page by page with small buffers, while two writers mmap, munmap,
// mprotect and mremap a small window.
//
// A maps read is not atomic in Linux, so it is not one operation here.
// What a reader may see is procfs' contract (see the package doc), and
// the history states exactly that:
//
//   - a page of the locked reader is one operation: from the position the
//     page starts at (the end of the last VMA printed), its lines are the
//     next VMAs of one state, consecutive, and if the walk ended in that
//     page, none follows them in that state;
//   - a lockless reader's (snapshot, vmalock) line is one operation: it is
//     the first VMA ending above the position in some state, and the end
//     of the walk says that no VMA ended above the position in some state.
//
// Each such operation spans the read call that produced its page, and
// porcupine looks for one order of all of them and of the writes, within
// their stamps, in which every observation holds in the state it is
// placed at. So each line is a VMA of a state the history passed through
// during that read call, lines ascend, and no line skips a VMA that
// existed across the whole call (no gap where a VMA existed before and
// after a change); a VMA may still appear twice, old form then new form,
// since the position only moves to the end of the line printed.
//
// The specification's state is each writer's half of the window as its
// VMAs, taken from the writer's own locked view right after each of its
// changes (only it changes its half, and a never-mapped page separates the
// halves): the boundaries that merging and splitting give are mm's to get
// right (checked against the kernel elsewhere); what is checked here is
// what the readers show while the writers run.
//
// Every write is one range store, as Linux makes it (mmap, munmap,
// mprotect within one VMA, and mremap resizing in place): a lockless
// reader sees the state before it or after it. mprotect across VMAs is
// left out for the reason below (one store per VMA). mremap that moves a mapping is left out:
// it is several stores in one call (unmap the target, insert the moved
// VMA, remove the source), as in Linux, and a lockless reader may see the
// states in between, which this specification does not model (with it,
// a reader ending its walk between the first two stores fails the check,
// rightly for the specification and allowed by Linux).
//
// The halves are independent, so porcupine checks them apart (its
// partitions; together the search did not finish within a minute under
// the race detector). Each observation is recorded as what it says of
// each half: its lines in that half, and "nothing more there" when the
// read went past the half or ended. An observation that spans both halves
// (a locked page with lines in both; a line of the second half read from
// a position in the first, which says the first has nothing more) is so
// checked as two, each at its own point within the read call: slightly
// weaker than one point for both.
//
// Injected writer steps (one window in three) make reads and writes
// overlap even on one CPU. The planted-bug test turns off vmalock's gap
// re-lookup, makes writers publish each step of a range store
// (PublishEachStep), and turns off snapshot's validation, and requires
// porcupine to find each history illegal.

import (
	"bytes"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"specvma/internal/mmhook"
	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/vfs"
)

var (
	mlBig = flag.Bool("mapslin.big", false, "TestLinearizableMaps: histories ten times longer")
	mlViz = flag.String("mapslin.viz", "", "write the visualisation of TestMapsLinearizabilityCatchesPlanted to this HTML file (default: a file in the test's temporary directory)")
)

const (
	mlBase    = uint64(0x340000000000)
	mlHalf    = 8            // pages a writer owns
	mlPages   = 2*mlHalf + 1 // page mlHalf is never mapped, so no VMA spans both halves
	mlWriters = 2            // clients after the readers'
	mlWrites  = 2000         // operations per writer
	mlReads   = 250          // whole-file reads per reader
	mlFiles   = 2            // files 1..mlFiles; 0 is anonymous memory
	mlDev     = 0x79         // the files' device major
	mlProtAll = mm.ProtRead | mm.ProtWrite | mm.ProtExec
)

// mlVMA is one VMA of the state: its range and its maps line.
type mlVMA struct {
	start, end uint64
	line       string
}

// mlHalfState is the state of one writer's half: its VMAs in address
// order (immutable once recorded).
type mlHalfState struct {
	key  string // the lines joined: what Equal and Hash compare
	vmas []mlVMA
}

type mlKind uint8

const (
	mlWrite mlKind = iota // a writer's change: its half afterwards
	mlSeen                // what a read saw of one half
)

// mlInput is an operation on one half: a write, or an observation: from
// pos on, the half's VMAs that end above pos begin with lines, and if
// closed, there are no others.
type mlInput struct {
	kind   mlKind
	half   int
	after  *mlHalfState // mlWrite
	desc   string       // mlWrite: the call
	pos    uint64       // mlSeen
	lines  []string     // mlSeen
	closed bool         // mlSeen
	reader string       // mlSeen: which kind of read operation it came from, for the reader of a visualisation
}

var mlSpec = porcupine.Model{
	Init: func() any { return &mlHalfState{} },
	// The halves are independent: each writer changes only its own, and
	// a never-mapped page separates them. Each observation is recorded
	// split into what it says of each half, so the history is checked
	// half by half.
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		parts := make([][]porcupine.Operation, mlWriters)
		for _, o := range h {
			i := o.Input.(mlInput).half
			parts[i] = append(parts[i], o)
		}
		return parts
	},
	Step: func(st, in, _ any) (bool, any) {
		s, i := st.(*mlHalfState), in.(mlInput)
		if i.kind == mlWrite {
			return true, i.after
		}
		k := 0
		for k < len(s.vmas) && s.vmas[k].end <= i.pos {
			k++
		}
		for _, l := range i.lines {
			if k == len(s.vmas) || s.vmas[k].line != l {
				return false, s
			}
			k++
		}
		return !i.closed || k == len(s.vmas), s
	},
	Equal: func(a, b any) bool { return a.(*mlHalfState).key == b.(*mlHalfState).key },
	Hash: func(st any) uint64 {
		h := fnv.New64a()
		io.WriteString(h, st.(*mlHalfState).key)
		return h.Sum64()
	},
	DescribeOperation: func(in, _ any) string {
		i := in.(mlInput)
		if i.kind == mlWrite {
			return fmt.Sprintf("half %d: %s -> %d VMAs", i.half, i.desc, len(i.after.vmas))
		}
		end := ""
		if i.closed {
			end = ", then none"
		}
		return fmt.Sprintf("%s, half %d, from %#x: %q%s", i.reader, i.half, i.pos, i.lines, end)
	},
	DescribeState: func(st any) string { return strings.ReplaceAll(st.(*mlHalfState).key, "\n", "; ") },
}

// mlLineRange reads the range at the start of a maps line.
func mlLineRange(line string) (start, end uint64) {
	r, _, _ := strings.Cut(line, " ")
	s, e, _ := strings.Cut(r, "-")
	start, _ = strconv.ParseUint(s, 16, 64)
	end, _ = strconv.ParseUint(e, 16, 64)
	return start, end
}

func mlPageAddr(p int) uint64 { return mlBase + uint64(p)*mm.PageSize }

// mlWriter changes its half of the window. It knows which pages of it are
// mapped (nobody else writes there), so it only issues calls that must
// succeed.
type mlWriter struct {
	mu     sync.Mutex // one step at a time: its own loop's, or one injected by a reader
	t      *testing.T
	as     *mm.AddressSpace
	rec    *testsupport.LinRecorder
	client int
	half   int
	lo     int // first page
	rng    *rand.Rand
	mapped [mlHalf]bool
	last   *mlHalfState // the half after its last change
}

var mlProts = []int{mm.ProtRead, mm.ProtRead | mm.ProtExec, mm.ProtRead | mm.ProtWrite}

// step runs one call and records it; w.mu is held.
func (w *mlWriter) step() {
	r := w.rng
	p := r.IntN(mlHalf)
	n := 1 + r.IntN(min(4, mlHalf-p))
	addr, length := mlPageAddr(w.lo+p), uint64(n)*mm.PageSize
	var desc string
	var do func() error
	switch k := r.IntN(10); {
	case k < 4:
		file, prot, pgoff := r.IntN(mlFiles+1), mlProts[r.IntN(len(mlProts))], uint64(r.IntN(4))
		desc = fmt.Sprintf("mmap %#x+%d file %d pgoff %d prot %d", addr, n, file, pgoff, prot)
		do = func() error {
			var f *vfs.File
			flags := mm.MapPrivate | mm.MapFixed
			if file == 0 {
				flags |= mm.MapAnonymous
				pgoff = 0
			} else {
				ino := vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: mlDev}, Ino: uint64(file)})
				ino.SetSize(1 << 20)
				f = vfs.NewFile(fmt.Sprintf("/ml/%d", file), ino, vfs.ORdonly)
				defer f.Put() // the mapping keeps its own reference
			}
			_, err := w.as.Mmap(addr, length, prot, flags, f, pgoff*mm.PageSize)
			for i := range n {
				w.mapped[p+i] = err == nil
			}
			return err
		}
	case k < 6:
		desc = fmt.Sprintf("munmap %#x+%d", addr, n)
		do = func() error {
			for i := range n {
				w.mapped[p+i] = false
			}
			return w.as.Munmap(addr, length)
		}
	case k < 8 && len(w.last.vmas) > 0:
		// Within one VMA: mprotect over several is one store per VMA (in
		// Linux too), with states in between.
		v := w.last.vmas[r.IntN(len(w.last.vmas))]
		pages := int((v.end - v.start) / mm.PageSize)
		first := r.IntN(pages)
		n = 1 + r.IntN(pages-first)
		start := v.start + uint64(first)*mm.PageSize
		prot := mlProts[r.IntN(len(mlProts))]
		desc = fmt.Sprintf("mprotect %#x+%d prot %d", start, n, prot)
		do = func() error { return w.as.Mprotect(start, uint64(n)*mm.PageSize, prot) }
	case w.mapped[p] && len(w.last.vmas) > 0:
		// mremap in place, one range store: shrink a VMA by its last page,
		// or grow it over the unmapped page after it.
		v := w.last.vmas[r.IntN(len(w.last.vmas))]
		size := v.end - v.start
		grow := v.end < mlPageAddr(w.lo+mlHalf) && !w.mapped[(v.end-mlPageAddr(w.lo))/mm.PageSize]
		newSize := size - mm.PageSize
		if grow {
			newSize = size + mm.PageSize
		} else if size == mm.PageSize {
			newSize = size // no change: still a call that must succeed
		}
		desc = fmt.Sprintf("mremap %#x+%#x to %#x", v.start, size, newSize)
		do = func() error {
			first := int((v.start - mlPageAddr(w.lo)) / mm.PageSize)
			for i := range int(max(size, newSize) / mm.PageSize) {
				w.mapped[first+i] = uint64(i)*mm.PageSize < newSize
			}
			_, err := w.as.Mremap(v.start, size, newSize, 0, 0)
			return err
		}
	default:
		desc = fmt.Sprintf("munmap %#x+1", addr)
		do = func() error {
			w.mapped[p] = false
			return w.as.Munmap(addr, mm.PageSize)
		}
	}
	call := w.rec.Now()
	err := do()
	ret := w.rec.Now()
	if err != nil {
		w.t.Errorf("%s: %v", desc, err)
		return
	}
	// The half as it is now: only this writer changes it.
	after := &mlHalfState{}
	lo, hi := mlPageAddr(w.lo), mlPageAddr(w.lo+mlHalf)
	for _, line := range strings.Split(strings.TrimSuffix(Maps(w.as), "\n"), "\n") {
		if start, end := mlLineRange(line); start >= lo && end <= hi && line != "" {
			after.vmas = append(after.vmas, mlVMA{start, end, line})
			after.key += line + "\n"
		}
	}
	w.last = after
	w.rec.Add(w.client, mlInput{kind: mlWrite, half: w.half, after: after, desc: desc}, call, ret, nil)
}

// mlPageRec is one page a read produced: the stamps of the read call that
// filled it, and its text.
type mlPageRec struct {
	call, ret int64
	text      []byte
	copies    []int64 // vmalock: a stamp taken as each VMA was about to be copied (under its read lock)
}

// mlReadOnce reads the whole maps file with reader r through a buffer of
// a random small size, so that a read takes several pages, and records
// what it saw. For the vmalock reader, copies collects the stamps its
// BeforeLockedCopy hook takes.
func mlReadOnce(as *mm.AddressSpace, r Reader, client int, rec *testsupport.LinRecorder, rng *rand.Rand, copies *[]int64) {
	f := OpenMaps(as, r)
	buf := make([]byte, 60+rng.IntN(300))
	var pages []mlPageRec
	for {
		before := f.Stats.Pages
		*copies = (*copies)[:0]
		call := rec.Now()
		n, err := f.Read(buf)
		ret := rec.Now()
		if f.Stats.Pages != before { // this call filled a page (it only does when nothing is left over)
			pages = append(pages, mlPageRec{call: call, ret: ret, copies: slices.Clone(*copies)})
		}
		if n > 0 {
			pages[len(pages)-1].text = append(pages[len(pages)-1].text, buf[:n]...)
		}
		if err == io.EOF {
			break
		}
		if len(pages) > 8*mlPages { // a page holds at least one line, and the window has at most mlPages VMAs
			mlRunaway(r, pages)
			return
		}
		runtime.Gosched()
	}
	pos := uint64(0)
	for i, pg := range pages {
		var lines []string
		if t := bytes.TrimSuffix(pg.text, []byte("\n")); len(t) > 0 {
			lines = strings.Split(string(t), "\n")
		}
		ended := i == len(pages)-1 // the last fill ended the walk: later calls found nothing left
		if r == ReadLocked {
			// One page, one state: all its lines, and the end if it ended.
			mlSaw(rec, client, pg, pos, lines, ended, "page")
			if len(lines) > 0 {
				_, pos = mlLineRange(lines[len(lines)-1])
			}
			continue
		}
		// One line, one state; and the end of the walk. A vmalock line
		// has its own stamps: from the copy before it (or the call), to
		// the copy of its VMA, which it took under the VMA's read lock
		// after every check (the walk's page-full refusal copies one VMA
		// more than it prints).
		narrow := len(pg.copies) >= len(lines) && r == ReadVMALock
		call := pg.call
		for k, l := range lines {
			at := pg
			if narrow {
				at.call, at.ret = call, pg.copies[k]
				call = pg.copies[k]
			}
			mlSaw(rec, client, at, pos, []string{l}, false, "line")
			_, pos = mlLineRange(l)
		}
		if ended {
			at := pg
			at.call = call
			mlSaw(rec, client, at, pos, nil, true, "end")
		}
	}
}

// mlRunaway reports a read that did not end: the reader kind and its last
// pages. It panics: the history is not worth checking, and the reader's
// goroutine cannot fail the test.
func mlRunaway(r Reader, pages []mlPageRec) {
	var b strings.Builder
	for _, pg := range pages[len(pages)-4:] {
		fmt.Fprintf(&b, "page %q\n", pg.text)
	}
	panic(fmt.Sprintf("%s reader: %d pages and no end of file; the last ones:\n%s", r, len(pages), b.String()))
}

// mlSaw records that a read from pos on saw lines, then (if ended) nothing
// more, split into what that says of each half: the lines in it, and that
// it has nothing more when the read went past it or ended.
func mlSaw(rec *testsupport.LinRecorder, client int, pg mlPageRec, pos uint64, lines []string, ended bool, what string) {
	for half := range mlWriters {
		lo, hi := mlPageAddr(half*(mlHalf+1)), mlPageAddr(half*(mlHalf+1)+mlHalf)
		if pos >= hi {
			continue
		}
		in := mlInput{kind: mlSeen, half: half, pos: pos, closed: ended, reader: what}
		for _, l := range lines {
			switch start, _ := mlLineRange(l); {
			case start >= hi:
				in.closed = true // the read went past this half
			case start >= lo:
				in.lines = append(in.lines, l)
			}
		}
		if len(in.lines) > 0 || in.closed {
			rec.Add(client, in, pg.call, pg.ret, nil)
		}
	}
}

// mlHistory runs one reader of each kind in readers (at most one
// vmalock) against mlWriters writers and returns the history. With inject
// n > 0, one window in n runs a writer step: after vmalock's lookup,
// before its read lock; after snapshot's copy, before its validation;
// before any mmap read lock is taken (the locked reader's page, a
// fallback, a writer's own look at its half).
func mlHistory(t *testing.T, readers []Reader, h *mmhook.Hooks, inject uint32, scale int, seed uint64) []porcupine.Operation {
	t.Helper()
	as := mm.New(mm.Config{Test: h})
	defer as.Exit()
	rec := &testsupport.LinRecorder{}
	var writers []*mlWriter
	for i := range mlWriters {
		writers = append(writers, &mlWriter{t: t, as: as, rec: rec, client: len(readers) + i, half: i,
			lo: i * (mlHalf + 1), rng: rand.New(rand.NewPCG(seed, uint64(i))), last: &mlHalfState{}})
	}
	if inject > 0 {
		// A random choice, not a count: with a count, a snapshot retry
		// that meets the same number of windows every time (the copy, the
		// read lock that records the count again, the writer's own look at
		// its half) got a writer step every time and never ended. Nor does
		// an injected step inject another.
		var injecting atomic.Bool
		step := func() {
			if rand.IntN(int(inject)) != 0 || !injecting.CompareAndSwap(false, true) {
				return
			}
			if w := writers[rand.IntN(mlWriters)]; w.mu.TryLock() {
				w.step()
				w.mu.Unlock()
			}
			injecting.Store(false)
		}
		h.AfterNextLookup, h.AfterTryBegin, h.BeforeReadLock = step, step, step
	}
	// At most one vmalock reader, so that the hook's stamps are its own.
	var copies []int64
	h.BeforeLockedCopy = func() { copies = append(copies, rec.Now()) }
	// Readers are clients 0..len(readers)-1, writers the next ones.
	nr := len(readers)
	quota, rngs, own := make([]int, nr+mlWriters), make([]*rand.Rand, nr), make([][]int64, nr)
	for c := range quota {
		quota[c] = mlWrites * scale
		if c < nr {
			quota[c] = mlReads * scale
			rngs[c] = rand.New(rand.NewPCG(seed, uint64(100+c)))
		}
	}
	testsupport.RunClients(quota, func(c int) {
		if c < nr {
			stamps := &own[c]
			if readers[c] == ReadVMALock {
				stamps = &copies
			}
			mlReadOnce(as, readers[c], c, rec, rngs[c], stamps)
			return
		}
		w := writers[c-nr]
		w.mu.Lock()
		w.step()
		w.mu.Unlock()
	})
	return rec.Ops()
}

// TestLinearizableMaps: a history of one reader of each kind (locked,
// snapshot, vmalock) and two writers, 10,000 operations or so, satisfies
// the contract above; one window in three runs a writer step, so the
// lockless readers' checks have work on one CPU too. -mapslin.big makes
// the history ten times longer.
func TestLinearizableMaps(t *testing.T) {
	scale := 1
	if *mlBig {
		scale = 10
	}
	live, _, _ := vfs.LiveFiles()
	h := mlHistory(t, Readers(), &mmhook.Hooks{}, 3, scale, uint64(time.Now().UnixNano()))
	testsupport.RequireLinearizable(t, mlSpec, h, "maps", func(in any) bool { return in.(mlInput).kind == mlWrite })
	if now, _, _ := vfs.LiveFiles(); now != live {
		t.Errorf("live Files %d, %d before", now, live)
	}
}

// TestMapsLinearizabilityCatchesPlanted: the planted bugs. The vmalock
// reader without the gap re-lookup, or (with -mapslin.big) against writers
// that publish each step of a range store (beside a locked reader), and
// (with -mapslin.big) three snapshot readers without validation, with a writer step injected into
// every window,
// print lines of no state the history passed through; porcupine finds the
// history not linearizable and the visualisation is written to
// -mapslin.viz (or a temporary file) and its path logged.
func TestMapsLinearizabilityCatchesPlanted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		readers []Reader
		plant   func(*mmhook.Hooks)
		slow    bool // found within seconds, tens of them under the race detector: -mapslin.big only
	}{
		{"vmalock-no-gap-recheck", []Reader{ReadLocked, ReadVMALock}, func(h *mmhook.Hooks) { h.NoGapRecheck = true }, false},
		{"vmalock-publish-each-step", []Reader{ReadLocked, ReadVMALock}, func(h *mmhook.Hooks) { h.PublishEachStep = true }, true},
		{"snapshot-no-validate", []Reader{ReadSnapshot, ReadSnapshot, ReadSnapshot}, func(h *mmhook.Hooks) { h.NoValidate = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.slow && !*mlBig {
				t.Skip("slow to find (it needs a writer mid-store while a reader copies): run with -mapslin.big")
			}
			testsupport.UntilIllegal(t, mlSpec, *mlViz, "maps-"+tc.name, func(round int) []porcupine.Operation {
				hooks := &mmhook.Hooks{}
				tc.plant(hooks)
				return mlHistory(t, tc.readers, hooks, 1, 1, uint64(round))
			})
		})
	}
}
