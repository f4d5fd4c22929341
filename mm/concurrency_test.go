package mm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"specvma/vfs"
)

// Lockless readers against writers that churn file mappings, with VMA and
// File memory reused all the time.
//
// Ground truth: the window holds concFiles regions of concStride bytes.
// Writers of address space number `space` map logical file k (inode
// concInode(space, k), through any number of Files) only in region k, and
// only so that address a maps file offset a - concRegion(k). Every operation
// they run keeps that so (mmap at the matching offset, munmap, mprotect,
// mremap in place, moves out of the window and back), and nothing else is
// ever mapped in the window. So whatever a reader is told about an address
// in the window must fit the function: a wrong inode means it read a File
// (or a VMA) that was reused, a wrong offset means a torn VMA.

const (
	concBase    = uint64(0x300000000000)
	concFiles   = 6
	concStride  = 16 * PageSize
	concEnd     = concBase + concFiles*concStride
	concScratch = uint64(0x310000000000) // outside the window; one stride per writer
)

func concRegion(k int) uint64 { return concBase + uint64(k)*concStride }

func concInode(space, k int) *vfs.Inode {
	ino := vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: 0x77, Minor: uint32(space)}, Ino: uint64(100 + k)})
	ino.SetSize(1 << 30)
	return ino
}

func concOpen(space, k int) *vfs.File {
	return vfs.NewFile(fmt.Sprintf("/conc/%d/%d", space, k), concInode(space, k), vfs.ORdwr)
}

// checkAnswer is the checker: an answer a reader got for addr in address
// space number space must fit the ground truth.
func checkAnswer(space int, addr uint64, m Mapping, ok bool) error {
	if !ok {
		return nil // nothing mapped there is always possible
	}
	k := int((addr - concBase) / concStride)
	wantIno, wantOff := concInode(space, k), addr-concRegion(k)
	var errs []error
	if m.Inode != wantIno {
		got := "nil"
		if m.Inode != nil {
			got = fmt.Sprint(m.Inode.ID())
		}
		errs = append(errs, fmt.Errorf("inode %s, want %v (a reused File or VMA)", got, wantIno.ID()))
	}
	if m.Offset != wantOff {
		errs = append(errs, fmt.Errorf("offset %#x, want %#x (a torn VMA)", m.Offset, wantOff))
	}
	if addr < m.Start || addr >= m.End {
		errs = append(errs, fmt.Errorf("outside [%#x, %#x)", m.Start, m.End))
	} else if m.Start < concRegion(k) || m.End > concRegion(k)+concStride {
		errs = append(errs, fmt.Errorf("VMA [%#x, %#x) leaves region %d", m.Start, m.End, k))
	}
	if errs != nil {
		return fmt.Errorf("addr %#x: %w", addr, errors.Join(errs...))
	}
	return nil
}

func identity(m Mapping) (Mapping, bool) { return m, true }

// concWriter churns one address space.
type concWriter struct {
	as      *AddressSpace
	space   int
	rng     *rand.Rand
	open    [concFiles][]*vfs.File // Files this writer holds open, per region
	scratch uint64
	ops     int
}

func newConcWriter(as *AddressSpace, space, id int, seed uint64) *concWriter {
	w := &concWriter{as: as, space: space, rng: rand.New(rand.NewPCG(seed, uint64(id))),
		scratch: concScratch + uint64(id)*concStride}
	for k := range concFiles {
		w.open[k] = []*vfs.File{concOpen(space, k)}
	}
	return w
}

// file returns a File for region k and a function to call after using it.
// Half the time it is a fresh File that only the mapping will hold on to, so
// unmapping frees it at once; otherwise one the writer keeps open, often
// closing one and opening another first. Either way File memory is
// recycled constantly, across regions and address spaces.
func (w *concWriter) file(k int) (*vfs.File, func()) {
	if w.rng.IntN(2) == 0 {
		f := concOpen(w.space, k)
		return f, f.Put
	}
	fs := w.open[k]
	if w.rng.IntN(3) == 0 {
		if len(fs) > 1 || w.rng.IntN(2) == 0 {
			i := w.rng.IntN(len(fs))
			fs[i].Put()
			fs = append(fs[:i], fs[i+1:]...)
		}
		fs = append(fs, concOpen(w.space, k))
		w.open[k] = fs
	}
	return fs[w.rng.IntN(len(fs))], func() {}
}

func (w *concWriter) closeAll() {
	for k := range w.open {
		for _, f := range w.open[k] {
			f.Put()
		}
		w.open[k] = nil
	}
}

