//go:build linux && amd64

package kerneltest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"specvma/errno"
	"specvma/mm"
	"specvma/procfs"
	"specvma/scenario"
)

// Supported reports whether this OS runs the kernel backend.
const Supported = true

// inUse makes the window a single-owner resource: two kernel backends in
// one process would map over each other.
var inUse sync.Mutex

// Kernel is a scenario.Backend whose one address space, "main", is this
// test process: every call is the real system call, made with raw
// syscall numbers so that any flags and addresses reach the kernel as the
// script wrote them and the errno comes back unchanged.
//
// Calls that could change memory outside the window — the Go runtime's
// heap, stacks and libraries live there — are refused with a plain (non
// errno) error, unless the kernel is certain to reject them by their
// arguments alone (an unaligned address, a zero length, a range that
// wraps or ends beyond the user address limit). Scripts therefore stay in
// the window; see DefaultWindow.
type Kernel struct {
	win Window

	mu      sync.Mutex
	fds     map[int]bool      // fds opened by Open and not yet closed
	outside map[uint64]uint64 // mappings the kernel placed outside the window: start -> length
	closed  bool
	// lockedAll records an mlockall, which Release undoes for the process.
	lockedAll bool
	// ApplyLimits lets config set this process's resource limits and drop
	// CAP_IPC_LOCK (applyLimit): for a child process that runs one
	// sequence on a thread of its own (TestKernelChild).
	ApplyLimits bool
}

// applyLimit makes a resource-limit key true of this process when it may
// (ApplyLimits): RLIMIT_MEMLOCK as given; RLIMIT_DATA and RLIMIT_AS as
// given plus what the process uses now (VmData, VmSize: the Go runtime's),
// so that the sequence's own mappings have value bytes, as in a model that
// sees only them (0: unlimited); ipc_lock 0 drops CAP_IPC_LOCK from this
// thread's effective set, so the caller must stay on this thread.
func (k *Kernel) applyLimit(key string, value uint64) (bool, error) {
	if !k.ApplyLimits || !slices.Contains(limitKeys, key) {
		return false, nil
	}
	setSoft := func(res int, v uint64) error {
		var r unix.Rlimit
		if err := unix.Getrlimit(res, &r); err != nil {
			return err
		}
		r.Cur, r.Max = v, max(r.Max, v)
		return unix.Setrlimit(res, &r)
	}
	if rk, ok := rlimitKeys[key]; ok {
		return true, setSoft(rk.res, rlimitValue(key, value, statusField("/proc/self/status", rk.status)))
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return true, err
	}
	const bit = 1 << 14 // CAP_IPC_LOCK
	if value == 0 {
		data[0].Effective &^= bit
	} else {
		data[0].Effective |= bit
	}
	return true, unix.Capset(&hdr, &data[0])
}

// rlimitValue is the soft limit that gives a script's own mappings value
// bytes of resource key (rlimitKeys) in a process that uses used already:
// value + used, unlimited for 0 except RLIMIT_MEMLOCK, whose 0 is a limit.
func rlimitValue(key string, value, used uint64) uint64 {
	if value == 0 && key != "memlock_rlimit" {
		return unix.RLIM_INFINITY
	}
	return value + used
}

