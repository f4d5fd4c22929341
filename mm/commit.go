package mm

import (
	"slices"
	"sync"
)

// Commit accounting (security_vm_enough_memory_mm and its callers).
//
// Memory that may need RAM or swap later is charged when it is mapped:
// private writable memory (VM_ACCOUNT), shared anonymous memory and shared
// /dev/zero (their shmem object), unless MAP_NORESERVE asked for none and
// the mode honours it. Read-only private memory is charged when mprotect
// first makes it writable, and mremap charges what a mapping grows by.

// The vm.overcommit_memory modes.
const (
	// OvercommitGuess refuses a single charge larger than RAM plus swap.
	OvercommitGuess = 0
	// OvercommitAlways charges nothing.
	OvercommitAlways = 1
	// OvercommitNever refuses a charge that takes the machine's committed
	// memory past the commit limit; MAP_NORESERVE is ignored. The machine's
	// is what the rest of it has committed (Config.CommittedAS) plus what
	// every address space of the model sharing Config.Machine has.
	OvercommitNever = 2
)

// enoughMemory is __vm_enough_memory for pages about to be charged: nil,
// or ENOMEM.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) enoughMemory(pages uint64) error {
	switch as.cfg.Overcommit {
	case OvercommitAlways:
		return nil
	case OvercommitNever:
		if as.committedElsewhere()+as.committedPages()+pages > as.cfg.CommitLimit>>PageShift {
			return enomem
		}
		return nil
	}
	total := (as.cfg.TotalRAM + as.cfg.TotalSwap) >> PageShift
	if total != 0 && pages > total {
		return enomem
	}
	return nil
}

// honoursNoReserve reports whether MAP_NORESERVE takes effect: not under
// OvercommitNever.
func (as *AddressSpace) honoursNoReserve() bool { return as.cfg.Overcommit != OvercommitNever }

// committedPages is what this address space has charged: its VM_ACCOUNT
// pages and the size of each reserved shmem object it maps.
//
// Preconditions: the mmap lock is held, either mode, or (committedElsewhere)
// none: it reads one published tree version.
func (as *AddressSpace) committedPages() uint64 {
	var n uint64
	seen := map[any]bool{}
	for e := range as.cur().all() {
		v := e.vma
		f := v.Flags()
		switch {
		case f&VMAccount != 0:
			n += v.pages()
		case v.isShmemAnon() && f&VMNoReserve == 0 && !seen[v.File().Inode()]:
			seen[v.File().Inode()] = true
			n += (uint64(v.File().Inode().Size()) + PageSize - 1) >> PageShift
		}
	}
	return n
}

// accountedPages counts the VM_ACCOUNT pages of [start, end): what a
// MAP_FIXED mapping over them gives back before it charges its own.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) accountedPages(start, end uint64) uint64 {
	var n uint64
	for _, v := range as.overlapping(start, end) {
		if v.Flags()&VMAccount != 0 {
			n += (min(end, v.End()) - max(start, v.Start())) >> PageShift
		}
	}
	return n
}

// Machine is what the address spaces of one simulated machine share:
// under OvercommitNever each charge is checked against the commitments of
// them all. Address spaces join the Machine of their Config when New
// creates them and stay in it. It is safe for concurrent use.
type Machine struct {
	mu     sync.Mutex
	spaces []*AddressSpace
}

// NewMachine returns a machine with no address spaces.
func NewMachine() *Machine { return &Machine{} }

func (m *Machine) join(as *AddressSpace) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spaces = append(m.spaces, as)
}

// committedElsewhere is, in pages, what the rest of the machine has
// committed: Config.CommittedAS and the other address spaces of the
// Machine. The others are read through their published VMA trees without
// their locks (taking them could deadlock two charging address spaces), so
// a charge racing with another address space's change sees its state just
// before or after it, as Linux's per-CPU commit counter allows too.
//
// Preconditions: the mmap write lock of as is held.
func (as *AddressSpace) committedElsewhere() uint64 {
	n := as.cfg.CommittedAS >> PageShift
	m := as.cfg.Machine
	if m == nil {
		return n
	}
	m.mu.Lock()
	others := slices.Clone(m.spaces)
	m.mu.Unlock()
	for _, o := range others {
		if o != as {
			n += o.committedPages()
		}
	}
	return n
}
