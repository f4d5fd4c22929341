package mm

// Linux's constants, with Linux's values, so that flags read from or written
// to the real kernel mean the same here.

// Page geometry and limits (x86-64, 4-level paging).
const (
	PageSize  = 4096
	PageShift = 12
	PageMask  = ^uint64(PageSize - 1)
	// TaskSize is the end of the 47-bit user address space (TASK_SIZE_MAX).
	TaskSize = 1<<47 - PageSize
	// DefaultMmapMinAddr is vm.mmap_min_addr's usual value.
	DefaultMmapMinAddr = 0x10000
	// DefaultMaxMapCount is vm.max_map_count's default.
	DefaultMaxMapCount = 65530
	// StackGuardGap is the default stack_guard_gap (256 pages).
	StackGuardGap = 256 << PageShift
)

// VMFlags are a VMA's vm_flags.
type VMFlags uint64

// vm_flags bits.
const (
	VMRead        VMFlags = 0x00000001
	VMWrite       VMFlags = 0x00000002
	VMExec        VMFlags = 0x00000004
	VMShared      VMFlags = 0x00000008
	VMMayRead     VMFlags = 0x00000010
	VMMayWrite    VMFlags = 0x00000020
	VMMayExec     VMFlags = 0x00000040
	VMMayShare    VMFlags = 0x00000080
	VMGrowsDown   VMFlags = 0x00000100
	VMPFNMap      VMFlags = 0x00000400
	VMLocked      VMFlags = 0x00002000
	VMIO          VMFlags = 0x00004000
	VMSeqRead     VMFlags = 0x00008000
	VMRandRead    VMFlags = 0x00010000
	VMDontCopy    VMFlags = 0x00020000
	VMDontExpand  VMFlags = 0x00040000
	VMLockOnFault VMFlags = 0x00080000
	VMAccount     VMFlags = 0x00100000
	VMNoReserve   VMFlags = 0x00200000
	VMHugeTLB     VMFlags = 0x00400000
	VMWipeOnFork  VMFlags = 0x02000000
	VMDontDump    VMFlags = 0x04000000
	VMSoftDirty   VMFlags = 0x08000000
	VMMixedMap    VMFlags = 0x10000000
	VMHugePage    VMFlags = 0x20000000
	VMNoHugePage  VMFlags = 0x40000000
	VMMergeable   VMFlags = 0x80000000
	// VMSealed is mseal's bit (a high bit of vm_flags on 64-bit kernels).
	VMSealed VMFlags = 1 << 42

	vmLockedMask = VMLocked | VMLockOnFault

	// VMSpecial VMAs never merge.
	VMSpecial = VMIO | VMDontExpand | VMPFNMap | VMMixedMap
	// vmIgnoreMerge bits may differ between VMAs that merge.
	vmIgnoreMerge = VMSoftDirty
	vmAccessFlags = VMRead | VMWrite | VMExec
)

// Protection bits (PROT_*).
const (
	ProtNone      = 0x0
	ProtRead      = 0x1
	ProtWrite     = 0x2
	ProtExec      = 0x4
	ProtSem       = 0x8
	ProtGrowsDown = 0x01000000
	ProtGrowsUp   = 0x02000000
)

// mmap flags (MAP_*).
const (
	MapShared         = 0x01
	MapPrivate        = 0x02
	MapSharedValidate = 0x03
	MapType           = 0x0f
	MapFixed          = 0x10
	MapAnonymous      = 0x20
	Map32Bit          = 0x40
	MapGrowsDown      = 0x0100
	MapDenyWrite      = 0x0800
	MapExecutable     = 0x1000
	MapLocked         = 0x2000
	MapNoReserve      = 0x4000
	MapPopulate       = 0x8000
	MapNonBlock       = 0x10000
	MapStack          = 0x20000
	MapHugeTLB        = 0x40000
	MapSync           = 0x80000
	MapFixedNoReplace = 0x100000
	MapUninitialized  = 0x4000000
	mapHugeMask       = 0x3f << 26
	// MapHuge2MB and MapHuge1GB ask MAP_HUGETLB for a huge page size
	// (log2 of it in the bits from 26: MAP_HUGE_SHIFT).
	MapHuge2MB = 21 << 26
	MapHuge1GB = 30 << 26

	// legacyMapMask: the flags MAP_SHARED and MAP_PRIVATE always accepted;
	// MAP_SHARED_VALIDATE refuses anything else with EOPNOTSUPP, including
	// MAP_FIXED_NOREPLACE, which came later.
	legacyMapMask = MapShared | MapPrivate | MapFixed | MapAnonymous | MapDenyWrite |
		MapExecutable | MapUninitialized | MapGrowsDown | MapLocked | MapNoReserve |
		MapPopulate | MapNonBlock | MapStack | MapHugeTLB | Map32Bit | mapHugeMask
)

// mremap flags (MREMAP_*).
const (
	MremapMayMove   = 1
	MremapFixed     = 2
	MremapDontUnmap = 4
)

// protToVM is calc_vm_prot_bits.
func protToVM(prot int) VMFlags {
	return VMFlags(prot & (ProtRead | ProtWrite | ProtExec))
}

func pageAligned(x uint64) bool { return x&(PageSize-1) == 0 }

// pageAlign rounds up to a page; ok is false when that overflows.
func pageAlign(x uint64) (uint64, bool) {
	r := (x + PageSize - 1) & PageMask
	return r, r >= x
}
