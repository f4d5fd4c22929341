package mm

import (
	"sync"

	"specvma/vfs"
)

// hugetlbfs mappings (mm/hugetlb.c, fs/hugetlbfs/inode.c).
//
// A hugetlbfs file, or the unlinked one MAP_HUGETLB creates for anonymous
// memory, is mapped in huge pages (vfs.DefaultHugePageSize, 2 MiB): mmap
// rounds the length up to it; MAP_FIXED addresses, file offsets, the ends
// of munmap, mprotect, madvise and mseal ranges inside such a VMA
// (hugetlb_vm_op_split) and mremap's addresses must be multiples of it
// (EINVAL otherwise); mremap cannot grow such a VMA. The VMAs carry
// VM_HUGETLB|VM_DONTEXPAND, so they never merge, and are never charged to
// the commit limit: huge pages come from a pool of their own (HugePool).
//
// The pool follows Linux's reservation rules. A mapping reserves the huge
// pages it may need when it is made, unless MAP_NORESERVE: a shared
// mapping reserves the pages of the file range not reserved or allocated
// already (the file keeps them until it is gone, whatever is unmapped), a
// private one reserves its whole length for itself. A reservation larger
// than the free, unreserved pages is ENOMEM. A fault takes a page: a
// reserved one if the mapping (or for shared mappings the file) holds a
// reservation for it, else a free unreserved one, else SIGBUS (EFAULT
// from Fault), as is a fault past the end of the file. Unmapping a private
// range frees its pages and gives back the reservations it did not use;
// moving a private VMA hands its reservations to the new VMA and leaves
// the rest of the old one without (move_vma's clear_vma_resv_huge_pages),
// so what stays behind gives nothing back: the kernel leaks those
// reservations too. MADV_DONTNEED frees private pages and, in the VMA that
// reserved them, restores their reservations.
//
// Not modelled: the huge pages a fork child shares with its parent (the
// child's private hugetlb VMAs start with no pages and no reservation),
// surplus pages (vm.nr_overcommit_hugepages), hugetlbfs
// mount size limits (subpools), huge page sizes other than 2 MiB, NUMA
// placement and cgroup limits.

// HugePageSize is the size of the huge pages of hugetlbfs mappings.
const HugePageSize = vfs.DefaultHugePageSize

const (
	hugeMask  = HugePageSize - 1
	hugeOrder = 9 // log2(HugePageSize / PageSize)
	// mapHugeShift is where mmap's flags carry log2 of the huge page size
	// asked for (MAP_HUGE_SHIFT); 0 there means the default size.
	mapHugeShift = 26
)

// HugePool is the machine's pool of huge pages of one size (struct hstate):
// how many are free and how many of the free ones are reserved. Address
// spaces that share a pool (Config.HugePool) share its pages, as the
// processes of one machine do. It is safe for concurrent use.
type HugePool struct {
	mu    sync.Mutex
	free  uint64                      // free_huge_pages
	resv  uint64                      // resv_huge_pages: free pages promised to mappings
	files map[*vfs.Inode]*hugeFileMap // per hugetlbfs inode
	// dying are unlinked MAP_HUGETLB files whose last VMA is gone: the
	// kernel frees them (and their pages and reservations) in the final
	// fput, which runs when the system call returns (task work), so the
	// call that unmapped them still finds their reservations.
	dying []dyingFile
}

type dyingFile struct {
	ino *vfs.Inode
	as  *AddressSpace
	seq uint64 // the write section that dropped the last VMA
}

// hugeFileMap is what the pool knows of one hugetlbfs inode: the huge page
// indices reserved or allocated for shared mappings (its resv_map
// regions), the pages in its page cache, and for an unlinked MAP_HUGETLB
// file the VMAs that still map it.
type hugeFileMap struct {
	region map[uint64]bool
	cache  map[uint64]bool
	vmas   int
}

// hugeVMA is a private hugetlb VMA's state: its pages (shared by the
// pieces a split makes, keyed by huge page index in the file) and, for the
// VMA that made the reservation (HPAGE_RESV_OWNER), the reservation map
// recording which reserved indices were used.
type hugeVMA struct {
	pages *hugePages
	resv  *hugePages // nil: no reservation (MAP_NORESERVE, or moved away)
}

type hugePages struct{ idx map[uint64]bool }

func newHugePages() *hugePages { return &hugePages{idx: map[uint64]bool{}} }

