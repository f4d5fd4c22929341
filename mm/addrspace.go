package mm

import (
	"sync"
	"sync/atomic"

	"specvma/errno"
	"specvma/internal/mmhook"
	"specvma/vfs"
)

// Config sets an address space's tunables; zero fields take Linux's defaults.
type Config struct {
	// MmapBase is where the top-down search for free space starts
	// (mm->mmap_base). Default 0x7ffff7fff000, the base without ASLR.
	MmapBase uint64
	// MmapMinAddr is vm.mmap_min_addr (default 0x10000).
	MmapMinAddr uint64
	// MaxMapCount is vm.max_map_count (default 65530).
	MaxMapCount int
	// StackGuardGap is the gap kept below a VM_GROWSDOWN VMA (default 256 pages).
	StackGuardGap uint64
	// NoAnonNames models a kernel without CONFIG_ANON_VMA_NAME: naming
	// anonymous memory fails with EINVAL.
	NoAnonNames bool
	// NoMmapMinAddr models vm.mmap_min_addr = 0 (MmapMinAddr 0 takes the default).
	NoMmapMinAddr bool
	// LSMMmapMinAddr is CONFIG_LSM_MMAP_MIN_ADDR of a kernel with
	// CONFIG_SECURITY: mmap hints are rounded up to the larger of it and
	// MmapMinAddr, while only MmapMinAddr needs privilege (no LSM enforces
	// the other here). 0: none.
	LSMMmapMinAddr uint64
	// Privileged models CAP_SYS_RAWIO: MAP_FIXED below MmapMinAddr is allowed.
	Privileged bool
	// NoKSM models a kernel without CONFIG_KSM: MADV_MERGEABLE and
	// MADV_UNMERGEABLE fail with EINVAL.
	NoKSM bool
	// IPCLock models CAP_IPC_LOCK: mlock ignores MemlockRlimit.
	IPCLock bool
	// MemlockRlimit is RLIMIT_MEMLOCK in bytes (mlock.go); 0 takes Linux's
	// default, 8 MiB. NoMemlock models a limit of 0 (mlock is EPERM
	// without IPCLock).
	MemlockRlimit uint64
	NoMemlock     bool
	// Overcommit is vm.overcommit_memory (commit.go): OvercommitGuess (the
	// default), OvercommitAlways or OvercommitNever.
	Overcommit int
	// TotalRAM and TotalSwap are the machine's memory and swap in bytes
	// (MemTotal and SwapTotal of /proc/meminfo): OvercommitGuess refuses one
	// accounted allocation larger than both together. Both zero: no limit.
	TotalRAM, TotalSwap uint64
	// CommitLimit is the commit limit in bytes under OvercommitNever
	// (CommitLimit of /proc/meminfo): the memory the machine has committed
	// may not pass it. CommittedAS is what the rest of the machine, outside
	// the model, has committed (Committed_AS of /proc/meminfo when the model
	// follows the running machine), and Machine, when set, the address
	// spaces of the model that commit together (commit.go).
	CommitLimit, CommittedAS uint64
	Machine                  *Machine
	// HugePages is the number of free huge pages nobody has reserved
	// (HugePages_Free - HugePages_Rsvd of /proc/meminfo) in the pool New
	// creates when HugePool is nil; HugePool, when set, is a pool the
	// address space shares with others (hugetlb.go).
	HugePages uint64
	HugePool  *HugePool
	// HugeAnonDev is the device of MAP_HUGETLB anonymous memory in maps
	// (the kernel's internal hugetlbfs mount); zero: vfs.HugeAnonDev.
	HugeAnonDev vfs.Dev
	// DataRlimit is RLIMIT_DATA in bytes (rlimit.go); 0: unlimited.
	// DataSegment is the size of the program's data segment (end_data -
	// start_data), which brk counts against it.
	DataRlimit, DataSegment uint64
	// ASRlimit is RLIMIT_AS in bytes (rlimit.go): the most all VMAs
	// together may span; 0: unlimited.
	ASRlimit uint64
	// StackRlimit is RLIMIT_STACK, the most a VM_GROWSDOWN VMA may grow to
	// (default 8 MiB).
	StackRlimit uint64
	// Test holds test-only knobs (windows into the lockless paths, a
	// narrowed sequence count); nil outside this module's tests.
	Test *mmhook.Hooks
}

