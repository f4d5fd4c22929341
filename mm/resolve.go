package mm

import (
	"specvma/internal/mmhook"
	"specvma/vfs"
)

// Resolving an address to the file page it maps, with or without the mmap
// lock: the path a uprobe breakpoint takes (handle_swbp) and the one a
// profiler's symbolizer takes. See doc.go for each protocol's argument.

// Strategy picks how Resolve reads the address space.
type Strategy int

// The resolution strategies.
const (
	// Locked takes the mmap read lock (Linux before 6.14).
	Locked Strategy = iota
	// MMSeq speculates on the mm-wide sequence count
	// (find_active_uprobe_speculative, merged in 6.14).
	MMSeq
	// VMASeq validates the one VMA's vm_lock_seq (the per-VMA alternative
	// proposed in the review thread, with the attachment check it needs).
	VMASeq
	// VMALock takes the VMA read lock as the page-fault path does
	// (lock_vma_under_rcu).
	VMALock
	numStrategies
)

var strategyNames = [...]string{"locked", "mmseq", "vmaseq", "vmalock"}

func (s Strategy) String() string { return strategyNames[s] }

// Strategies lists every strategy.
func Strategies() []Strategy { return []Strategy{Locked, MMSeq, VMASeq, VMALock} }

// ParseStrategy turns a name back into a Strategy.
func ParseStrategy(name string) (Strategy, bool) {
	for i, n := range strategyNames {
		if n == name {
			return Strategy(i), true
		}
	}
	return 0, false
}

// Fallback says why a lockless attempt gave way to the locked path.
type Fallback int

// Fallback reasons.
const (
	FastPath   Fallback = iota // no fallback: the lockless path answered
	SeqBusy                    // a writer held the mmap lock (try_begin failed)
	SeqChanged                 // the mm sequence moved during the attempt
	VMALocked                  // the VMA was write-locked
	VMAChanged                 // the VMA's vm_lock_seq moved, or it was detached or reused
	NoVMA                      // no VMA at the address in the version read
	NoFile                     // anonymous memory: nothing lockless to find
	Miss                       // the caller's lookup found nothing
	NumFallbacks
)

var fallbackNames = [...]string{"fast_path", "seq_busy", "seq_changed", "vma_locked",
	"vma_changed", "no_vma", "no_file", "miss"}

func (f Fallback) String() string { return fallbackNames[f] }

// Mapping is what an address resolves to.
type Mapping struct {
	Start, End uint64
	Flags      VMFlags
	File       *vfs.File  // nil for anonymous memory
	Inode      *vfs.Inode // nil for anonymous memory
	Offset     uint64     // byte offset of the address in the file
}

// Resolve maps addr to its file page with strategy s and hands it to find,
// which looks up what the caller keeps per file page (a uprobe, a symbol
// table) and reports whether it found anything.
//
// The find contract: find must not block and must not take any
// address-space lock (an mmap lock, of this address space or another), nor
// call anything that does (Mmap, Munmap, Lookup, Resolve ...). It runs
// under the VMA read lock (vmalock) or the mmap read lock (locked, and
// every fallback): a writer of this address space waits for it while
// readers queue behind the writer, so a find that takes the mmap lock
// deadlocks. Tests can set mmhook.Hooks.CheckFind to turn that deadlock into a
// panic. On the lockless paths find may be shown a Mapping that is stale
// or torn, built from a VMA or File that has since been reused: it must
// only read, and its result is returned only once the read is validated. Any failure falls back to the
// mmap read lock, where find sees a stable Mapping; the Fallback says why
// (FastPath when none was needed). ok is false when nothing is mapped at
// addr or find found nothing.
func Resolve[R any](as *AddressSpace, addr uint64, s Strategy, find func(Mapping) (R, bool)) (r R, ok bool, why Fallback) {
	r, ok, why, _ = resolve(as, addr, s, find, false)
	return r, ok, why
}

// ResolveOrTrap is Resolve for a task that hit a breakpoint: when nothing
// is found, trap reports whether a breakpoint is still at addr, read under
// the same mmap read lock hold as the locked lookup (find_active_uprobe_rcu
// and is_trap_at_addr): a writer that removes one breakpoint and installs
// another cannot slip between the two.
func ResolveOrTrap[R any](as *AddressSpace, addr uint64, s Strategy, find func(Mapping) (R, bool)) (r R, ok bool, why Fallback, trap bool) {
	return resolve(as, addr, s, find, true)
}

func resolve[R any](as *AddressSpace, addr uint64, s Strategy, find func(Mapping) (R, bool), wantTrap bool) (r R, ok bool, why Fallback, trap bool) {
	if h := as.hooks(); h != nil && h.CheckFind {
		find = guardFind(h, find)
	}
	switch s {
	case MMSeq:
		r, why = resolveMMSeq(as, addr, find)
	case VMASeq:
		r, why = resolveVMASeq(as, addr, find)
	case VMALock:
		r, why = resolveVMALock(as, addr, find)
	default:
		r, ok, trap = resolveLocked(as, addr, find, wantTrap)
		return r, ok, FastPath, trap
	}
	if why == FastPath {
		return r, true, FastPath, false
	}
	r, ok, trap = resolveLocked(as, addr, find, wantTrap)
	return r, ok, why, trap
}