// NewHugePool returns a pool of free huge pages, none reserved.
func NewHugePool(free uint64) *HugePool {
	return &HugePool{free: free, files: map[*vfs.Inode]*hugeFileMap{}}
}

// Stats returns the pool's free pages and how many of them are reserved
// (HugePages_Free and HugePages_Rsvd of /proc/meminfo), counting only
// system calls that have returned.
func (p *HugePool) Stats() (free, reserved uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	free, reserved = p.free, p.resv
	for _, d := range p.dying {
		if m := p.files[d.ino]; m != nil && m.vmas == 0 {
			for i := range m.region {
				if m.cache[i] {
					free++
				} else {
					reserved--
				}
			}
		}
	}
	return free, reserved
}

// available is the number of free pages nobody reserved.
//
// Preconditions: p.mu is held.
func (p *HugePool) available() uint64 { return p.free - p.resv }

// file returns the state of a hugetlbfs inode, creating it on first use.
//
// Preconditions: p.mu is held.
func (p *HugePool) file(ino *vfs.Inode) *hugeFileMap {
	m := p.files[ino]
	if m == nil {
		m = &hugeFileMap{region: map[uint64]bool{}, cache: map[uint64]bool{}}
		p.files[ino] = m
	}
	return m
}

// isHugeFile reports a file mapped in huge pages.
func isHugeFile(f *vfs.File) bool { return f != nil && f.Inode().MmapOps() == vfs.MmapHugeTLB }

// hugeAlign rounds x up to a huge page, wrapping to 0 past the top as
// the kernel's ALIGN does.
func hugeAlign(x uint64) uint64 { return (x + hugeMask) &^ hugeMask }

// hugeMmapArgs is ksys_mmap_pgoff's hugetlb part: a hugetlbfs file's
// length is rounded up to its page size; MAP_HUGETLB with another file is
// EINVAL; MAP_HUGETLB anonymous memory gets a new unlinked hugetlbfs file
// of the rounded length (an unknown MAP_HUGE_* size is EINVAL). The caller
// owns the reference to a file created here.
func (as *AddressSpace) hugeMmapArgs(length uint64, flags int, file *vfs.File) (uint64, *vfs.File, bool, error) {
	if flags&MapAnonymous == 0 {
		switch {
		case isHugeFile(file):
			return hugeAlign(length), file, false, nil
		case flags&MapHugeTLB != 0:
			return 0, nil, false, einval
		}
		return length, file, false, nil
	}
	if flags&MapHugeTLB == 0 {
		return length, nil, false, nil
	}
	if log := flags >> mapHugeShift & 0x3f; log != 0 && log != 21 {
		return 0, nil, false, einval // no hstate of that size
	}
	length = hugeAlign(length)
	dev := as.cfg.HugeAnonDev
	if dev == (vfs.Dev{}) {
		dev = vfs.HugeAnonDev
	}
	return length, vfs.NewHugeAnonFile(dev, int64(length)), true, nil
}

// hugeUnmappedArea is hugetlb_get_unmapped_area: MAP_FIXED addresses must
// be huge page aligned; a hint is rounded up to one and taken when free;
// otherwise the top-down search looks for an aligned gap below the mmap
// base and then, failing that, bottom-up above it.
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) hugeUnmappedArea(addr, length uint64, flags int) (uint64, error) {
	if length&hugeMask != 0 {
		return 0, einval
	}
	if length > TaskSize {
		return 0, enomem
	}
	if flags&MapFixed != 0 {
		if addr&hugeMask != 0 {
			return 0, einval
		}
		return addr, nil
	}
	if addr != 0 {
		addr = hugeAlign(addr)
		if addr != 0 && addr <= TaskSize-length {
			if v := as.findVMA(addr); v == nil || addr+length <= as.vmStartGap(v) {
				return addr, nil
			}
		}
	}
	low := max(PageSize, as.cfg.MmapMinAddr)
	slack := uint64(hugeMask &^ (PageSize - 1)) // align_mask
	if a, ok := as.highestGap(low, as.cfg.MmapBase, length+slack); ok {
		// The gap found holds length plus the alignment slack; take its
		// highest aligned start, as vm_unmapped_area does with align_mask.
		return (a + slack) &^ hugeMask, nil
	}
	for a := hugeAlign(as.cfg.MmapBase); a <= TaskSize-length; {
		v := as.findVMA(a)
		if v == nil || a+length <= as.vmStartGap(v) {
			return a, nil
		}
		a = hugeAlign(v.End())
		if a == 0 {
			break
		}
	}
	return 0, enomem
}

