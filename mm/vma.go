package mm

import (
	"sync/atomic"

	"specvma/internal/slab"
	"specvma/vfs"
)

// VMA is a virtual memory area (vm_area_struct): one contiguous page range
// with one set of flags, one backing (a File at an offset, or anonymous
// memory) and one name.
//
// Fields are changed in place, as in the kernel, by a writer that holds the
// mmap write lock and has write-locked this VMA (vmaStartWrite): the write
// lock's store to lockSeq comes before every change of the other fields, so
// a per-VMA reader that finds lockSeq unchanged across its reads has read one
// consistent state. VMAs come from a type-stable cache and are reused as
// soon as they are freed, by this or any other address space: every field a
// lockless reader touches is atomic, and a lockless reader must validate
// (doc.go) before it trusts anything it read.
type VMA struct {
	mm    atomic.Pointer[AddressSpace] // vm_mm
	start atomic.Uint64                // vm_start
	end   atomic.Uint64                // vm_end
	pgoff atomic.Uint64                // vm_pgoff, in pages
	flags atomic.Uint64                // vm_flags
	file  atomic.Pointer[vfs.File]     // vm_file (holds a reference)
	anon  atomic.Pointer[AnonVMA]      // anon_vma
	// forkChild: anon came through fork, so the VMA's anon_vma_chain also
	// links its ancestors' anon_vmas and is not singular (fork.go).
	forkChild atomic.Bool
	name      atomic.Pointer[string]  // anon_name; nil when unnamed
	special   atomic.Pointer[string]  // "[vdso]", "[vvar]", ...: special mappings
	huge      atomic.Pointer[hugeVMA] // private hugetlb pages and reservation (hugetlb.go)
	lockSeq   atomic.Uint64           // vm_lock_seq
	refcnt    atomic.Uint32           // vm_refcnt (vmalock.go)
	gen       atomic.Uint64           // times this memory was handed out (vmaseq's reuse check)
}

// AnonVMA identifies an anon_vma: the reverse-map root that a private VMA
// gets on its first write fault. VMAs with different anon_vmas never merge.
// A forked child's VMA gets a new anon_vma whose parent is the parent
// VMA's (anon_vma_fork); parent is immutable.
type AnonVMA struct {
	id     uint64
	parent *AnonVMA
}

// ID is a number that tells anon_vmas apart in dumps and tests.
func (a *AnonVMA) ID() uint64 { return a.id }

// Parent returns the anon_vma this one was forked from, or nil for a root.
func (a *AnonVMA) Parent() *AnonVMA { return a.parent }

var anonVMAIDs atomic.Uint64

func newAnonVMA() *AnonVMA { return &AnonVMA{id: anonVMAIDs.Add(1)} }

var vmaCache slab.Cache[VMA]

// LiveVMAs reports VMAs allocated now, ever created, and allocations that
// reused a freed VMA.
func LiveVMAs() (live, created, reused int64) { return vmaCache.Stats() }

// Lockless accessors. Each is one atomic load; a caller without the mmap
// lock or a VMA read lock must validate afterwards.

// Start returns vm_start.
func (v *VMA) Start() uint64 { return v.start.Load() }

// End returns vm_end.
func (v *VMA) End() uint64 { return v.end.Load() }

// Pgoff returns vm_pgoff (in pages).
func (v *VMA) Pgoff() uint64 { return v.pgoff.Load() }

// Flags returns vm_flags.
func (v *VMA) Flags() VMFlags { return VMFlags(v.flags.Load()) }

// File returns vm_file, or nil for anonymous memory.
func (v *VMA) File() *vfs.File { return v.file.Load() }

// Info is a copy of a VMA's attributes, taken under a lock.
type Info struct {
	Start, End uint64
	Pgoff      uint64 // in pages
	Flags      VMFlags
	File       *vfs.File  // nil for private anonymous memory; may be reused once the lock is dropped
	Inode      *vfs.Inode // the file's inode (inodes are never reused)
	Path       string     // the file's path, copied under the lock
	AnonVMA    *AnonVMA
	AnonName   string // PR_SET_VMA_ANON_NAME; "" when unnamed
	Special    string // name of a special mapping ("[vdso]"), if any
}

// info copies v; the caller holds the mmap lock (either mode).
func (v *VMA) info() Info {
	in := Info{
		Start: v.Start(), End: v.End(), Pgoff: v.Pgoff(), Flags: v.Flags(),
		File: v.File(), AnonVMA: v.anon.Load(),
	}
	if in.File != nil {
		in.Inode = in.File.Inode()
		in.Path = in.File.Path()
	}
	if p := v.name.Load(); p != nil {
		in.AnonName = *p
	}
	if p := v.special.Load(); p != nil {
		in.Special = *p
	}
	return in
}

func (v *VMA) pages() uint64 { return (v.End() - v.Start()) >> PageShift }

// isAnon reports anonymous memory (vma_is_anonymous): no file, or a
// private mapping of /dev/zero, which keeps its file but faults like
// anonymous memory.
func (v *VMA) isAnon() bool {
	f := v.File()
	return (f == nil || f.Inode().MmapOps() == vfs.MmapZero) && v.special.Load() == nil
}

// isShmemAnon reports shared anonymous memory (vma_is_anon_shmem).
func (v *VMA) isShmemAnon() bool {
	f := v.File()
	return f != nil && f.Inode().ID().Dev == vfs.ShmemDev
}
