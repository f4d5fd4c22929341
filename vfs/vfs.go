// Package vfs models the two kernel objects a mapping points through: the
// open file description (struct file, here File) and the inode it opens
// (struct inode, here Inode).
//
// Lifetimes and reuse. Inodes are interned by identity (device and inode
// number) and live as long as the process; they are what uprobes key on.
// Files are reference counted and come from a type-stable cache
// (internal/slab): when the last reference is dropped the File's memory is
// handed to the next Open, at once. A VMA holds a reference on its File, so a
// File named by a VMA cannot be reused while that VMA maps it; but a reader
// that loaded vm_file without a lock may find, by the time it reads f_inode,
// a different open file entirely. Every field such a reader touches is a
// sync/atomic value.
//
// What a mapping of the file does. An inode records its file type, what
// its mmap does (MmapOps: a regular file's page cache, no mmap at all for
// directories, FIFOs, most devices and procfs/sysfs files, /dev/zero's
// shmem-or-anonymous behaviour, or hugetlbfs's huge pages; NewHugeAnonFile
// makes the unlinked hugetlbfs file behind MAP_HUGETLB memory) and whether its filesystem places mappings
// for transparent huge pages; OpenPath derives them from stat and statfs.
// A File's path is the name /proc/PID/maps prints: CanonicalPath resolves
// it as the kernel's path walk and d_path would.
package vfs

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"specvma/errno"
	"specvma/internal/slab"
)

// Open flags, Linux's values.
const (
	ORdonly  = 0x0
	OWronly  = 0x1
	ORdwr    = 0x2
	OAccmode = 0x3
	OAppend  = 0x400
)

// Dev is a device number as /proc/PID/maps prints it (major:minor).
type Dev struct{ Major, Minor uint32 }

// ShmemDev is the device of the internal shmem mount that backs shared
// anonymous memory.
var ShmemDev = Dev{0, 1}

// InodeID is an inode's identity: what the uprobe registry keys on.
type InodeID struct {
	Dev Dev
	Ino uint64
}

// Type is an inode's file type (the S_IFMT bits of its mode).
type Type uint32

// The file types. The zero Type is a regular file.
const (
	Regular Type = iota
	Directory
	CharDevice
	BlockDevice
	FIFO
	Socket
)

// MmapOps says what the file's mmap does: the f_op->mmap and
// f_op->get_unmapped_area the kernel would call.
type MmapOps uint32

// The kinds of mmap a file can have. The zero MmapOps is a regular file's.
const (
	// MmapPageCache maps the file's pages; an access past the end of the
	// file is SIGBUS.
	MmapPageCache MmapOps = iota
	// MmapNone: the file has no mmap (directories, FIFOs, /dev/null, most
	// procfs and sysfs files); mmap fails with ENODEV.
	MmapNone
	// MmapZero is /dev/zero: a shared mapping becomes a new shmem object
	// ("/dev/zero (deleted)" on 00:01), a private one anonymous memory
	// that still names /dev/zero in maps.
	MmapZero
	// MmapHugeTLB is a hugetlbfs file (hugetlbfs_file_mmap): mappings are
	// made of huge pages (Inode.HugePageSize), taken from the machine's
	// pool of huge pages, and lengths, addresses and offsets are rounded to
	// or checked against the huge page size.
	MmapHugeTLB
)

// DefaultHugePageSize is x86-64's default huge page size (2 MiB): the page
// size of hugetlbfs files and of MAP_HUGETLB mappings.
const DefaultHugePageSize = 2 << 20

// Inode is an inode: an identity plus the attributes mappings care about.
type Inode struct {
	id      InodeID
	size    atomic.Int64
	deleted atomic.Bool
	typ     atomic.Uint32 // Type
	mmapOps atomic.Uint32 // MmapOps
	thp     atomic.Bool
}

// HugePageSize is the page size of a hugetlbfs inode, 0 for any other.
func (i *Inode) HugePageSize() uint64 {
	if i.MmapOps() == MmapHugeTLB {
		return DefaultHugePageSize
	}
	return 0
}

// ID returns the inode's identity.
func (i *Inode) ID() InodeID { return i.id }