// maySplit is the vm_ops->may_split hook: a hugetlb VMA splits only at a
// huge page boundary (hugetlb_vm_op_split).
func maySplit(v *VMA, addr uint64) error {
	if v.Flags()&VMHugeTLB != 0 && addr&hugeMask != 0 {
		return einval
	}
	return nil
}

// hugeFileMmap is hugetlbfs_file_mmap for a VMA about to be created over
// [addr, addr+length) at page offset pgoff: the offset must be huge page
// aligned and small enough for a loff_t, and the pages are reserved
// (unless VM_NORESERVE): ENOMEM when the pool cannot promise them. A
// writable mapping extends the file to cover it. It returns the private
// state for the VMA (nil for shared ones).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) hugeFileMmap(file *vfs.File, length, pgoff uint64, vmFlags VMFlags) (*hugeVMA, error) {
	const loffMax = ((1 << (PageShift + 1)) - 1) << (64 - (PageShift + 1)) // PGOFF_LOFFT_MAX
	if pgoff&loffMax != 0 || pgoff&(1<<hugeOrder-1) != 0 {
		return nil, einval
	}
	end := length + pgoff<<PageShift
	if int64(end) < int64(length) {
		return nil, einval // the end does not fit a loff_t
	}
	from, to := pgoff>>hugeOrder, end/HugePageSize
	p := as.cfg.HugePool
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settle(as)
	var h *hugeVMA
	if vmFlags&VMMayShare == 0 {
		h = &hugeVMA{pages: newHugePages()}
	}
	if vmFlags&VMNoReserve == 0 {
		if h != nil {
			if to-from > p.available() {
				return nil, enomem
			}
			p.resv += to - from
			h.resv = newHugePages()
		} else {
			m := p.file(file.Inode())
			var chg uint64
			for i := from; i < to; i++ {
				if !m.region[i] {
					chg++
				}
			}
			if chg > p.available() {
				return nil, enomem
			}
			for i := from; i < to; i++ {
				m.region[i] = true
			}
			p.resv += chg
		}
	}
	if ino := file.Inode(); vmFlags&VMWrite != 0 && ino.Size() < int64(end) {
		ino.SetSize(int64(end))
	}
	return h, nil
}

// hugeIndex is the huge page index, in the file, of addr inside v.
func hugeIndex(v *VMA, addr uint64) uint64 {
	return (v.Pgoff() + (addr-v.Start())>>PageShift) >> hugeOrder
}

// hugeFault is a fault on a hugetlb VMA (hugetlb_fault): EFAULT where
// Linux sends SIGBUS (past the end of the file, or no huge page to be had).
//
// Preconditions: the mmap lock is held, either mode.
func (as *AddressSpace) hugeFault(v *VMA, addr uint64, write bool) error {
	p := as.cfg.HugePool
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settle(as)
	ino := v.File().Inode()
	m := p.file(ino)
	idx := hugeIndex(v, addr)
	beyond := idx >= uint64(ino.Size())/HugePageSize
	h := v.huge.Load()
	if v.Flags()&VMMayShare != 0 || h == nil {
		if m.cache[idx] {
			return nil
		}
		if beyond {
			return efault
		}
		switch {
		case m.region[idx]: // reserved for the file
			p.resv--
		case p.available() > 0:
			m.region[idx] = true
		default:
			return efault
		}
		p.free--
		m.cache[idx] = true
		return nil
	}
	switch {
	case h.pages.idx[idx]:
		return nil
	case m.cache[idx] && !write:
		return nil // the file's page, mapped read-only until written
	case !m.cache[idx] && beyond:
		return efault
	}
	switch {
	case h.resv != nil && !h.resv.idx[idx]:
		h.resv.idx[idx] = true
		p.resv--
	case p.available() > 0:
	default:
		return efault
	}
	p.free--
	h.pages.idx[idx] = true
	return nil
}

// hugePopulate faults [start, end) of v in as MAP_POPULATE and MAP_LOCKED
// do, one huge page at a time, stopping quietly at the first failure.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) hugePopulate(v *VMA, start, end uint64) {
	if v.Flags()&vmAccessFlags != 0 {
		_ = as.hugePopulateErr(v, start, end)
	}
}

// hugePopulateErr faults [start, end) of v in and reports the first
// failure (mlock's populate turns it into ENOMEM).
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) hugePopulateErr(v *VMA, start, end uint64) error {
	write := v.Flags()&(VMWrite|VMShared) == VMWrite
	for a := start &^ hugeMask; a < end; a += HugePageSize {
		if err := as.hugeFault(v, max(a, v.Start()), write); err != nil {
			return err
		}
	}
	return nil
}

