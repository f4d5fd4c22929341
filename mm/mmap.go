package mm

import "specvma/vfs"

// Mmap is mmap(2): it maps length bytes at addr (a hint, or exact with
// MAP_FIXED / MAP_FIXED_NOREPLACE) with protection prot, backed by file at
// byte offset off, or anonymous memory with MAP_ANONYMOUS (file is then
// ignored). The File is referenced, not consumed: the caller keeps its own
// reference. It returns the address mapped or the errno Linux returns; a
// failed call changes nothing.
func (as *AddressSpace) Mmap(addr, length uint64, prot, flags int, file *vfs.File, off uint64) (uint64, error) {
	// sys_mmap and ksys_mmap_pgoff.
	if off&(PageSize-1) != 0 {
		return 0, einval
	}
	if flags&MapAnonymous != 0 {
		file = nil
	} else if file == nil {
		return 0, ebadf
	}
	length, file, created, err := as.hugeMmapArgs(length, flags, file)
	if err != nil {
		return 0, err
	}
	if created {
		defer file.Put() // the mapping holds its own reference
	}
	as.lock.WriteLock()
	defer as.lock.WriteUnlock()
	return as.doMmap(addr, length, prot, flags, file, off>>PageShift)
}

// doMmap is do_mmap: validation, flag computation, placement, then mmapRegion.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) doMmap(addr, length uint64, prot, flags int, file *vfs.File, pgoff uint64) (uint64, error) {
	if length == 0 {
		return 0, einval
	}
	if flags&MapFixedNoReplace != 0 {
		flags |= MapFixed
	}
	if flags&MapFixed == 0 {
		addr &= PageMask // round_hint_to_min
		if floor := max(as.cfg.MmapMinAddr, as.cfg.LSMMmapMinAddr); addr != 0 && addr < floor {
			addr = floor
		}
	}
	length, ok := pageAlign(length)
	if !ok || length == 0 {
		return 0, enomem
	}
	if pgoff+length>>PageShift < pgoff {
		return 0, eoverflow
	}
	if as.mapCount() > as.cfg.MaxMapCount {
		return 0, enomem
	}
	vmFlags := protToVM(prot) | mapToVM(flags) | as.defFlags | VMMayRead | VMMayWrite | VMMayExec
	addr, err := as.getUnmappedArea(file, addr, length, pgoff, flags)
	if err != nil {
		return 0, err
	}
	if flags&MapFixedNoReplace != 0 {
		if v := as.findVMA(addr); v != nil && v.Start() < addr+length {
			return 0, eexist
		}
	}
	if flags&MapLocked != 0 && !as.canDoMlock() {
		return 0, eperm
	}
	if !as.mlockFutureOK(vmFlags, length) {
		return 0, eagain
	}
	if file != nil {
		if vmFlags, err = fileMapFlags(file, length, pgoff, prot, flags, vmFlags); err != nil {
			return 0, err
		}
	} else {
		switch flags & MapType {
		case MapShared:
			if vmFlags&VMGrowsDown != 0 {
				return 0, einval
			}
			pgoff = 0
			vmFlags |= VMShared | VMMayShare
		case MapPrivate:
			pgoff = addr >> PageShift
		default:
			return 0, einval
		}
	}
	if flags&MapNoReserve != 0 && (as.honoursNoReserve() || isHugeFile(file)) {
		vmFlags |= VMNoReserve
	}
	v, err := as.mmapRegion(file, addr, length, vmFlags, pgoff)
	if err != nil {
		return 0, err
	}
	// do_mmap asks for a populate when the flags have VM_LOCKED; the
	// populate skips VMAs with VM_LOCKONFAULT, which hugetlb VMAs lost
	// with VM_LOCKED (mmapRegion), so they are faulted in all the same.
	locked := vmFlags&VMLocked != 0 && (vmFlags&VMLockOnFault == 0 || v.Flags()&VMHugeTLB != 0)
	if locked || flags&(MapPopulate|MapNonBlock) == MapPopulate {
		as.populate(v, addr, addr+length)
	}
	as.probeMapped(v)
	return addr, nil
}

// mapToVM is calc_vm_flag_bits.
func mapToVM(flags int) VMFlags {
	var f VMFlags
	if flags&MapGrowsDown != 0 {
		f |= VMGrowsDown
	}
	if flags&MapLocked != 0 {
		f |= VMLocked
	}
	if flags&MapStack != 0 {
		f |= VMNoHugePage
	}
	return f
}