var concProts = []int{ProtRead, ProtRead | ProtExec, ProtRead | ProtWrite, ProtNone}

// step runs one operation that keeps the ground truth.
func (w *concWriter) step() {
	w.ops++
	as, r := w.as, w.rng
	k := r.IntN(concFiles)
	i := r.IntN(16)
	n := 1 + r.IntN(16-i)
	a, l := concRegion(k)+uint64(i)*PageSize, uint64(n)*PageSize
	prot := concProts[r.IntN(len(concProts))]
	typ := MapPrivate
	if r.IntN(2) == 0 {
		typ = MapShared
	}
	switch r.IntN(12) {
	case 0, 1, 2:
		f, done := w.file(k)
		_, _ = as.Mmap(a, l, prot, typ|MapFixed, f, uint64(i)*PageSize)
		done()
	case 3:
		f, done := w.file(k)
		if got, err := as.Mmap(a, l, prot, typ, f, uint64(i)*PageSize); err == nil && got != a {
			_ = as.Munmap(got, l) // placed elsewhere: outside the window, drop it
		}
		done()
	case 4:
		f, done := w.file(k)
		_, _ = as.Mmap(a, l, prot, typ|MapFixedNoReplace, f, uint64(i)*PageSize)
		done()
	case 5, 6:
		_ = as.Munmap(a, l)
	case 7:
		_ = as.Mprotect(a, l, prot)
	case 8: // shrink or grow in place, never past the region
		nl := uint64(1+r.IntN(16-i)) * PageSize
		_, _ = as.Mremap(a, l, nl, 0, 0)
	case 9: // grow, moving out of the window if it must
		nl := uint64(1+r.IntN(16-i)) * PageSize
		if got, err := as.Mremap(a, l, nl, MremapMayMove, 0); err == nil && got != a {
			_ = as.Munmap(got, nl)
		}
	default: // out to the scratch area and back
		_ = as.Munmap(w.scratch, concStride)
		flags := MremapMayMove | MremapFixed
		if r.IntN(3) == 0 {
			flags |= MremapDontUnmap
		}
		if _, err := as.Mremap(a, l, l, flags, w.scratch); err == nil {
			runtime.Gosched()
			_, _ = as.Mremap(w.scratch, l, l, MremapMayMove|MremapFixed, a)
		}
		_ = as.Munmap(w.scratch, concStride)
	}
}

// concResult collects what readers saw.
type concResult struct {
	mu       sync.Mutex
	errs     []string
	answered [numStrategies]int64
	why      [numStrategies][NumFallbacks]int64
	locked   int64 // lockVMA successes
	checks   int64
}

func (c *concResult) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 20 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// vmaSnap is what a VMA read lock must hold still.
type vmaSnap struct {
	start, end, pgoff, seq uint64
	flags                  VMFlags
	file                   *vfs.File
	inode                  *vfs.Inode
	mm                     *AddressSpace
	gen                    uint64
}

func snapVMA(v *VMA) vmaSnap {
	s := vmaSnap{start: v.Start(), end: v.End(), pgoff: v.Pgoff(), seq: v.lockSeq.Load(), flags: v.Flags(),
		file: v.File(), mm: v.mm.Load(), gen: v.gen.Load()}
	if s.file != nil {
		s.inode = s.file.Inode()
	}
	return s
}