// AddressSpace is a process address space (mm_struct).
type AddressSpace struct {
	lock  mmapLock
	index atomic.Pointer[tree] // the published VMA tree; written under the mmap write lock
	// A store in progress (store.go): the writer's version not yet
	// published, how many begin/endStore pairs are open, and the VMAs it
	// removed, detached once the version without them is published.
	staged   *tree
	storing  int
	unlinked []*VMA
	// anonMu serialises anon_vma assignment, which page faults do under the
	// mmap read lock (the kernel uses the anon_vma lock and page_table_lock).
	anonMu sync.Mutex
	cfg    Config

	// Written and read under the mmap lock.
	startBrk, brk, startStack uint64
	defFlags                  VMFlags                            // mm->def_flags: VM_LOCKED after mlockall(MCL_FUTURE)
	gate                      bool                               // has the [vsyscall] gate area
	bps                       atomic.Pointer[map[uint64]ProbeID] // breakpoints by address (breakpoint.go)
	probes                    ProbeSource
	refCtrs                   map[uint64]int     // SDT semaphores by address (refctr.go)
	refDelayed                map[refCtrKey]bool // parked semaphore increments
}

// New returns an empty address space.
func New(cfg Config) *AddressSpace {
	if cfg.MmapBase == 0 {
		cfg.MmapBase = 0x7ffff7fff000
	}
	if cfg.NoMmapMinAddr {
		cfg.MmapMinAddr = 0
	} else if cfg.MmapMinAddr == 0 {
		cfg.MmapMinAddr = DefaultMmapMinAddr
	}
	if cfg.MaxMapCount == 0 {
		cfg.MaxMapCount = DefaultMaxMapCount
	}
	if cfg.StackGuardGap == 0 {
		cfg.StackGuardGap = StackGuardGap
	}
	if cfg.NoMemlock {
		cfg.MemlockRlimit = 0
	} else if cfg.MemlockRlimit == 0 {
		cfg.MemlockRlimit = 8 << 20
	}
	if cfg.StackRlimit == 0 {
		cfg.StackRlimit = 8 << 20
	}
	if cfg.HugePool == nil {
		cfg.HugePool = NewHugePool(cfg.HugePages)
	}
	as := &AddressSpace{cfg: cfg}
	if cfg.Machine != nil {
		cfg.Machine.join(as)
	}
	as.lock.seq.mask = ^uint64(0)
	as.index.Store(&tree{})
	if debugValidate != nil {
		as.lock.validate = func() {
			if err := debugValidate(as); err != nil {
				panic("mm: validate after a write section: " + err.Error())
			}
		}
	}
	if cfg.Test != nil {
		as.applyTestKnobs(cfg.Test)
	}
	return as
}

// Config returns the tunables in force.
func (as *AddressSpace) Config() Config { return as.cfg }

// ReadLock takes the mmap lock shared (mmap_read_lock), for a reader that
// copies several VMAs out under one hold (NextVMALocked), as the locked
// /proc/PID/maps reader does. Writers wait until ReadUnlock. Only the
// shared side is exported: every change goes through this package's calls,
// which take the write side themselves.
//
// Preconditions: the caller holds no mmap lock of as, and runs no Resolve
// find callback (lock order, doc.go).
func (as *AddressSpace) ReadLock() { as.lock.ReadLock() }

// ReadUnlock releases a ReadLock hold.
func (as *AddressSpace) ReadUnlock() { as.lock.ReadUnlock() }

// SpeculateTryBegin starts a speculative read of as without the mmap lock
// (mmap_lock_speculate_try_begin): it returns the mm sequence count, and ok
// is false when a writer holds the lock now. Whatever the caller then reads
// without a lock (Resolve's paths, the lockless /proc/PID/maps walk) is
// trustworthy only if SpeculateRetry(seq) reports false afterwards.
//
// Preconditions: none (lockless).
func (as *AddressSpace) SpeculateTryBegin() (seq uint64, ok bool) { return as.lock.SpeculateTryBegin() }

// SpeculateRetry reports whether a speculative read begun at seq must be
// thrown away: a writer took the mmap lock since (mmap_lock_speculate_retry).
//
// Preconditions: none (lockless).
func (as *AddressSpace) SpeculateRetry(seq uint64) bool { return as.lock.SpeculateRetry(seq) }

// MapCount returns the number of VMAs (map_count) in the published tree.
func (as *AddressSpace) MapCount() int { return as.index.Load().size }