// fileMapFlags applies do_mmap's checks and flag rules for a file mapping.
func fileMapFlags(file *vfs.File, length, pgoff uint64, prot, flags int, vmFlags VMFlags) (VMFlags, error) {
	if limit := file.Inode().MaxMapEnd(); length > limit || pgoff > (limit-length)>>PageShift {
		return 0, eoverflow // file_mmap_ok
	}
	switch flags & MapType {
	case MapShared, MapSharedValidate:
		if flags&MapType == MapShared {
			flags &= legacyMapMask
		}
		if flags&^legacyMapMask != 0 {
			return 0, eopnotsupp
		}
		if prot&ProtWrite != 0 && !file.Writable() {
			return 0, eacces
		}
		if file.Flags()&vfs.OAppend != 0 && file.Writable() {
			return 0, eacces
		}
		vmFlags |= VMShared | VMMayShare
		if !file.Writable() {
			vmFlags &^= VMMayWrite | VMShared
		}
		fallthrough
	case MapPrivate:
		if !file.Readable() {
			return 0, eacces
		}
		if file.NoExec() { // path_noexec
			if vmFlags&VMExec != 0 {
				return 0, eperm
			}
			vmFlags &^= VMMayExec
		}
		if !file.Inode().Mappable() {
			return 0, enodev
		}
		if vmFlags&VMGrowsDown != 0 {
			return 0, einval
		}
		return vmFlags, nil
	}
	return 0, einval
}

// accountable reports a private writable mapping that is charged against
// the commit limit and so carries VM_ACCOUNT (accountable_mapping).
func accountable(f VMFlags) bool { return f&(VMNoReserve|VMShared|VMWrite) == VMWrite }

// mmapRegion is __mmap_region: unmap what the range covers, then merge with
// a neighbour or create a new VMA. It returns the VMA covering addr.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) mmapRegion(file *vfs.File, addr, length uint64, vmFlags VMFlags, pgoff uint64) (*VMA, error) {
	end := addr + length
	// The new VMA (or the neighbour it merges into) is stored over what the
	// range held in one version: a reader never sees the range empty.
	as.beginStore()
	defer as.endStore()
	huge := isHugeFile(file)
	shmem := vmFlags&VMShared != 0 && (file == nil || file.Inode().MmapOps() == vfs.MmapZero)
	// What the range covers is gathered first (split at its ends, sealing
	// and hugetlb split rules checked); a failure leaves those splits.
	gathered, err := as.gatherUnmap(addr, end)
	if err != nil {
		return nil, err
	}
	var replaced uint64 // what the range covers, which it gives back
	for _, v := range gathered {
		replaced += v.pages()
	}
	if !as.mayExpandVM(vmFlags, length>>PageShift-replaced) {
		return nil, enomem
	}
	if accountable(vmFlags) && !huge {
		if err := as.enoughMemory(length>>PageShift - as.accountedPages(addr, end)); err != nil {
			return nil, err
		}
		vmFlags |= VMAccount
	}
	as.removeGathered(gathered, addr, end)
	// A new shmem object is charged (shmem_acct_size) after the range was
	// cleared: when that fails, what MAP_FIXED replaced is gone for good
	// (the kernel leaves the hole rather than restore torn-down mappings).
	// So does a hugetlbfs file's mmap that refuses the offset or cannot
	// reserve its pages.
	if shmem && vmFlags&VMNoReserve == 0 {
		if err := as.enoughMemory(length >> PageShift); err != nil {
			return nil, err
		}
	}
	var hv *hugeVMA
	if huge {
		vmFlags |= VMHugeTLB | VMDontExpand
		vmFlags &^= vmLockedMask // mmap_region: hugetlb VMAs are never VM_LOCKED
		if hv, err = as.hugeFileMmap(file, length, pgoff, vmFlags); err != nil {
			return nil, err
		}
	}
	if shmem {
		// Shared anonymous memory and shared /dev/zero: a new shmem object
		// (shmem_zero_setup); the offset of a /dev/zero mapping stays.
		file = vfs.NewFile("/dev/zero", vfs.NewShmemInode(int64(length)), vfs.ORdwr)
	} else {
		if file != nil {
			file.Get()
		}
		p := proposal{start: addr, end: end, pgoff: pgoff, flags: vmFlags, file: file}
		if v := as.mergeNew(&p); v != nil {
			if file != nil {
				file.Put()
			}
			return v, nil
		}
	}
	v := as.newVMA(addr, end, pgoff, vmFlags, file)
	v.huge.Store(hv)
	as.link(v)
	return v, nil
}

// populate faults the range in as MAP_POPULATE does: writable private
// memory is written, which gives it an anon_vma; the rest is only read,
// which gives private anonymous memory one too (faultIn); inaccessible
// memory is skipped.
//
// Preconditions: the mmap write lock is held.
func (as *AddressSpace) populate(v *VMA, start, end uint64) {
	if v.Flags()&VMHugeTLB != 0 {
		as.hugePopulate(v, start, end)
		return
	}
	f := v.Flags()
	if f&vmAccessFlags == 0 {
		return
	}
	if f&(VMWrite|VMShared) == VMWrite || v.isAnon() {
		as.anonVMAPrepare(v)
	}
}