// concReader resolves random window addresses with every strategy in turn
// and takes VMA read locks, until stop is set.
func concReader(as *AddressSpace, space int, seed uint64, stop *atomic.Bool, res *concResult) {
	r := rand.New(rand.NewPCG(seed, 99))
	var local concResult
	for i := 0; !stop.Load(); i++ {
		addr := concBase + r.Uint64N(concEnd-concBase)
		if i%5 == 4 {
			v, fail := as.lockVMA(addr)
			if fail != readOK {
				continue
			}
			s1 := snapVMA(v)
			if i%3 == 0 {
				runtime.Gosched() // give writers a chance to try
			}
			s2 := snapVMA(v)
			v.EndRead()
			local.locked++
			if s1 != s2 {
				res.fail("VMA changed under its read lock: %+v then %+v", s1, s2)
				continue
			}
			if s1.mm != as {
				res.fail("read-locked VMA of another address space")
				continue
			}
			m := Mapping{Start: s1.start, End: s1.end, File: s1.file, Inode: s1.inode,
				Offset: s1.pgoff<<PageShift + addr - s1.start}
			if err := checkAnswer(space, addr, m, true); err != nil {
				res.fail("lockVMA: %v", err)
			}
			continue
		}
		s := Strategy(i % int(numStrategies))
		m, ok, why := Resolve(as, addr, s, identity)
		local.checks++
		local.why[s][why]++
		if ok {
			local.answered[s]++
		}
		if err := checkAnswer(space, addr, m, ok); err != nil {
			res.fail("%s (fallback %s): %v", s, why, err)
		}
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	res.checks += local.checks
	res.locked += local.locked
	for s := range local.why {
		res.answered[s] += local.answered[s]
		for f := range local.why[s] {
			res.why[s][f] += local.why[s][f]
		}
	}
}

// widenedHooks yield inside the lockless windows (every 1 in `every`
// passes), so that writers land in them far more often than by chance.
func widenedHooks(every uint32, noValidate bool) *Hooks {
	var n atomic.Uint32
	yield := func() {
		if n.Add(1)%every == 0 {
			runtime.Gosched()
		}
	}
	return &Hooks{AfterTryBegin: yield, AfterLockSeqLoad: yield, AfterFileLoad: yield, NoValidate: noValidate}
}

// TestConcurrentResolve runs readers of every strategy and VMA read lockers
// against writers of two address spaces that share the VMA and File caches,
// for a bounded time; every answer must fit the ground truth, and every
// VMA and File must be freed at the end. One address space runs plain, the
// other with its lockless windows widened.
func TestConcurrentResolve(t *testing.T) {
	dur := 300 * time.Millisecond
	if testing.Short() {
		dur = 100 * time.Millisecond
	}
	res := runConcurrent(t, dur, []Config{{}, {Test: widenedHooks(4, false)}}, true)
	for _, e := range res.errs {
		t.Error(e)
	}
	for s := range numStrategies {
		if res.answered[s] == 0 {
			t.Errorf("%s never found a mapping", s)
		}
	}
}

// TestConcurrentResolveNoValidate: the same churn with validation dropped
// gives wrong answers that the checker catches, for mmseq and vmaseq alike.
// Besides the churn writers, the readers' own hooks run a writer step in one
// lockless window in four (injectedHooks), so writers land inside the
// windows whatever the scheduler does: on one CPU or a loaded machine as
// well. It runs rounds until both were caught (10 s at most).
func TestConcurrentResolveNoValidate(t *testing.T) {
	caught := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (caught["mmseq"] == 0 || caught["vmaseq"] == 0) {
		var injs []*injector
		cfgs := []Config{{}, {}}
		for i := range cfgs {
			inj := &injector{}
			injs = append(injs, inj)
			cfgs[i].Test = inj.hooks()
		}
		res := runConcurrent(t, 100*time.Millisecond, cfgs, false, func(spaces []*AddressSpace) func() {
			for i, inj := range injs {
				inj.w = newConcWriter(spaces[i], i, 100+i, uint64(time.Now().UnixNano()))
			}
			return func() {
				for _, inj := range injs {
					inj.w.closeAll()
				}
			}
		})
		for _, e := range res.errs {
			caught[strings.Fields(e)[0]]++
		}
	}
	t.Logf("wrong answers caught: %v", caught)
	if caught["mmseq"] == 0 || caught["vmaseq"] == 0 {
		t.Errorf("without validation the checker caught no wrong answer for mmseq or vmaseq: %v", caught)
	}
}

// injector runs writer steps from inside readers' lockless windows.
type injector struct {
	mu sync.Mutex // one injected step at a time; readers that find it busy go on
	w  *concWriter
	n  atomic.Uint32
}

// hooks returns NoValidate hooks that inject a step in one window in four.
func (inj *injector) hooks() *Hooks {
	step := func() {
		if inj.n.Add(1)%4 != 0 || inj.w == nil || !inj.mu.TryLock() {
			return
		}
		inj.w.step()
		inj.mu.Unlock()
	}
	return &Hooks{AfterTryBegin: step, AfterLockSeqLoad: step, AfterFileLoad: step, AfterStartLoad: step, NoValidate: true}
}

// runConcurrent runs two writers per address space (one per Config) and
// two readers each for dur, then unmaps everything, closes every File and
// checks that the VMA and File counts are back where they were. With
// logStats it logs what the readers saw.
func runConcurrent(t *testing.T, dur time.Duration, cfgs []Config, logStats bool, setup ...func([]*AddressSpace) func()) *concResult {
	t.Helper()
	base := takeCacheBaseline()

	var spaces []*AddressSpace
	for _, c := range cfgs {
		spaces = append(spaces, New(c))
	}
	var cleanups []func()
	for _, f := range setup {
		cleanups = append(cleanups, f(spaces))
	}
	var writers []*concWriter
	for s, as := range spaces {
		for id := range 2 {
			writers = append(writers, newConcWriter(as, s, 2*s+id, uint64(time.Now().UnixNano())))
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	res := &concResult{}
	for _, w := range writers {
		wg.Go(func() {
			for !stop.Load() {
				w.step()
				runtime.Gosched()
			}
		})
	}
	for i := range 2 * len(spaces) {
		s := i % len(spaces)
		wg.Go(func() { concReader(spaces[s], s, uint64(i)+uint64(time.Now().UnixNano()), &stop, res) })
	}
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()

	ops := 0
	for _, w := range writers {
		ops += w.ops
	}
	for s := range numStrategies {
		if !logStats {
			break
		}
		if s == 0 {
			t.Logf("%d writer ops, %d resolves, %d VMA read locks", ops, res.checks, res.locked)
		}
		var b []byte
		for f := range NumFallbacks {
			if n := res.why[s][f]; n > 0 {
				b = fmt.Appendf(b, " %s=%d", Fallback(f), n)
			}
		}
		t.Logf("%-8s answered %d:%s", s, res.answered[s], b)
	}

	for _, as := range spaces {
		if err := as.checkInvariants(); err != nil {
			t.Error(err)
		}
		if err := as.Munmap(PageSize, TaskSize-PageSize); err != nil {
			t.Fatal(err)
		}
		if n := as.MapCount(); n != 0 {
			t.Errorf("%d VMAs left after unmapping everything", n)
		}
	}
	for _, w := range writers {
		w.closeAll()
	}
	for _, f := range cleanups {
		f()
	}
	base.CheckCaches(t)
	return res
}

// hookCase maps file 1 (space 1) at region 1 through a File whose only
// reference the VMA holds, and returns the address space and an address in
// the mapping.
func hookCase(t *testing.T, h *Hooks) (*AddressSpace, uint64, *vfs.File) {
	t.Helper()
	as := New(Config{Test: h})
	f := concOpen(1, 1)
	if _, err := as.Mmap(concRegion(1), 4*PageSize, ProtRead|ProtExec, MapPrivate|MapFixed, f, 0); err != nil {
		t.Fatal(err)
	}
	f.Put()
	return as, concRegion(1) + 2*PageSize + 0x10, f
}

// replaceFile is the writer forced into a reader's window: unmap file 1
// (freeing its VMA and File), open file 3 (reusing the File's memory) and,
// with remap, map it at its own region (reusing the VMA's memory too).
func replaceFile(t *testing.T, as *AddressSpace, old *vfs.File, remap bool) *vfs.File {
	t.Helper()
	v := as.findRCU(concRegion(1))
	if err := as.Munmap(concRegion(1), 4*PageSize); err != nil {
		t.Fatal(err)
	}
	nf := concOpen(1, 3)
	if nf != old {
		t.Fatal("the File's memory was not reused: the test cannot force the hazard")
	}
	if remap {
		if _, err := as.Mmap(concRegion(3)+4*PageSize, 8*PageSize, ProtRead, MapPrivate|MapFixed, nf, 4*PageSize); err != nil {
			t.Fatal(err)
		}
		if as.findRCU(concRegion(3)+4*PageSize) != v {
			t.Fatal("the VMA's memory was not reused")
		}
	}
	return nf
}

// TestResolveValidationMatters forces a writer into each lockless window
// with the hooks. With validation the answer fits the ground truth and the
// fallback says why; with NoValidate the same checker catches a wrong
// answer: the checks are what make the lockless paths right.
func TestResolveValidationMatters(t *testing.T) {
	cases := []struct {
		name  string
		s     Strategy
		hook  func(h *Hooks, f func())
		remap bool
		why   Fallback
	}{
		{"mmseq/file-load/reused-file", MMSeq, func(h *Hooks, f func()) { h.AfterFileLoad = f }, false, SeqChanged},
		{"mmseq/file-load/torn-vma", MMSeq, func(h *Hooks, f func()) { h.AfterFileLoad = f }, true, SeqChanged},
		{"vmaseq/file-load/reused-file", VMASeq, func(h *Hooks, f func()) { h.AfterFileLoad = f }, false, VMAChanged},
		{"vmaseq/lockseq-load/reused-file", VMASeq, func(h *Hooks, f func()) { h.AfterLockSeqLoad = f }, false, VMAChanged},
	}
	base := takeCacheBaseline()
	for _, c := range cases {
		for _, noValidate := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/novalidate=%v", c.name, noValidate), func(t *testing.T) {
				h := &Hooks{NoValidate: noValidate}
				as, addr, f := hookCase(t, h)
				var nf *vfs.File
				c.hook(h, func() {
					if nf == nil {
						nf = replaceFile(t, as, f, c.remap)
					}
				})
				m, ok, why := Resolve(as, addr, c.s, identity)
				if nf == nil {
					t.Fatal("the hook never ran")
				}
				err := checkAnswer(1, addr, m, ok)
				if noValidate {
					if why != FastPath || err == nil {
						t.Fatalf("without validation: ok=%v why=%s, checker: %v; want a wrong answer on the fast path", ok, why, err)
					}
					t.Logf("caught: %v", err)
				} else {
					if err != nil {
						t.Fatalf("with validation: %v", err)
					}
					if ok || why != c.why {
						t.Fatalf("with validation: ok=%v why=%s, want nothing mapped after fallback %s", ok, why, c.why)
					}
				}
				_ = as.Munmap(PageSize, TaskSize-PageSize)
				nf.Put()
			})
		}
	}
	base.CheckCaches(t)
}