// mapCount is map_count in the writer's view (a store in progress counts).
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) mapCount() int { return as.cur().size }

// findRCU walks the newest published tree version for the VMA covering
// addr, taking no lock (vma_lookup under rcu_read_lock). The VMA may be
// changing, detached or reused by the time the caller reads it: the caller
// validates with the mmap sequence count or the VMA's lockSeq.
//
// Preconditions: none (lockless).
func (as *AddressSpace) findRCU(addr uint64) *VMA {
	if e, ok := as.index.Load().lookup(addr); ok {
		return e.vma
	}
	return nil
}

// Lookup returns the VMA covering addr, under the mmap read lock.
func (as *AddressSpace) Lookup(addr uint64) (Info, bool) {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	if e, ok := as.index.Load().lookup(addr); ok {
		return e.vma.info(), true
	}
	return Info{}, false
}

// VMAs returns every VMA in address order, under the mmap read lock.
func (as *AddressSpace) VMAs() []Info {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	return as.vmasLocked()
}

func (as *AddressSpace) vmasLocked() []Info {
	t := as.cur()
	out := make([]Info, 0, t.size)
	for e := range t.all() {
		out = append(out, e.vma.info())
	}
	return out
}

// Layout is what /proc/PID/maps needs besides the VMAs.
type Layout struct {
	StartBrk, Brk, StartStack uint64
	Gate                      bool // print the [vsyscall] line
}

// Snapshot returns the VMAs and the layout under one mmap read lock hold.
func (as *AddressSpace) Snapshot() ([]Info, Layout) {
	as.lock.ReadLock()
	defer as.lock.ReadUnlock()
	return as.vmasLocked(), Layout{as.startBrk, as.brk, as.startStack, as.gate}
}

// Exit unmaps everything, as exit_mmap does: every VMA is freed, sealed
// or not, and every File reference the address space held is dropped.
func (as *AddressSpace) Exit() {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	as.exitMmap()
}

// SetLayout records the heap and stack positions and the gate area, as exec
// would (the loaders of live processes use it).
func (as *AddressSpace) SetLayout(l Layout) {
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	as.startBrk, as.brk, as.startStack, as.gate = l.StartBrk, l.Brk, l.StartStack, l.Gate
}

// Install inserts a VMA with exactly the given attributes, merging with
// nothing, as exec and the loaders of live processes do. in.File, if set, is
// referenced (a new reference is taken). It fails with EEXIST when the range
// overlaps a VMA, EINVAL when it is empty, unaligned or out of range.
func (as *AddressSpace) Install(in Info) error {
	if in.Start >= in.End || !pageAligned(in.Start) || !pageAligned(in.End) || in.End > TaskSize {
		return errno.EINVAL
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	if e, ok := as.cur().findVMA(in.Start); ok && e.start < in.End {
		return errno.EEXIST
	}
	v := as.newVMA(in.Start, in.End, in.Pgoff, in.Flags, in.File)
	if in.File != nil {
		in.File.Get()
	}
	v.anon.Store(in.AnonVMA)
	if in.AnonName != "" {
		n := in.AnonName
		v.name.Store(&n)
	}
	if in.Special != "" {
		s := in.Special
		v.special.Store(&s)
	}
	as.link(v)
	return nil
}

// newVMA takes a VMA from the cache and initialises it, write-locked and
// detached; file's reference passes to the VMA. Caller holds the write lock.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) newVMA(start, end, pgoff uint64, flags VMFlags, file *vfs.File) *VMA {
	v := vmaCache.Alloc()
	v.gen.Add(1)
	seq := as.writeSeq()
	// Write-lock first: a reader still holding this memory from its previous
	// life sees lockSeq change before any other field does.
	v.lockSeq.Store(seq)
	v.mm.Store(as)
	v.start.Store(start)
	v.end.Store(end)
	v.pgoff.Store(pgoff)
	v.flags.Store(uint64(flags))
	v.file.Store(file)
	v.anon.Store(nil)
	v.forkChild.Store(false)
	v.name.Store(nil)
	v.special.Store(nil)
	v.huge.Store(nil)
	if isHugeFile(file) {
		as.hugeVMACount(file, 1)
	}
	return v
}

// publish makes t the writer's newest tree version. Outside a store
// (store.go) that is one atomic store, which lockless readers load (the RCU
// publication, rcu_assign_pointer); inside one, t is staged and endStore
// publishes the last version staged.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) publish(t *tree) {
	if as.storing > 0 && !as.unbatched() { // safety:store-once
		as.staged = t
		return
	}
	as.store(t)
}