// mappingOf reads v's fields for addr. On the lockless paths the caller
// validates afterwards and passes its hooks (h), which mark the windows
// between the loads; the locked path passes nil.
func mappingOf(v *VMA, addr uint64, h *mmhook.Hooks) (Mapping, bool) {
	f := v.file.Load() // READ_ONCE(vma->vm_file): the File may be reused under us
	if f == nil {
		return Mapping{}, false
	}
	if h != nil && h.AfterFileLoad != nil {
		h.AfterFileLoad()
	}
	start := v.start.Load()
	if h != nil && h.AfterStartLoad != nil {
		h.AfterStartLoad()
	}
	return Mapping{
		Start: start, End: v.end.Load(), Flags: VMFlags(v.flags.Load()),
		File: f, Inode: f.Inode(),
		Offset: v.pgoff.Load()<<PageShift + (addr - start),
	}, true
}

func resolveLocked[R any](as *AddressSpace, addr uint64, find func(Mapping) (R, bool), wantTrap bool) (r R, ok bool, trap bool) {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	if e, found := as.index.Load().lookup(addr); found {
		if m, hasFile := mappingOf(e.vma, addr, nil); hasFile {
			if r, ok = find(m); ok {
				return r, true, false
			}
		}
	}
	if wantTrap {
		_, trap = as.bpTable()[addr]
	}
	return r, false, trap
}

// resolveMMSeq: begin on an even mm sequence, walk the tree, read vm_file
// once, compute the offset, look up, and keep the result only if the
// sequence did not move. Any writer of this address space moves it, so the
// VMA, its File and the File's inode were all stable across the reads.
func resolveMMSeq[R any](as *AddressSpace, addr uint64, find func(Mapping) (R, bool)) (r R, why Fallback) {
	h := as.hooks()
	seq, ok := as.lock.SpeculateTryBegin()
	if !ok {
		return r, SeqBusy
	}
	e, found := as.index.Load().lookup(addr)
	if !found {
		return r, NoVMA
	}
	m, hasFile := mappingOf(e.vma, addr, h)
	if !hasFile {
		return r, NoFile
	}
	r, ok = find(m)
	if !ok {
		return r, Miss
	}
	if h != nil && h.AfterTryBegin != nil {
		h.AfterTryBegin()
	}
	if as.lock.SpeculateRetry(seq) && (h == nil || !h.NoValidate) {
		var zero R
		return zero, SeqChanged
	}
	return r, FastPath
}

// resolveVMASeq: load the VMA's generation and vm_lock_seq, refuse if the
// latter equals the mm sequence (write-locked now), read, and keep the
// result only if the VMA still belongs to this address space, is still
// attached, was not handed out again, and its vm_lock_seq did not move. A
// writer stores vm_lock_seq before it changes any other field
// (vmaStartWrite, newVMA), so an unchanged value means the fields read
// belong to one state. vm_lock_seq alone is not enough, and the two extra
// checks are what the thread's version lacks: the attachment check catches
// a VMA that was write-locked, detached and released (its File reference
// dropped) before the first load; the generation catches a VMA reused by
// another address space whose (independent) count left in vm_lock_seq the
// very value this address space stores when it gets the VMA back.
func resolveVMASeq[R any](as *AddressSpace, addr uint64, find func(Mapping) (R, bool)) (r R, why Fallback) {
	h := as.hooks()
	e, found := as.index.Load().lookup(addr)
	if !found {
		return r, NoVMA
	}
	v := e.vma
	gen := v.gen.Load()      // pairs with the increment in newVMA
	vs := v.lockSeq.Load()   // pairs with the store in vmaStartWrite
	if vs == as.lock.Seq() { // safety:vmaseq-refuse-locked
		return r, VMALocked
	}
	if h != nil && h.AfterLockSeqLoad != nil {
		h.AfterLockSeqLoad()
	}
	m, hasFile := mappingOf(v, addr, h)
	if !hasFile {
		return r, NoFile
	}
	if addr < m.Start || addr >= m.End { // safety:vmaseq-range
		return r, VMAChanged
	}
	r, ok := find(m)
	if !ok {
		return r, Miss
	}
	if h != nil && h.NoValidate {
		return r, FastPath
	}
	other := v.mm.Load() != as // safety:vmaseq-mm-check
	rc := v.refcnt.Load()
	detached := (rc == 0 || rc&detachFlag != 0) && (h == nil || !h.NoDetachCheck) // safety:vmaseq-detach-check
	reused := v.gen.Load() != gen && (h == nil || !h.NoGenerationCheck)           // safety:vmaseq-generation
	changed := v.lockSeq.Load() != vs                                             // safety:vmaseq-recheck
	if other || detached || reused || changed {
		var zero R
		return zero, VMAChanged
	}
	return r, FastPath
}

// resolveVMALock: read-lock the VMA without the mmap lock; while held, the
// VMA cannot change, so the read needs no validation.
func resolveVMALock[R any](as *AddressSpace, addr uint64, find func(Mapping) (R, bool)) (r R, why Fallback) {
	v, fail := as.lockVMA(addr)
	switch fail {
	case readOK:
	case readNoVMA:
		return r, NoVMA
	case readWriteLocked:
		return r, VMALocked
	default:
		return r, VMAChanged
	}
	defer v.EndRead()
	m, hasFile := mappingOf(v, addr, nil)
	if !hasFile {
		return r, NoFile
	}
	r, ok := find(m)
	if !ok {
		return r, Miss
	}
	return r, FastPath
}