// Size is the file size in bytes (it decides where a mapping's access raises SIGBUS).
func (i *Inode) Size() int64 { return i.size.Load() }

// SetSize records a new file size.
func (i *Inode) SetSize(n int64) { i.size.Store(n) }

// Deleted reports whether the inode has no names left (maps shows " (deleted)").
func (i *Inode) Deleted() bool { return i.deleted.Load() }

// Mappable reports whether the file supports mmap (a directory does not:
// its f_op has no mmap, and mmap fails with ENODEV).
func (i *Inode) Mappable() bool { return i.MmapOps() != MmapNone }

// Type returns the file type.
func (i *Inode) Type() Type { return Type(i.typ.Load()) }

// SetType records the file type.
func (i *Inode) SetType(t Type) { i.typ.Store(uint32(t)) }

// MmapOps returns what the file's mmap does.
func (i *Inode) MmapOps() MmapOps { return MmapOps(i.mmapOps.Load()) }

// SetMmapOps records what the file's mmap does.
func (i *Inode) SetMmapOps(m MmapOps) { i.mmapOps.Store(uint32(m)) }

// THPAligned reports that the file's filesystem places mappings with
// thp_get_unmapped_area (ext4 and xfs regular files): a mapping that
// covers a whole 2 MiB-aligned stretch of the file is placed so that the
// stretch is 2 MiB-aligned in memory too, unless its hint is free.
func (i *Inode) THPAligned() bool { return i.thp.Load() }

// SetTHPAligned records whether the filesystem aligns mappings for THP.
func (i *Inode) SetTHPAligned(v bool) { i.thp.Store(v) }

// MaxMapEnd is the largest file offset a mapping may reach
// (file_mmap_size_max): MAX_LFS_FILESIZE for regular files, block devices
// and sockets, the whole unsigned range for other files. Beyond it mmap
// fails with EOVERFLOW.
func (i *Inode) MaxMapEnd() uint64 {
	switch i.Type() {
	case Regular, BlockDevice, Socket:
		return 1<<63 - 1
	}
	return ^uint64(0)
}

// SetDeleted marks the inode unlinked or linked.
func (i *Inode) SetDeleted(d bool) { i.deleted.Store(d) }

var inodes sync.Map // InodeID -> *Inode

// InodeFor returns the one Inode with identity id, creating it on first use.
func InodeFor(id InodeID) *Inode {
	if v, ok := inodes.Load(id); ok {
		return v.(*Inode)
	}
	v, _ := inodes.LoadOrStore(id, &Inode{id: id})
	return v.(*Inode)
}

var shmemIno atomic.Uint64

// NewShmemInode creates the inode of a fresh shmem object of size bytes, as
// shared anonymous mmap does: device 00:01, an inode number of its own, no
// name ("/dev/zero (deleted)").
func NewShmemInode(size int64) *Inode {
	ino := InodeFor(InodeID{Dev: ShmemDev, Ino: 1<<20 + shmemIno.Add(1)})
	ino.SetSize(size)
	ino.SetDeleted(true)
	return ino
}

// HugeAnonDev is the default device of the kernel's internal hugetlbfs
// mount, which backs MAP_HUGETLB anonymous memory
// ("/anon_hugepage (deleted)"); the real minor number depends on the order
// in which the kernel mounted its internal filesystems at boot.
var HugeAnonDev = Dev{0, 0x11}

var hugeAnonIno atomic.Uint64

// NewHugeAnonFile creates the file behind a MAP_HUGETLB anonymous mapping of
// size bytes (hugetlb_file_setup): an unlinked hugetlbfs inode of its own on
// device dev, opened read-write, that /proc/PID/maps names
// "/anon_hugepage (deleted)".
func NewHugeAnonFile(dev Dev, size int64) *File {
	ino := InodeFor(InodeID{Dev: dev, Ino: 1<<21 + hugeAnonIno.Add(1)})
	ino.SetSize(size)
	ino.SetDeleted(true)
	ino.SetType(Regular)
	ino.SetMmapOps(MmapHugeTLB)
	return NewFile("/anon_hugepage", ino, ORdwr)
}