// store publishes t to lockless readers.
func (as *AddressSpace) store(t *tree) {
	if debugPublish != nil {
		if err := debugPublish(t); err != nil {
			panic("mm: publishing a malformed tree version: " + err.Error())
		}
	}
	as.index.Store(t)
	if h := as.hooks(); h != nil && h.AfterPublish != nil {
		h.AfterPublish()
	}
}

// Debug checks, set only by this package's tests (validate_test.go), as
// CONFIG_DEBUG_VM_MAPLE_TREE's validate_mm: nil in every build of the
// library, where they cost one nil check per write section and publication.
var (
	debugValidate func(*AddressSpace) error // at the end of every write section
	debugPublish  func(*tree) error         // on every tree version published
)

// link publishes a new VMA in the tree (vma_link).
//
// Preconditions: the mmap write lock is held; v is write-locked and detached.
func (as *AddressSpace) link(v *VMA) {
	as.writeSeq()
	v.markAttached()
	as.publish(as.cur().insert(entry{v.Start(), v.End(), v}))
}

// unlinkFree removes v from the tree, waits out transient readers and frees
// it, dropping its file reference (remove_vma). v is write-locked. Inside a
// store the detach waits until endStore has published a version without v.
//
// Preconditions: the mmap write lock is held and v is write-locked (vmaStartWrite).
func (as *AddressSpace) unlinkFree(v *VMA) {
	as.writeSeq()
	as.publish(as.cur().remove(v.Start()))
	if f := v.File(); isHugeFile(f) {
		// hugetlb_vm_op_close at once: the pages and reservations come
		// back before the rest of the write section reserves again.
		as.hugeClose(v)
		as.hugeVMACount(f, -1)
	}
	if as.staged != nil {
		as.unlinked = append(as.unlinked, v)
		return
	}
	as.detachFree(v)
}

// detachFree waits out v's transient readers and frees it; v is out of
// the published tree.
func (as *AddressSpace) detachFree(v *VMA) {
	if h := as.hooks(); h != nil && h.BeforeDetach != nil {
		h.BeforeDetach()
	}
	as.markDetached(v)
	as.freeVMA(v)
}

// freeVMA releases a detached VMA's references and returns it to the cache.
//
// Preconditions: the mmap write lock is held; v is detached.
func (as *AddressSpace) freeVMA(v *VMA) {
	if f := v.file.Load(); f != nil {
		f.Put()
	}
	vmaCache.Free(v)
}

// setRange changes v's range in place and republishes its tree entry
// (vma_adjust/vma_set_range). v is write-locked.
//
// Preconditions: the mmap write lock is held and v is write-locked (vmaStartWrite).
func (as *AddressSpace) setRange(v *VMA, start, end, pgoff uint64) {
	as.writeSeq()
	old := v.Start()
	v.start.Store(start)
	v.end.Store(end)
	v.pgoff.Store(pgoff)
	as.publish(as.cur().replace(old, entry{start, end, v}))
}

// vmaAt returns the VMA covering addr in the writer's view.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) vmaAt(addr uint64) *VMA {
	if e, ok := as.cur().lookup(addr); ok {
		return e.vma
	}
	return nil
}

// findVMA returns the first VMA ending above addr (find_vma), or nil.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) findVMA(addr uint64) *VMA {
	if e, ok := as.cur().findVMA(addr); ok {
		return e.vma
	}
	return nil
}

// prevVMA returns the last VMA that starts below addr, or nil.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) prevVMA(addr uint64) *VMA {
	if addr == 0 {
		return nil
	}
	var c cursor
	if c.seekFloor(as.cur(), addr-1) {
		return c.entry().vma
	}
	return nil
}

// nextVMA returns the first VMA starting at or after addr, or nil.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) nextVMA(addr uint64) *VMA {
	var c cursor
	if c.seekGE(as.cur(), addr) {
		return c.entry().vma
	}
	return nil
}

// overlapping returns the VMAs intersecting [start, end) in order.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) overlapping(start, end uint64) []*VMA {
	var out []*VMA
	for e := range as.cur().from(start) {
		if e.start >= end {
			break
		}
		if e.end > start {
			out = append(out, e.vma)
		}
	}
	return out
}