// hugeClose is hugetlb_vm_op_close and the unmap of v's pages: a private
// VMA frees its pages and returns the reservations it holds and did not
// use.
//
// Preconditions: the mmap write lock is held; v is being removed.
func (as *AddressSpace) hugeClose(v *VMA) {
	h := v.huge.Load()
	if h == nil {
		return
	}
	as.hugeDiscard(v, h, v.Start(), v.End(), false)
}

// hugeDiscard frees v's private pages in [start, end). With restore (a
// zap that leaves the VMA, MADV_DONTNEED) the owner's reservations for
// them come back; otherwise (the range is going away) the owner returns
// every reservation of the range it did not use.
func (as *AddressSpace) hugeDiscard(v *VMA, h *hugeVMA, start, end uint64, restore bool) {
	p := as.cfg.HugePool
	p.mu.Lock()
	defer p.mu.Unlock()
	from, to := hugeIndex(v, start), hugeIndex(v, end)
	for i := from; i < to; i++ {
		if h.pages.idx[i] {
			delete(h.pages.idx, i)
			p.free++
			if restore && h.resv != nil && h.resv.idx[i] {
				delete(h.resv.idx, i)
				p.resv++
			}
		}
		if !restore && h.resv != nil {
			if h.resv.idx[i] {
				delete(h.resv.idx, i)
			} else {
				p.resv--
			}
		}
	}
}

// hugeMoved splits the private state of v when [old, old+length) of it
// moves to the new VMA nv: the pages of the range go with nv, and so does
// v's reservation map, which v loses (move_vma's
// clear_vma_resv_huge_pages): the parts of v left behind return nothing
// when they are unmapped.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) hugeMoved(v, nv *VMA, old, length uint64) {
	h := v.huge.Load()
	if h == nil {
		return
	}
	p := as.cfg.HugePool
	p.mu.Lock()
	defer p.mu.Unlock()
	moved := newHugePages()
	for i := hugeIndex(v, old); i < hugeIndex(v, old+length); i++ {
		if h.pages.idx[i] {
			moved.idx[i] = true
			delete(h.pages.idx, i)
		}
	}
	nv.huge.Store(&hugeVMA{pages: moved, resv: h.resv})
	v.huge.Store(&hugeVMA{pages: h.pages})
}

// hugeVMACount counts the VMAs mapping an unlinked MAP_HUGETLB file; when
// the last goes, the file and its pages and reservations go too, once the
// system call has returned (settle).
func (as *AddressSpace) hugeVMACount(f *vfs.File, delta int) {
	ino := f.Inode()
	if !ino.Deleted() {
		return
	}
	p := as.cfg.HugePool
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.file(ino)
	m.vmas += delta
	if m.vmas == 0 {
		p.dying = append(p.dying, dyingFile{ino, as, as.lock.seq.load()})
	}
}

// settle frees the dying files whose system call has returned: all but
// those the current write section of as dropped.
//
// Preconditions: p.mu is held; the mmap lock of as is held, either mode.
func (p *HugePool) settle(as *AddressSpace) {
	seq := as.lock.seq.load()
	kept := p.dying[:0]
	for _, d := range p.dying {
		if d.as == as && d.seq == seq && seq%2 == 1 {
			kept = append(kept, d)
			continue
		}
		m := p.files[d.ino]
		if m == nil || m.vmas > 0 {
			continue
		}
		for i := range m.region {
			if m.cache[i] {
				p.free++
			} else {
				p.resv--
			}
		}
		delete(p.files, d.ino)
	}
	p.dying = kept
}

// hugeRemapAlign is mremap's align_hugetlb: both lengths are rounded up to
// the huge page size, both addresses must be aligned to it, and the VMA
// cannot grow (EINVAL).
func hugeRemapAlign(addr uint64, oldLen, newLen *uint64, newAddr uint64) error {
	*oldLen, *newLen = hugeAlign(*oldLen), hugeAlign(*newLen)
	if addr&hugeMask != 0 || newAddr&hugeMask != 0 || *newLen > *oldLen {
		return einval
	}
	return nil
}

// PageSize is the VMA's page size (vma_kernel_pagesize): the huge page
// size for hugetlb VMAs, PageSize for the rest.
func (i Info) PageSize() uint64 {
	if i.Flags&VMHugeTLB != 0 {
		return HugePageSize
	}
	return PageSize
}