// statusField is the "kB" field name of a /proc/PID/status file in bytes
// (0 for the name "" or a field it lacks).
func statusField(path, name string) uint64 {
	if name == "" {
		return 0
	}
	b, _ := os.ReadFile(path)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

var _ scenario.Backend = (*Kernel)(nil)

type kernelSpace struct{ k *Kernel }

// kernelFile is the kernel backend's FileRef: a file descriptor.
type kernelFile int

// NewKernel claims window for a kernel backend: it maps the whole window
// with MAP_FIXED_NOREPLACE, which fails unless nothing is mapped there,
// and unmaps it again so that a script starts from an empty window. The
// caller must call Release (for tests, in t.Cleanup) to unmap the window and
// close what the script left open.
func NewKernel(window Window) (*Kernel, error) {
	// A window below vm.mmap_min_addr can be claimed only with CAP_SYS_RAWIO;
	// the claim below fails with EPERM otherwise.
	if window.Base&(mm.PageSize-1) != 0 || window.Size == 0 || window.Size&(mm.PageSize-1) != 0 ||
		!(Window{0, mm.TaskSize}).Contains(window.Base, window.Size) {
		return nil, fmt.Errorf("kerneltest: bad window %v", window)
	}
	if !inUse.TryLock() {
		return nil, errors.New("kerneltest: the window is in use by another kernel backend")
	}
	addr, err := rawMmap(window.Base, window.Size, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED_NOREPLACE, -1, 0)
	if err != nil || addr != window.Base {
		if err == nil {
			// A kernel older than 4.17 takes MAP_FIXED_NOREPLACE as a hint.
			_ = rawMunmap(addr, window.Size)
			err = fmt.Errorf("mapped at %#x instead", addr)
		}
		inUse.Unlock()
		return nil, fmt.Errorf("kerneltest: window %v is not free: %v", window, err)
	}
	if err := rawMunmap(window.Base, window.Size); err != nil {
		inUse.Unlock()
		return nil, fmt.Errorf("kerneltest: unmapping window %v: %v", window, err)
	}
	return &Kernel{win: window, fds: map[int]bool{}, outside: map[uint64]uint64{}}, nil
}

// Configure implements scenario.Configurer: the running kernel cannot be
// reconfigured by a script, so a config line passes only when it states
// what the kernel already is (procfs.HostConfig) and stops the run
// otherwise.
func (k *Kernel) Configure(key string, value uint64) error {
	if applied, err := k.applyLimit(key, value); applied {
		return err
	}
	return configureHost(key, value)
}

// configureHost is Configure of the kernel backends: a config line passes
// when the running kernel already is so.
func configureHost(key string, value uint64) error {
	host, _ := procfs.HostConfig()
	have, ok := scenario.ConfigValue(host, key)
	if !ok {
		return fmt.Errorf("kerneltest: unknown config key %q", key)
	}
	if have != value {
		return fmt.Errorf("kerneltest: the running kernel has %s %#x, not %#x", key, have, value)
	}
	return nil
}

// Window returns the window the backend owns.
func (k *Kernel) Window() Window { return k.win }

// Release unmaps the whole window and whatever the script had mapped
// outside it, closes the files it left open, and gives the window up for
// the next backend. It is safe to call more than once.
func (k *Kernel) Release() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	defer inUse.Unlock()
	var errs []error
	if k.lockedAll {
		if _, _, e := unix.Syscall(unix.SYS_MUNLOCKALL, 0, 0, 0); e != 0 {
			errs = append(errs, fmt.Errorf("munlockall: %v", e))
		}
	}
	if err := rawMunmap(k.win.Base, k.win.Size); err != nil {
		errs = append(errs, fmt.Errorf("munmap window: %v", err))
	}
	for a, n := range k.outside {
		if err := rawMunmap(a, n); err != nil {
			errs = append(errs, fmt.Errorf("munmap %#x+%#x: %v", a, n, err))
		}
	}
	for fd := range k.fds {
		if err := unix.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("close %d: %v", fd, err))
		}
	}
	k.outside, k.fds = nil, nil
	return errors.Join(errs...)
}

// Space returns the test process's address space; only "main" exists.
func (k *Kernel) Space(name string) (scenario.Space, error) {
	if name != "main" {
		return nil, fmt.Errorf("kerneltest: the kernel backend has one address space, \"main\", not %q", name)
	}
	return kernelSpace{k}, nil
}

// Open is open(2), read-write where the file allows it, else read-only.
func (k *Kernel) Open(path string) (scenario.FileRef, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errors.New("kerneltest: backend closed")
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, errnoOf(err)
	}
	k.fds[fd] = true
	return kernelFile(fd), nil
}

// Close is close(2) of a descriptor from Open. A descriptor this backend
// did not open (or already closed) is EBADF without a system call, so a
// script can never close one of the runtime's.
func (k *Kernel) Close(f scenario.FileRef) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	fd, ok := f.(kernelFile)
	if !ok || !k.fds[int(fd)] {
		return errno.EBADF
	}
	delete(k.fds, int(fd))
	return errnoOf(unix.Close(int(fd)))
}

func (k *Kernel) fdOf(f scenario.FileRef) (int, error) {
	if f == nil {
		return -1, nil
	}
	fd, ok := f.(kernelFile)
	if !ok {
		return 0, fmt.Errorf("kerneltest: file %v is not the kernel backend's", f)
	}
	if !k.fds[int(fd)] {
		// A closed descriptor: the number may belong to someone else now.
		return 0, errno.EBADF
	}
	return int(fd), nil
}

