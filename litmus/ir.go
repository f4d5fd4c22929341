package litmus

// The compiled form of a process: a flat list of instructions with forward
// jumps only (loops are unrolled at compile time), over register slots.

// Ann is the ordering annotation of a memory access.
type Ann uint8

const (
	AnnOnce     Ann = iota // READ_ONCE, WRITE_ONCE, relaxed RMWs
	AnnAcquire             // smp_load_acquire, the read of an _acquire RMW
	AnnRelease             // smp_store_release, the write of a _release RMW
	AnnNoreturn            // the read of a non-value-returning atomic (atomic_inc)
)

// FenceKind is a barrier primitive.
type FenceKind uint8

const (
	FenceMb              FenceKind = iota // smp_mb (and around fully ordered RMWs)
	FenceRmb                              // smp_rmb
	FenceWmb                              // smp_wmb
	FenceBeforeAtomic                     // smp_mb__before_atomic
	FenceAfterAtomic                      // smp_mb__after_atomic
	FenceAfterSpinlock                    // smp_mb__after_spinlock
	FenceAfterUnlockLock                  // smp_mb__after_unlock_lock
	FenceRcuLock                          // rcu_read_lock: opens a read-side critical section
	FenceRcuUnlock                        // rcu_read_unlock: closes it
	FenceSyncRcu                          // synchronize_rcu: a grace period
	FenceSyncSrcu                         // synchronize_srcu(s): a grace period of one srcu_struct (Instr.addr)
	FenceAfterSrcuUnlock                  // smp_mb__after_srcu_read_unlock
)

var fenceNames = [...]string{"smp_mb", "smp_rmb", "smp_wmb", "smp_mb__before_atomic", "smp_mb__after_atomic",
	"smp_mb__after_spinlock", "smp_mb__after_unlock_lock", "rcu_read_lock", "rcu_read_unlock", "synchronize_rcu",
	"synchronize_srcu", "smp_mb__after_srcu_read_unlock"}

// srcuOp marks the SRCU primitives. As in the LKMM, srcu_read_lock(s) is
// a read of the srcu_struct s whose value is the index it returns,
// srcu_read_unlock(s, idx) a write of idx to s, and synchronize_srcu(s) a
// fence event whose location is s.
type srcuOp uint8

const (
	srcuNone srcuOp = iota
	srcuLock
	srcuUnlock
	srcuSync
)

// lockOp marks the accesses a spinlock primitive compiles to. spin_lock
// is an acquire cmpxchg from 0 (unlocked) to 1 that must succeed (an
// execution in which it never could is one where the CPU spins forever,
// so there is none); spin_unlock is a release store of 0; spin_trylock
// is an acquire cmpxchg that may fail.
type lockOp uint8

const (
	lkNone     lockOp = iota
	lkLock            // spin_lock: the read is the LKMM's LKR, the write its LKW
	lkUnlock          // spin_unlock: UL
	lkTry             // spin_trylock: LKR and LKW when it succeeds, LF (a failed lock read) when not
	lkIsLocked        // spin_is_locked: a marked read of the lock (lock.cat's RL when it sees it held, RU when free)
)

func (f FenceKind) String() string { return fenceNames[f] }

type opKind uint8

const (
	opSet    opKind = iota // Dst = Val
	opLoad                 // Dst = load(Addr)
	opStore                // store(Addr, Val)
	opRMW                  // Dst = rmw(Addr, Val[, Val2])
	opFence                // Fence
	opBranch               // if Val == 0 goto Target (a conditional: control dependency)
	opJump                 // goto Target
)

// rmwKind says what a read-modify-write computes.
type rmwKind uint8

const (
	rmwXchg    rmwKind = iota // new = Val; result = old
	rmwAdd                    // new = old + Val; result = old (fetch) or new (return)
	rmwCmpxchg                // if old == Val then new = Val2; result = old
)

// Instr is one compiled instruction.
type Instr struct {
	op        opKind
	Line      int
	Text      string // the primitive as written, for witnesses
	Where     string // "line N", plus the loop constants of an unrolled loop
	dst       int    // register slot, or -1
	addr      *cexpr
	val, val2 *cexpr
	readAnn   Ann
	writeAnn  Ann
	rmw       rmwKind
	retNew    bool // rmwAdd: the result is the new value (_return), not the old (fetch_)
	fullFence bool // a fully ordered RMW: smp_mb before and after
	fence     FenceKind
	target    int
	lock      lockOp
	mustWrite bool // spin_lock: only executions in which this cmpxchg succeeds exist
	srcu      srcuOp
}

// cexpr is a compiled expression over register slots and constants.
type cexpr struct {
	op   string // "const", "reg", or a C operator
	num  int64
	slot int
	x, y *cexpr
}

// Program is a compiled test.
type Program struct {
	Test  *Test
	Vars  []string // shared variables, index = location
	Init  []int64  // initial value per location
	Procs []*ProcCode
	Defs  map[string]int64 // the -D values it was compiled with
}

// ProcCode is one compiled process.
type ProcCode struct {
	ID      int
	Code    []Instr
	Regs    []string // slot names; temporaries are named "" and never printed
	RegInit []int64
}

// addrBase is where address values start: the address of location i is
// addrBase+i. Litmus values are 32-bit, so the two never meet.
const addrBase int64 = 1 << 40

func isAddr(v int64, nvars int) bool { return v >= addrBase && v < addrBase+int64(nvars) }
