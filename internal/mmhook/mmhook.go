// Package mmhook holds the test-only knobs of package mm: functions run
// inside the windows of its lockless paths and at the ordering points of
// its writers, switches that drop a validation step, the find-contract
// check, a narrowed sequence count, and a view of state that mm does not
// export. Tests pass them in mm.Config.Test; production code leaves that
// nil, and code outside this module cannot name these types.
//
// The package imports nothing of specvma, so mm (and its tests, and the
// tests of the packages above it) can all use it.
package mmhook

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
)

// Hooks are test-only windows into mm's lockless paths and writers
// (mm/resolve.go, mm/vmalock.go, mm/mmaplock.go). A test sets the functions
// to force a writer into a window or stop one at the right moment, and the
// switches to show that a validation step is what makes answers right. Nil
// functions and false switches cost one pointer load per lookup.
type Hooks struct {
	AfterTryBegin    func() // mmseq: between try_begin and the retry check
	AfterLockSeqLoad func() // vmaseq: between the vm_lock_seq load and its recheck
	AfterFileLoad    func() // mmseq, vmaseq: between reading vm_file and reading f_inode; snapshot walk: before pinning the File
	PinFailed        func() // snapshot walk: the File could not be pinned (a test counts them)
	AfterStartLoad   func() // mmseq, vmaseq: between reading vm_start and vm_pgoff
	BeforeVMARef     func() // vmalock: after the early vm_lock_seq check, before the reference
	AfterVMARef      func() // vmalock: with the reference taken, before the rechecks
	BeforeDetach     func() // writer: a removed VMA is out of the tree, not yet marked detached
	WaitRefs         func() // writer: about to wait for a VMA's readers (once per wait)
	InWriteLock      func() // between taking the mmap write lock and the sequence bump
	InWriteUnlock    func() // between the sequence bump and releasing the mmap write lock
	AfterPublish     func() // writer: a tree version was just published to lockless readers
	BeforeReadLock   func() // a reader is about to take the mmap read lock (a fallback, or a wait for a writer)
	BeforeLockedCopy func() // VMA.LockedInfo: about to copy a VMA the caller has read-locked
	// CheckFind makes mm.Resolve note the goroutine running find, and the
	// mmap lock panic when that goroutine takes it (any mode, any address
	// space with these Hooks): find runs under the VMA read lock or the
	// mmap read lock, where taking the mmap lock deadlocks against a
	// writer or against itself.
	CheckFind     bool
	NoValidate    bool // skip every validation step: a planted bug
	NoDetachCheck bool // vmaseq without the attachment check
	// NoGenerationCheck drops vmaseq's generation recheck: vm_lock_seq
	// values come from per-mm counters, so a VMA reused by another address
	// space and then by this one can show the value the reader loaded.
	NoGenerationCheck bool

	// LockNextVMA (mm/locknext.go): windows between the lookup and the VMA
	// read lock and before the gap's re-lookup, and two planted bugs, each
	// dropping one step: the walk's gap recheck, and the writer's one
	// publication per range store (mm/store.go) that the re-lookup relies
	// on. These two stay runtime switches (the other steps are removed only
	// by internal/safety's source mutants) because procfs/mapsrace's
	// TestPlantedBugs shows in every `go test` that the race test catches
	// them.
	AfterNextLookup func()
	BeforeRelookup  func()
	NoGapRecheck    bool // accept a gap in front of the VMA without the re-lookup
	PublishEachStep bool // publish every intermediate tree version of a store (a split, a merge, a replacement)

	// SeqBits narrows the mm sequence count to this many bits, to show what
	// wraparound breaks; 0 means 64. It is read once, by mm.New.
	SeqBits int

	// View, when set, is filled in by mm.New with read-only windows onto the
	// new address space, for tests outside package mm.
	View *View

	inFind sync.Map // goroutine ids inside a checked find
}

// View is filled in by mm.New (see Hooks.View).
type View struct {
	// VMA returns the VMA covering addr in the newest published tree
	// version, read without a lock, as an identity to compare (nil when
	// nothing is mapped there): VMA memory is type-stable, so an identity
	// stays valid after the VMA is freed, and equal identities mean reused
	// memory.
	VMA func(addr uint64) any
	// LockSeq returns the vm_lock_seq of a VMA identity that VMA returned.
	LockSeq func(vma any) uint64
	// EmptyWriteSection takes the mmap write lock and releases it with no
	// change in between: the sequence count advances by two.
	EmptyWriteSection func()
}

// EnterFind records that the calling goroutine runs a checked find; the
// function returned undoes it.
func (h *Hooks) EnterFind() (leave func()) {
	id := goid()
	h.inFind.Store(id, struct{}{})
	return func() { h.inFind.Delete(id) }
}

// CheckNotInFind panics when CheckFind is set and the calling goroutine is
// inside a checked find. h may be nil.
func (h *Hooks) CheckNotInFind() {
	if h == nil || !h.CheckFind {
		return
	}
	if _, in := h.inFind.Load(goid()); in {
		panic("mm: a Resolve find callback took an mmap lock (it must not block or take address-space locks)")
	}
}

// RunInWriteLock runs InWriteLock if h and it are set.
func (h *Hooks) RunInWriteLock() {
	if h != nil && h.InWriteLock != nil {
		h.InWriteLock()
	}
}

// RunBeforeReadLock runs BeforeReadLock if h and it are set.
func (h *Hooks) RunBeforeReadLock() {
	if h != nil && h.BeforeReadLock != nil {
		h.BeforeReadLock()
	}
}

// RunInWriteUnlock runs InWriteUnlock if h and it are set.
func (h *Hooks) RunInWriteUnlock() {
	if h != nil && h.InWriteUnlock != nil {
		h.InWriteUnlock()
	}
}

// goid returns the calling goroutine's id, read from its stack header
// ("goroutine 42 [running]:"). Slow; tests only.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("mm: cannot read the goroutine id: " + err.Error())
	}
	return id
}