// TestResolveAfterTryBegin: a writer between mmseq's lookup and its retry
// check (the AfterTryBegin hook) makes it fall back, and the answer is the
// one the locked path gives now; without validation the stale answer comes
// back from the fast path.
func TestResolveAfterTryBegin(t *testing.T) {
	for _, noValidate := range []bool{false, true} {
		h := &Hooks{NoValidate: noValidate}
		as, addr, f := hookCase(t, h)
		var nf *vfs.File
		h.AfterTryBegin = func() {
			if nf == nil {
				nf = replaceFile(t, as, f, true)
			}
		}
		m, ok, why := Resolve(as, addr, MMSeq, identity)
		locked, lok, _ := Resolve(as, addr, Locked, identity)
		switch {
		case noValidate && (why != FastPath || !ok || lok):
			t.Errorf("without validation: ok=%v why=%s; want the stale answer from the fast path", ok, why)
		case !noValidate && (why != SeqChanged || ok != lok || m != locked):
			t.Errorf("with validation: ok=%v why=%s, locked ok=%v; want the locked answer after seq_changed", ok, why, lok)
		}
		_ = as.Munmap(PageSize, TaskSize-PageSize)
		nf.Put()
	}
}

// TestVMASeqNeedsDetachCheck: a reader that walked a tree version from
// before an munmap finds the freed VMA; its vm_lock_seq is from the
// munmap's write hold, which has ended, so without the attachment check the
// vmaseq reader accepts the stale VMA and reads its File, whose memory now
// belongs to another file.
func TestVMASeqNeedsDetachCheck(t *testing.T) {
	for _, noDetach := range []bool{false, true} {
		h := &Hooks{NoDetachCheck: noDetach}
		as, addr, f := hookCase(t, h)
		stale := as.treeVersion()
		nf := replaceFile(t, as, f, false)
		m, ok, why := resolveVMASeqFrom(as, stale, addr, identity)
		err := checkAnswer(1, addr, m, ok)
		if noDetach {
			if why != FastPath || err == nil {
				t.Errorf("without the detach check: ok=%v why=%s checker=%v; want a wrong answer", ok, why, err)
			} else {
				t.Logf("caught: %v", err)
			}
		} else if err != nil || ok || why != VMAChanged {
			t.Errorf("with the detach check: ok=%v why=%s checker=%v; want fallback vma_changed and nothing mapped", ok, why, err)
		}
		_ = as.Munmap(PageSize, TaskSize-PageSize)
		nf.Put()
	}
}

