package mm_test

import (
	"fmt"
	"os"

	"specvma/mm"
	"specvma/vfs"
)

// A file to map: an inode with a fixed identity (device 08:01, inode 42),
// so the output does not depend on the machine. vfs.OpenPath opens a real
// file instead.
func demoFile() *vfs.File {
	ino := vfs.InodeFor(vfs.InodeID{Dev: vfs.Dev{Major: 8, Minor: 1}, Ino: 42})
	return vfs.NewFile("/usr/lib/libdemo.so", ino, os.O_RDONLY)
}

// Build an address space and map anonymous memory and a file into it, then
// list its VMAs.
func ExampleAddressSpace_Mmap() {
	as := mm.New(mm.Config{})
	defer as.Exit()

	heap, _ := as.Mmap(0x200000000000, 0x4000, mm.ProtRead|mm.ProtWrite,
		mm.MapPrivate|mm.MapAnonymous, nil, 0)
	f := demoFile()
	// The mapping holds its own reference to the file: drop ours after mmap.
	text, _ := as.Mmap(0x200000010000, 0x3000, mm.ProtRead|mm.ProtExec, mm.MapPrivate, f, 0x1000)
	f.Put()
	// mprotect in the middle of the heap splits it into three VMAs.
	_ = as.Mprotect(heap+0x1000, 0x1000, mm.ProtRead)
	// Errors are Linux's errno values.
	_, err := as.Mmap(text, 0x1000, mm.ProtRead, mm.MapPrivate|mm.MapAnonymous|mm.MapFixedNoReplace, nil, 0)
	fmt.Println("MAP_FIXED_NOREPLACE over the text:", err)

	for _, v := range as.VMAs() {
		what := "anonymous"
		if v.File != nil {
			what = fmt.Sprintf("%s at offset %#x", v.Path, v.Pgoff*mm.PageSize)
		}
		fmt.Printf("%x-%x writable=%v %s\n", v.Start, v.End, v.Flags&mm.VMWrite != 0, what)
	}
	// Output:
	// MAP_FIXED_NOREPLACE over the text: EEXIST
	// 200000000000-200000001000 writable=true anonymous
	// 200000001000-200000002000 writable=false anonymous
	// 200000002000-200000004000 writable=true anonymous
	// 200000010000-200000013000 writable=false /usr/lib/libdemo.so at offset 0x1000
}

// Resolve an address to its file page with each of the four strategies.
// The lockless ones (mmseq, vmaseq, vmalock) fall back to the mmap read
// lock when a writer interferes, and say why; with no writer they take the
// fast path.
func ExampleResolve() {
	as := mm.New(mm.Config{})
	defer as.Exit()
	f := demoFile()
	base, _ := as.Mmap(0x200000010000, 0x3000, mm.ProtRead|mm.ProtExec, mm.MapPrivate, f, 0x1000)
	f.Put()

	type page struct {
		ino uint64
		off uint64
	}
	// find runs on what the strategy read; on a lockless path it may see a
	// stale mapping, so it only reads, and its answer counts only once the
	// read is validated.
	find := func(m mm.Mapping) (page, bool) {
		if m.Inode == nil {
			return page{}, false
		}
		return page{m.Inode.ID().Ino, m.Offset}, true
	}
	for _, s := range mm.Strategies() {
		p, ok, why := mm.Resolve(as, base+0x1234, s, find)
		fmt.Printf("%-8v inode %d offset %#x found=%v via %v\n", s, p.ino, p.off, ok, why)
	}
	_, ok, _ := mm.Resolve(as, 0x300000000000, mm.MMSeq, find)
	fmt.Println("unmapped address found:", ok)
	// Output:
	// locked   inode 42 offset 0x2234 found=true via fast_path
	// mmseq    inode 42 offset 0x2234 found=true via fast_path
	// vmaseq   inode 42 offset 0x2234 found=true via fast_path
	// vmalock  inode 42 offset 0x2234 found=true via fast_path
	// unmapped address found: false
}