// noteOutside records a mapping the kernel made outside the window (an
// mmap whose hint was taken, an mremap that moved) for Release to unmap.
func (k *Kernel) noteOutside(addr, length uint64) {
	length = (length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if !k.win.Contains(addr, length) {
		k.outside[addr] = length
	}
}

// safe reports whether a call over [addr, addr+length) either stays in the
// window or cannot reach any mapping: the whole range is at or beyond the
// user address limit, where nothing is ever mapped.
func (k *Kernel) safe(addr, length uint64) bool { return k.win.safe(addr, length) }

// safe is Kernel.safe for window w.
func (w Window) safe(addr, length uint64) bool {
	end, _ := pageEnd(addr, length)
	return w.Contains(addr, end-addr) || addr >= mm.TaskSize
}

// pageEnd is addr+length rounded up to a page; ok is false when it wraps.
func pageEnd(addr, length uint64) (uint64, bool) {
	n := (length + mm.PageSize - 1) &^ (mm.PageSize - 1)
	if n < length || addr+n < addr {
		return addr, false
	}
	return addr + n, true
}

// rejected reports whether the kernel refuses [addr, addr+length) before
// touching any mapping, whichever call it is (munmap, mprotect, MAP_FIXED
// mmap, mremap's old range, the prctl): an unaligned start, a zero or
// wrapping length, or a range ending beyond the user address limit (for
// mprotect that last case is not an argument check, so it is not included
// there; see Mprotect).
func rejected(addr, length uint64, limit bool) bool {
	end, ok := pageEnd(addr, length)
	switch {
	case addr&(mm.PageSize-1) != 0, length == 0, !ok:
		return true
	case limit && (addr > mm.TaskSize || end > mm.TaskSize):
		return true
	}
	return false
}

func refuse(call string, addr, length uint64, w Window) error {
	return fmt.Errorf("kerneltest: refusing %s(%#x, %#x): the range leaves the window %v", call, addr, length, w)
}

func (s kernelSpace) Mmap(addr, length uint64, prot, flags int, file scenario.FileRef, off uint64) (uint64, error) {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	fd, err := k.fdOf(file)
	if err != nil {
		return 0, err
	}
	span := length
	if isHuge(flags, fd) {
		// Huge page mappings round their length up to a huge page.
		span = (length + mm.HugePageSize - 1) &^ (mm.HugePageSize - 1)
		if span < length {
			span = length
		}
	}
	if flags&mm.MapFixed != 0 && !k.safe(addr, span) && !rejected(addr, span, true) {
		return 0, refuse("mmap MAP_FIXED", addr, length, k.win)
	}
	a, err := rawMmap(addr, length, prot, flags, fd, off)
	if err != nil {
		return 0, err
	}
	k.noteOutside(a, span)
	return a, nil
}

// isHuge reports an mmap of huge pages: MAP_HUGETLB anonymous memory or a
// file on hugetlbfs.
func isHuge(flags, fd int) bool {
	if flags&mm.MapAnonymous != 0 {
		return flags&mm.MapHugeTLB != 0
	}
	var sfs unix.Statfs_t
	return fd >= 0 && unix.Fstatfs(fd, &sfs) == nil && sfs.Type == unix.HUGETLBFS_MAGIC
}

func (s kernelSpace) Munmap(addr, length uint64) error {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.safe(addr, length) && !rejected(addr, length, true) {
		return refuse("munmap", addr, length, k.win)
	}
	return rawMunmap(addr, length)
}

func (s kernelSpace) Mprotect(addr, length uint64, prot int) error {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	// mprotect has no address-limit check: a range running past the limit
	// changes every VMA up to the first hole, so only argument errors pass.
	if !k.safe(addr, length) && !rejected(addr, length, false) {
		return refuse("mprotect", addr, length, k.win)
	}
	_, _, e := unix.Syscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(length), uintptr(prot))
	return errnoOf(e)
}