// File is an open file description (struct file). Its path is the one
// /proc/PID/maps prints (d_path): absolute, with symbolic links, ".", ".."
// and repeated slashes resolved when the file was opened by OpenPath.
type File struct {
	inode  atomic.Pointer[Inode]
	path   atomic.Pointer[string]
	flags  atomic.Int32
	refs   atomic.Int64
	gen    atomic.Uint64
	noexec atomic.Bool
}

var files slab.Cache[File]

// NewFile opens inode under path with the given open flags: a new open file
// description holding one reference. Its memory may be a File freed earlier.
func NewFile(path string, inode *Inode, flags int) *File {
	f := files.Alloc()
	f.gen.Add(1)
	f.path.Store(&path)
	f.flags.Store(int32(flags))
	f.refs.Store(1)
	f.noexec.Store(false)
	f.inode.Store(inode) // last: a reader that sees the new inode sees the rest
	return f
}

// OpenPath opens a file on disk the way `specvma run` does: read-write when
// the file allows it, read-only otherwise. Device, inode, file type and what
// its mmap does come from stat and statfs; the File's path is the resolved,
// absolute one (CanonicalPath), as the kernel's d_path would print it.
func OpenPath(path string) (*File, error) {
	return openPath(path)
}

// CanonicalPath is the name d_path gives a file opened by path: absolute,
// every symbolic link followed where the walk meets it (so "link/.." is
// the parent of the link's target, not the directory holding the link),
// "." and repeated slashes gone. A path that cannot be walked (a missing
// component, a loop) is made absolute and cleaned only.
func CanonicalPath(path string) string {
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return filepath.Clean(path)
		}
		path = wd + "/" + path
	}
	if r, ok := walkPath(path); ok {
		return r
	}
	return filepath.Clean(path)
}

// walkPath resolves an absolute path component by component, as the
// kernel's path walk does.
func walkPath(path string) (string, bool) {
	const maxLinks = 40 // MAXSYMLINKS
	resolved, rest, links := "/", path, 0
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(strings.TrimLeft(rest, "/"), "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, comp)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", false
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", false
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", false
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		rest = target + "/" + rest
	}
	return resolved, true
}

// Inode returns the file's inode (f_inode).
func (f *File) Inode() *Inode { return f.inode.Load() }

// Path returns the path the file was opened by.
func (f *File) Path() string { return *f.path.Load() }

// Flags returns the open flags.
func (f *File) Flags() int { return int(f.flags.Load()) }

// Readable reports FMODE_READ.
func (f *File) Readable() bool { return f.Flags()&OAccmode != OWronly }

// Writable reports FMODE_WRITE.
func (f *File) Writable() bool { a := f.Flags() & OAccmode; return a == OWronly || a == ORdwr }

// NoExec reports that the file was opened on a noexec mount (path_noexec):
// it cannot be mapped executable.
func (f *File) NoExec() bool { return f.noexec.Load() }

// SetNoExec records whether the file's mount is noexec.
func (f *File) SetNoExec(v bool) { f.noexec.Store(v) }

// Generation counts how many times this File's memory has been handed out;
// tests use it to tell reuse from identity.
func (f *File) Generation() uint64 { return f.gen.Load() }

// Get takes a reference (get_file); the caller must already hold one.
func (f *File) Get() *File {
	if f.refs.Add(1) <= 1 {
		panic("vfs: Get on a File with no references")
	}
	return f
}

// TryGet takes a reference unless the count is already zero (the try-get
// of get_file_rcu): a lockless reader pins a File it found this way and
// then checks that the pointer it followed still leads to it.
func (f *File) TryGet() bool {
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Put drops a reference (fput); the last one frees the File for reuse.
func (f *File) Put() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		files.Free(f)
	case n < 0:
		panic("vfs: File reference count underflow")
	}
}

// Refs returns the reference count (for tests and diagnostics).
func (f *File) Refs() int64 { return f.refs.Load() }

// LiveFiles reports how many Files are open now, how many were ever created,
// and how many opens reused freed memory.
func LiveFiles() (live, created, reused int64) { return files.Stats() }

// errnoOf maps an os error to the errno Linux's open would give.
func errnoOf(err error) error {
	if e, ok := underlyingErrno(err); ok {
		return e
	}
	return errno.ENOENT
}