// TestVMALockStable: while a VMA is read-locked, a writer that wants to
// change it waits; the reader sees the same fields before and after, and the
// writer's change lands only after EndRead.
func TestVMALockStable(t *testing.T) {
	as, addr, _ := hookCase(t, &Hooks{})
	v, fail := as.lockVMA(addr)
	if fail != readOK {
		t.Fatalf("lockVMA: %s", fail)
	}
	s1 := snapVMA(v)
	done := make(chan error)
	go func() { done <- as.Mprotect(concRegion(1), PageSize, ProtRead) }() // splits v
	select {
	case err := <-done:
		t.Fatalf("mprotect finished (%v) while the VMA was read-locked", err)
	case <-time.After(20 * time.Millisecond):
	}
	if s2 := snapVMA(v); s1 != s2 {
		t.Fatalf("VMA changed under its read lock: %+v then %+v", s1, s2)
	}
	if _, fail := as.lockVMA(addr); fail != readWriteLocked {
		t.Fatalf("a second reader got %s while a writer waits, want write_locked", fail)
	}
	v.EndRead()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := v.Start(); got != concRegion(1)+PageSize && got != concRegion(1) {
		t.Fatalf("after the split the VMA starts at %#x", got)
	}
	if err := as.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	_ = as.Munmap(PageSize, TaskSize-PageSize)
}

