// Package mmhook holds the test-only knobs of package mm: functions run
// inside the windows of its lockless paths, switches that drop a validation
// step, a narrowed sequence count, and a view of state that mm does not
// export. Tests pass them in mm.Config.Test; production code leaves that
// nil, and code outside this module cannot name these types.
//
// The package imports nothing of specvma, so mm (and its tests, and the
// tests of the packages above it) can all use it.
package mmhook

// Hooks are test-only windows into mm's lockless paths (mm/resolve.go,
// mm/vmalock.go). A test sets the functions to force a writer into a window
// and the switches to show that a validation step is what makes answers
// right. Nil functions and false switches cost one pointer load per lookup.
type Hooks struct {
	AfterTryBegin    func() // mmseq: between try_begin and the retry check
	AfterLockSeqLoad func() // vmaseq: between the vm_lock_seq load and its recheck
	AfterFileLoad    func() // mmseq, vmaseq: between reading vm_file and reading f_inode
	NoValidate       bool   // skip every validation step: a planted bug
	NoDetachCheck    bool   // vmaseq without the attachment check
	// NoGenerationCheck drops vmaseq's generation recheck: vm_lock_seq
	// values come from per-mm counters, so a VMA reused by another address
	// space and then by this one can show the value the reader loaded.
	NoGenerationCheck bool

	// SeqBits narrows the mm sequence count to this many bits, to show what
	// wraparound breaks; 0 means 64. It is read once, by mm.New.
	SeqBits int

	// View, when set, is filled in by mm.New with read-only windows onto the
	// new address space, for tests outside package mm.
	View *View
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
