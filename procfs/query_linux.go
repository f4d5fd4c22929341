//go:build linux

package procfs

import (
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"specvma/errno"
)

// procmapQuery is struct procmap_query (include/uapi/linux/fs.h), 104 bytes.
type procmapQuery struct {
	Size        uint64
	QueryFlags  uint64
	QueryAddr   uint64
	VMAStart    uint64
	VMAEnd      uint64
	VMAFlags    uint64
	VMAPageSize uint64
	VMAOffset   uint64
	Inode       uint64
	DevMajor    uint32
	DevMinor    uint32
	VMANameSize uint32
	BuildIDSize uint32
	VMANameAddr uint64
	BuildIDAddr uint64
}

// procmapQueryCmd is PROCMAP_QUERY: _IOWR(PROCFS_IOCTL_MAGIC 'f', 17,
// struct procmap_query).
const procmapQueryCmd = 3<<30 | QuerySize<<16 | 'f'<<8 | 17

var _ [QuerySize - unsafe.Sizeof(procmapQuery{})]byte // the layout is 104 bytes
var _ [unsafe.Sizeof(procmapQuery{}) - QuerySize]byte

// QueryLive issues PROCMAP_QUERY on an open /proc/PID/maps. A non-zero
// q.NameAddr (q.BuildIDAddr) with a non-zero size gets a real buffer of
// that size; a non-zero address with a zero size is passed as it is (the
// kernel refuses the pair before it touches memory). q.Size above
// QuerySize passes a larger, zero-filled struct. Errors are errno.Errno.
func QueryLive(f *os.File, q Query) (QueryResult, error) {
	if q.Size == 0 {
		q.Size = QuerySize
	}
	buf := make([]byte, max(q.Size, QuerySize))
	raw := (*procmapQuery)(unsafe.Pointer(&buf[0]))
	raw.Size, raw.QueryFlags, raw.QueryAddr = q.Size, q.Flags, q.Addr
	raw.VMANameSize, raw.BuildIDSize = q.NameSize, q.BuildIDSize
	raw.VMANameAddr, raw.BuildIDAddr = q.NameAddr, q.BuildIDAddr
	var name, id []byte
	if q.NameAddr != 0 && q.NameSize != 0 {
		name = make([]byte, q.NameSize)
		raw.VMANameAddr = uint64(uintptr(unsafe.Pointer(&name[0])))
	}
	if q.BuildIDAddr != 0 && q.BuildIDSize != 0 {
		id = make([]byte, q.BuildIDSize)
		raw.BuildIDAddr = uint64(uintptr(unsafe.Pointer(&id[0])))
	}
	clear(buf[min(q.Size, QuerySize):QuerySize]) // fields past a short struct are not the caller's
	_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), procmapQueryCmd, uintptr(unsafe.Pointer(&buf[0])))
	runtime.KeepAlive(name)
	runtime.KeepAlive(id)
	runtime.KeepAlive(f)
	if e != 0 {
		return QueryResult{}, errno.Errno(e)
	}
	clear(buf[min(q.Size, QuerySize):QuerySize]) // and the kernel wrote nothing there
	r := QueryResult{
		Start: raw.VMAStart, End: raw.VMAEnd, Flags: raw.VMAFlags, PageSize: raw.VMAPageSize,
		Offset: raw.VMAOffset, Inode: raw.Inode, DevMajor: raw.DevMajor, DevMinor: raw.DevMinor,
		NameSize: raw.VMANameSize, BuildIDSize: raw.BuildIDSize,
	}
	if r.NameSize > 0 && name != nil {
		r.Name = string(name[:r.NameSize-1])
	}
	if r.BuildIDSize > 0 && id != nil {
		r.BuildID = append([]byte(nil), id[:r.BuildIDSize]...)
	}
	return r, nil
}

// liveWalker issues the loaders' PROCMAP_QUERY calls on one open maps
// file: one ioctl per mapping, with the struct and the name buffer reused
// from call to call (QueryLive allocates both afresh, as its callers
// choose sizes per call).
type liveWalker struct {
	f    *os.File
	fd   uintptr
	raw  procmapQuery
	name [queryNameMax]byte
}

func newLiveWalker(f *os.File) *liveWalker { return &liveWalker{f: f, fd: f.Fd()} }

// query asks for the first mapping at or above addr that flags select
// (QueryCoveringOrNext is the caller's to set), with its name.
func (w *liveWalker) query(flags, addr uint64) (QueryResult, error) {
	w.raw = procmapQuery{Size: QuerySize, QueryFlags: flags, QueryAddr: addr,
		VMANameSize: queryNameMax, VMANameAddr: uint64(uintptr(unsafe.Pointer(&w.name[0])))}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, w.fd, procmapQueryCmd, uintptr(unsafe.Pointer(&w.raw)))
	runtime.KeepAlive(w)
	runtime.KeepAlive(w.f)
	if e != 0 {
		return QueryResult{}, errno.Errno(e)
	}
	r := QueryResult{
		Start: w.raw.VMAStart, End: w.raw.VMAEnd, Flags: w.raw.VMAFlags, PageSize: w.raw.VMAPageSize,
		Offset: w.raw.VMAOffset, Inode: w.raw.Inode, DevMajor: w.raw.DevMajor, DevMinor: w.raw.DevMinor,
		NameSize: w.raw.VMANameSize,
	}
	if r.NameSize > 0 {
		r.Name = string(w.name[:r.NameSize-1])
	}
	return r, nil
}

// errNoEntry is the walkers' ENOENT: no mapping at or above the address.

var errNoEntry error = errno.ENOENT

// checkAlive asks PROCMAP_QUERY on an open maps file whether the process
// still has its address space: ESRCH means it exited (or never had one).
// Kernels without the ioctl cannot tell, and pass.
func checkAlive(f *os.File) error {
	if _, err := QueryLive(f, Query{Flags: QueryCoveringOrNext}); err == errno.ESRCH {
		return ErrExited
	}
	return nil
}