// TestVMASeqCrossMMReuse: vmaseq validates a VMA by its vm_lock_seq, but
// the value stored there comes from whichever address space last
// write-locked the VMA. A VMA freed by address space 2 and reused by address
// space 1 at a moment when 1's sequence count equals the value 2 left in it
// passes the mm, attachment and vm_lock_seq rechecks although the reader
// read it during its life in address space 2. Each address space's count is
// 64 bits and never wraps; the collision is between two different counters.
// The reader here is stopped twice: after its tree walk (it walked a
// version from before the VMA left address space 1) and in find, after its
// reads and before its recheck. The generation recheck (the VMA's memory was
// handed out again) catches it; without it (NoGenerationCheck) the answer
// is address space 2's mapping.
func TestVMASeqCrossMMReuse(t *testing.T) {
	for _, noGen := range []bool{false, true} {
		t.Run(fmt.Sprintf("nogeneration=%v", noGen), func(t *testing.T) { crossMMReuse(t, noGen) })
	}
}

func crossMMReuse(t *testing.T, noGen bool) {
	as1 := New(Config{Test: &Hooks{NoGenerationCheck: noGen}})
	as2 := New(Config{})
	region, addr := concRegion(1), concRegion(1)+2*PageSize+0x10
	mapFile := func(as *AddressSpace, space int) {
		f := concOpen(space, 1)
		if _, err := as.Mmap(region, 4*PageSize, ProtRead|ProtExec, MapPrivate|MapFixed, f, 0); err != nil {
			t.Error(err)
		}
		f.Put()
	}
	defer func() {
		_ = as1.Munmap(PageSize, TaskSize-PageSize)
		_ = as2.Munmap(PageSize, TaskSize-PageSize)
	}()
	mapFile(as1, 1)
	v := as1.findRCU(addr)
	stale := as1.treeVersion()
	if err := as1.Munmap(region, 4*PageSize); err != nil {
		t.Fatal(err)
	}
	// Address space 2, its count ahead of 1's, maps the same range and gets v.
	for as2.lock.Seq() < as1.lock.Seq()+10 {
		as2.lock.WriteLock()
		as2.lock.WriteUnlock()
	}
	mapFile(as2, 2)
	if as2.findRCU(addr) != v {
		t.Fatal("address space 2 did not reuse the VMA")
	}
	lockSeq := v.lockSeq.Load()

	armed, planned := true, false
	find := func(m Mapping) (Mapping, bool) {
		if !armed {
			return m, true // the locked fallback's call
		}
		armed = false
		// Preempted after reading v in its address-space-2 life: 2 unmaps
		// it, 1 catches up to the value 2 left in vm_lock_seq and maps
		// file 1 again, getting v back.
		if err := as2.Munmap(region, 4*PageSize); err != nil {
			t.Error(err)
		}
		for as1.lock.Seq()+1 < lockSeq {
			as1.lock.WriteLock()
			as1.lock.WriteUnlock()
		}
		mapFile(as1, 1)
		planned = as1.findRCU(addr) == v && v.lockSeq.Load() == lockSeq
		return m, true
	}
	m, ok, why := resolveVMASeqFrom(as1, stale, addr, find)
	if !planned {
		t.Fatal("setup: reuse in address space 1 did not happen as planned")
	}
	err := checkAnswer(1, addr, m, ok)
	if noGen {
		if err == nil || why != FastPath {
			t.Errorf("without the generation check: ok=%v why=%s checker=%v; want address space 2's mapping", ok, why, err)
		} else {
			t.Logf("caught: %v", err)
		}
	} else if err != nil || !ok || why != VMAChanged {
		t.Errorf("vmaseq: ok=%v why=%s checker=%v; want fallback vma_changed and file 1's mapping", ok, why, err)
	}
}
