package mm

import "runtime"

// Per-VMA locks (lock_vma_under_rcu and vma_start_write).
//
// refcnt encodes the lock state, as vm_refcnt does:
//
//	0                      detached: not in the tree; readers are refused
//	1                      attached; unlocked or write-locked (lockSeq tells which)
//	2 .. refLimit          attached, with refcnt-1 readers
//	detachFlag + n         being detached: the attach reference is gone and
//	                       the detacher waits for n transient readers
//	excludeFlag + 1 + n    attached; a writer waits for n readers to drain
//
// A VMA is write-locked while lockSeq equals the mm sequence count. A writer
// (holding the mmap write lock) write-locks a VMA by adding excludeFlag,
// waiting for the readers to drain, storing the (odd) mm sequence into lockSeq
// and removing the flag; it never unlocks a single VMA: WriteUnlock's bump of
// the mm sequence releases all of them at once. A reader never gets a false
// "unlocked": it checks lockSeq against the mm sequence after its reference
// is in place, and the writer sets lockSeq only once no reference is left.
//
// Misuse panics: a write-side helper called without the mmap write lock (the
// sequence is even), and an EndRead that drops a reference nobody holds.

const (
	excludeFlag = 1 << 30
	detachFlag  = 1 << 29
	refLimit    = detachFlag - 1
)

// readFail says why a VMA read lock was refused.
type readFail int

// Reasons a per-VMA read lock is refused.
const (
	readOK          readFail = iota
	readNoVMA                // no VMA at the address in the tree version read
	readWriteLocked          // lockSeq equals the mm sequence, or a writer is draining readers
	readDetached             // the VMA left the tree (refcnt 0): retry the walk
	readUnstable             // the VMA memory now belongs to another address space
	readMoved                // the VMA no longer covers the address
)

var readFailNames = [...]string{"ok", "no_vma", "write_locked", "detached", "unstable", "moved"}

func (r readFail) String() string { return readFailNames[r] }

// vmaStartWrite write-locks v (vma_start_write). The caller holds the mmap
// write lock; it returns at once if v is already write-locked in this hold.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) vmaStartWrite(v *VMA) {
	seq := as.writeSeq()
	if v.lockSeq.Load() == seq {
		return
	}
	excluding := v.addNotZero(excludeFlag)
	if excluding {
		as.waitRefs(v, excludeFlag+1) // safety:startwrite-drain
	}
	v.lockSeq.Store(seq) // pairs with the rechecks in vmaStartRead and the vmaseq strategy
	if excluding {
		v.refcnt.Add(^uint32(excludeFlag - 1))
	}
}

// writeSeq returns the mm sequence count, which must be odd: the caller
// must hold the mmap write lock (mmap_assert_write_locked; one load, which
// the caller needs anyway).
func (as *AddressSpace) writeSeq() uint64 {
	seq := as.lock.Seq()
	if seq&1 == 0 {
		panic("mm: write-side helper called without the mmap write lock")
	}
	return seq
}

// addNotZero adds n unless the count is zero (refcount_add_not_zero).
func (v *VMA) addNotZero(n uint32) bool {
	for {
		old := v.refcnt.Load()
		if old == 0 {
			return false
		}
		if v.refcnt.CompareAndSwap(old, old+n) {
			return true
		}
	}
}

// waitRefs waits until v's count drains to want (rcuwait on
// vma_writer_wait). Readers hold a VMA only for one lookup, so yielding is
// enough. The WaitRefs hook tells a test that the writer is waiting.
func (as *AddressSpace) waitRefs(v *VMA, want uint32) {
	for h := as.hooks(); v.refcnt.Load() != want; {
		if h != nil && h.WaitRefs != nil {
			h.WaitRefs()
			h = nil // once per wait
		}
		runtime.Gosched()
	}
}

// markAttached makes v visible to readers (vma_mark_attached); it is called
// just before v is published in the tree.
func (v *VMA) markAttached() { v.refcnt.Store(1) }

// markDetached refuses v to new readers and waits for transient ones to
// leave (vma_mark_detached). v is write-locked and out of the tree, so every
// reader that got in will fail its recheck and drop its reference; until it
// has, v must not be freed: its EndRead would land on the VMA's next life.
//
// Preconditions: the mmap write lock is held and v is write-locked (vmaStartWrite), and out of the tree.
func (as *AddressSpace) markDetached(v *VMA) {
	for {
		old := v.refcnt.Load()
		next := uint32(0)
		if old > 1 {
			next = old - 1 + detachFlag // readers inside: refuse new ones, wait
		}
		if v.refcnt.CompareAndSwap(old, next) {
			break
		}
	}
	if v.refcnt.Load() != 0 {
		as.waitRefs(v, detachFlag) // safety:detach-wait
		v.refcnt.Store(0)
	}
}

// vmaStartRead tries to read-lock v without the mmap lock (vma_start_read).
func (as *AddressSpace) vmaStartRead(v *VMA) readFail {
	h := as.hooks()
	if v.lockSeq.Load() == as.lock.Seq() { // early, pessimistic check
		return readWriteLocked
	}
	if h != nil && h.BeforeVMARef != nil {
		h.BeforeVMARef()
	}
	for { // refcount_inc_not_zero_limited
		old := v.refcnt.Load()
		if old == 0 || old&detachFlag != 0 { // safety:vmalock-refuse-detached
			return readDetached
		}
		if old >= refLimit { // safety:vmalock-exclude
			return readWriteLocked
		}
		if v.refcnt.CompareAndSwap(old, old+1) {
			break
		}
	}
	if h != nil && h.AfterVMARef != nil {
		h.AfterVMARef()
	}
	if v.mm.Load() != as { // safety:vmalock-mm-check
		v.EndRead()
		return readUnstable
	}
	// The reference is in place: a writer can no longer set lockSeq without
	// waiting for us, so an unequal value now means "unlocked" for certain.
	if v.lockSeq.Load() == as.lock.Seq() && (h == nil || !h.NoValidate) { // safety:vmalock-recheck
		v.EndRead()
		return readWriteLocked
	}
	return readOK
}

// EndRead drops a VMA read lock (vma_end_read). It panics when no read
// reference is there to drop (a second EndRead for one lockVMA): the
// count would otherwise eat the attach reference or a writer's flag, and a
// writer would wait forever or free a VMA that a reader still uses.
func (v *VMA) EndRead() {
	old := v.refcnt.Add(^uint32(0)) + 1
	owned := uint32(1) // the attach reference
	if old&detachFlag != 0 {
		owned = 0 // dropped by the detacher
	}
	if old&^(excludeFlag|detachFlag) <= owned {
		panic("mm: VMA EndRead without a read lock")
	}
}

// lockVMA read-locks the VMA covering addr without the mmap lock
// (lock_vma_under_rcu). On success the VMA cannot change until EndRead; on
// failure the caller falls back to the mmap read lock, and the reason says why.
func (as *AddressSpace) lockVMA(addr uint64) (*VMA, readFail) {
	for {
		e, ok := as.index.Load().lookup(addr)
		if !ok {
			return nil, readNoVMA
		}
		v := e.vma
		switch r := as.vmaStartRead(v); r {
		case readOK:
		case readDetached:
			continue // a newer tree version no longer holds it
		default:
			return nil, r
		}
		if addr < v.Start() || addr >= v.End() { // safety:vmalock-range
			v.EndRead()
			return nil, readMoved
		}
		return v, readOK
	}
}