func (s kernelSpace) Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error) {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	badFlags := flags&^(mm.MremapMayMove|mm.MremapFixed|mm.MremapDontUnmap) != 0 ||
		flags&(mm.MremapFixed|mm.MremapDontUnmap) != 0 && flags&mm.MremapMayMove == 0
	if !badFlags {
		// oldLen 0 duplicates a shared mapping: only the start must be ours.
		if !k.safe(old, max(oldLen, 1)) && !rejected(old, max(oldLen, 1), true) {
			return 0, refuse("mremap", old, oldLen, k.win)
		}
		if flags&mm.MremapFixed != 0 && !k.safe(newAddr, newLen) && !rejected(newAddr, newLen, true) {
			return 0, refuse("mremap MREMAP_FIXED to", newAddr, newLen, k.win)
		}
	}
	r, _, e := unix.Syscall6(unix.SYS_MREMAP, uintptr(old), uintptr(oldLen), uintptr(newLen),
		uintptr(flags), uintptr(newAddr), 0)
	if e != 0 {
		return 0, errnoOf(e)
	}
	k.noteOutside(uint64(r), newLen)
	return uint64(r), nil
}

func (s kernelSpace) SetAnonName(addr, length uint64, name *string) error {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.safe(addr, length) && !rejected(addr, length, true) {
		return refuse("prctl PR_SET_VMA_ANON_NAME", addr, length, k.win)
	}
	var p *byte
	if name != nil {
		var err error
		if p, err = unix.BytePtrFromString(*name); err != nil {
			return errno.EINVAL // a NUL inside the name
		}
	}
	_, _, e := unix.Syscall6(unix.SYS_PRCTL, unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME,
		uintptr(addr), uintptr(length), uintptr(unsafe.Pointer(p)), 0)
	runtime.KeepAlive(p)
	return errnoOf(e)
}

// rangeCall makes a system call over [addr, addr+length) after the same
// window check as munmap's.
func (k *Kernel) rangeCall(name string, nr uintptr, addr, length uint64, arg uintptr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.safe(addr, length) && !rejected(addr, length, true) {
		return refuse(name, addr, length, k.win)
	}
	_, _, e := unix.Syscall(nr, uintptr(addr), uintptr(length), arg)
	return errnoOf(e)
}

func (s kernelSpace) Madvise(addr, length uint64, advice int) error {
	return s.k.rangeCall("madvise", unix.SYS_MADVISE, addr, length, uintptr(advice))
}

func (s kernelSpace) Mlock2(addr, length uint64, flags int) error {
	if flags == 0 {
		return s.k.rangeCall("mlock", unix.SYS_MLOCK, addr, length, 0)
	}
	return s.k.rangeCall("mlock2", unix.SYS_MLOCK2, addr, length, uintptr(flags))
}

func (s kernelSpace) Munlock(addr, length uint64) error {
	return s.k.rangeCall("munlock", unix.SYS_MUNLOCK, addr, length, 0)
}

// Mseal seals for the life of the process: Release cannot unmap sealed
// memory, so sequences that seal run in a child process (isolated).
func (s kernelSpace) Mseal(addr, length uint64, flags int) error {
	return s.k.rangeCall("mseal", unix.SYS_MSEAL, addr, length, uintptr(flags))
}

// Mlockall locks the whole test process: only MCL_ONFAULT forms are made
// (a lock that faults everything in would populate the runtime's and the
// race detector's reservations), and Release undoes it with munlockall.
func (s kernelSpace) Mlockall(flags int) error {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if flags&mm.MclOnFault == 0 && flags&^(mm.MclCurrent|mm.MclFuture) == 0 && flags != 0 {
		return fmt.Errorf("kerneltest: refusing mlockall(%#x) without MCL_ONFAULT: it would fault in the whole test process", flags)
	}
	_, _, e := unix.Syscall(unix.SYS_MLOCKALL, uintptr(flags), 0, 0)
	k.lockedAll = true
	return errnoOf(e)
}

// Brk is brk(2); the program break of a Go test process is unused (the
// runtime never calls brk), so a script may move it inside the window. An
// address below the heap's start (start_brk) only asks where the break is.
func (s kernelSpace) Brk(addr uint64) (uint64, error) {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if start, ok := StartBrk(); !ok || addr >= start && !k.win.Contains(addr, 0) {
		return 0, refuse("brk", addr, 0, k.win)
	}
	r, _, _ := unix.Syscall(unix.SYS_BRK, uintptr(addr), 0, 0)
	return uint64(r), nil
}

func (s kernelSpace) Munlockall() error {
	_, _, e := unix.Syscall(unix.SYS_MUNLOCKALL, 0, 0, 0)
	return errnoOf(e)
}

