package mm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"specvma/internal/mmhook"
)

// seqCount is the mm's sequence count (mm_lock_seq): even while no writer
// holds the mmap lock, odd while one does. It is 64 bits wide; a test may
// narrow it (mmhook.Hooks.SeqBits, through Config.Test) to show what
// wraparound breaks.
type seqCount struct {
	v    atomic.Uint64
	mask uint64
}

func (s *seqCount) load() uint64 { return s.v.Load() }

// bump advances the count by one. Only the mmap lock's writer calls it, so a
// plain load followed by a store is the single-writer seqcount update.
func (s *seqCount) bump() { s.v.Store((s.v.Load() + 1) & s.mask) }

// mmapLock is the address space's mmap_lock: a readers/writer lock plus the
// sequence count that write locking makes odd and write unlocking makes even.
//
// The sequence count is also the release of every per-VMA write lock: a
// writer write-locks a VMA by storing the (odd) current count into its
// lockSeq, and the even count that WriteUnlock stores no longer matches
// any of them (vma_end_write_all).
type mmapLock struct {
	rw       sync.RWMutex
	readers  atomic.Int32 // read holds now (what a writer spins on)
	seq      seqCount
	hooks    *mmhook.Hooks // Config.Test, for tests
	validate func()        // debugValidate, for this package's tests
}

// Waiting for the lock. A waiter first spins (yielding) while the holder
// it waits for is likely to be done soon — a writer's hold or a reader's
// lookup lasts microseconds — and blocks in the RWMutex only after
// spinLimit, as the kernel's rwsem spins on a running owner before it
// sleeps. Blocking at once costs more than the hold in Go: the waiter's
// processor goes idle, and the goroutine the unlock readies is queued on
// the unlocker's processor, behind the unlocker, until an idle processor's
// thread is woken to steal it (tens of microseconds on a virtual machine),
// and a writer whose next call meets such a reader waits that long too
// (README: the writer's side of the bench).
const spinLimit = 50 * time.Microsecond

// spinWhile yields while busy reports true, for at most spinLimit.
func spinWhile(busy func() bool) {
	if !busy() {
		return
	}
	for start := time.Now(); busy() && time.Since(start) < spinLimit; {
		runtime.Gosched()
	}
}

// ReadLock takes the lock shared (mmap_read_lock).
func (l *mmapLock) ReadLock() {
	l.hooks.CheckNotInFind()
	l.hooks.RunBeforeReadLock()
	spinWhile(l.writerIn)
	l.rw.RLock()
	l.readers.Add(1)
}

// writerIn reports whether a writer holds the lock (the count is odd).
func (l *mmapLock) writerIn() bool { return l.seq.load()&1 != 0 }

// readersIn reports whether readers hold the lock.
func (l *mmapLock) readersIn() bool { return l.readers.Load() > 0 }

// ReadUnlock releases a shared hold.
func (l *mmapLock) ReadUnlock() {
	l.readers.Add(-1)
	l.rw.RUnlock()
}

// WriteLock takes the lock exclusive and makes the sequence odd
// (mmap_write_lock: down_write, then mm_lock_seqcount_begin).
func (l *mmapLock) WriteLock() {
	l.hooks.CheckNotInFind()
	spinWhile(l.readersIn)
	l.rw.Lock() // safety:writelock-order
	l.hooks.RunInWriteLock()
	l.seq.bump() // safety:writelock-order; pairs with the load in SpeculateTryBegin/SpeculateRetry
}

// WriteUnlock makes the sequence even, releasing every VMA write lock taken
// under this hold, then releases the lock (vma_end_write_all, up_write).
func (l *mmapLock) WriteUnlock() {
	if l.validate != nil {
		l.validate()
	}
	l.seq.bump() // safety:writeunlock-order; pairs with the loads in SpeculateRetry and vmaStartRead's recheck
	l.hooks.RunInWriteUnlock()
	l.rw.Unlock() // safety:writeunlock-order
}

// Seq returns the current sequence count.
func (l *mmapLock) Seq() uint64 { return l.seq.load() }

// SpeculateTryBegin starts a speculative read section
// (mmap_lock_speculate_try_begin). It fails when a writer holds the lock:
// waiting for it would cost as much as taking the lock, so the caller goes
// to its locked path instead.
func (l *mmapLock) SpeculateTryBegin() (seq uint64, ok bool) {
	seq = l.seq.load()
	return seq, seq&1 == 0 // safety:mmseq-refuse-odd
}

// SpeculateRetry reports whether a speculative section begun at seq must be
// thrown away because a writer took the lock since (true means failure, as
// mmap_lock_speculate_retry). Go's atomics are sequentially consistent, so
// every load the caller made in the section is ordered before this one (the
// kernel's read_seqcount_retry needs an smp_rmb here).
func (l *mmapLock) SpeculateRetry(seq uint64) bool {
	return l.seq.load() != seq // safety:mmseq-retry
}