// Touch reads or writes the byte at addr. A fault the kernel turns into
// SIGSEGV or SIGBUS reaches the Go runtime, which, with SetPanicOnFault,
// panics in this goroutine instead of crashing; that becomes EFAULT.
// Addresses outside the window are refused (the Go runtime's memory is
// there), except beyond the user address limit, where every access faults.
func (s kernelSpace) Touch(addr uint64, write bool) error {
	k := s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.win.Contains(addr, 1) && addr < mm.TaskSize {
		return fmt.Errorf("kerneltest: refusing to touch %#x outside the window %v", addr, k.win)
	}
	return touch(uintptr(addr), write)
}

// touchSink keeps reads from being optimised away.
var touchSink byte

//go:noinline
func touch(addr uintptr, write bool) (err error) {
	// The fault is delivered to the thread that takes it, and the panic
	// to the goroutine running there: keep both together.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			// Only the access below can fault here. The reported
			// address is not checked: a non-canonical address raises
			// a general protection fault, whose signal carries none.
			if _, ok := r.(runtime.Error); ok {
				err = errno.EFAULT
				return
			}
			panic(r)
		}
	}()
	// Reinterpret the integer as a pointer without a uintptr-to-pointer
	// conversion: the address is not Go memory, and the garbage collector
	// ignores pointers outside its heap.
	p := *(**byte)(unsafe.Pointer(&addr))
	if write {
		*p = 0x5a
	} else {
		touchSink = *p
	}
	return nil
}

// Maps returns the window's lines of /proc/self/maps as the kernel
// printed them.
func (s kernelSpace) Maps() (string, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "", errnoOf(err)
	}
	return s.k.win.FilterMaps(string(b)), nil
}

func rawMmap(addr, length uint64, prot, flags, fd int, off uint64) (uint64, error) {
	r, _, e := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot),
		uintptr(flags), uintptr(fd), uintptr(off))
	if e != 0 {
		return 0, errno.Errno(e)
	}
	return uint64(r), nil
}

func rawMunmap(addr, length uint64) error {
	_, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(addr), uintptr(length), 0)
	return errnoOf(e)
}

// errnoOf turns a system call error into an errno.Errno (nil stays nil).
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if e == 0 {
			return nil
		}
		return errno.Errno(e)
	}
	return errno.EIO
}

// StartBrk returns this process's start_brk (field 47 of /proc/self/stat).
func StartBrk() (uint64, bool) { return startBrkOf(0) }

// startBrkOf is StartBrk of process pid (0: this one).
func startBrkOf(pid int) (uint64, bool) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	i := strings.LastIndexByte(string(b), ')')
	if err != nil || i < 0 || i+2 > len(b) {
		return 0, false
	}
	f := strings.Fields(string(b[i+2:])) // the fields after the command name
	if len(f) < 45 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[44], 10, 64)
	return v, err == nil
}

// MapsWith reads the maps text: the kernel has one reader, so r only
// matters to the model.
func (s kernelSpace) MapsWith(procfs.Reader) (string, error) { return s.Maps() }

// Query issues PROCMAP_QUERY on /proc/self/maps, asking for the name and
// the build ID, and answers as if the window were the whole address space:
// a VMA outside it is not there (ENOENT), and a covering-or-next query
// that finds one below the window asks again from the window's start.
func (s kernelSpace) Query(flags, addr uint64) (procfs.QueryResult, error) {
	return queryWindow("/proc/self/maps", s.k.win, flags, addr)
}

// queryWindow is PROCMAP_QUERY on the maps file at path, answered as if
// window w were the whole address space.
func queryWindow(path string, w Window, flags, addr uint64) (procfs.QueryResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return procfs.QueryResult{}, errnoOf(err)
	}
	defer f.Close()
	q := procfs.Query{Flags: flags, Addr: addr, NameAddr: 1, NameSize: 4096, BuildIDAddr: 1, BuildIDSize: 20}
	r, err := procfs.QueryLive(f, q)
	if err == nil && r.End <= w.Base && flags&procfs.QueryCoveringOrNext != 0 {
		q.Addr = w.Base
		r, err = procfs.QueryLive(f, q)
	}
	if err == nil && !w.Overlaps(r.Start, r.End) {
		return procfs.QueryResult{}, errno.ENOENT
	}
	return r, err
}
