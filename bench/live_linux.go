//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"specvma/procfs"
	"specvma/vfs"
)

// procmapQuery is struct procmap_query of include/uapi/linux/fs.h (Linux
// 6.11+), which golang.org/x/sys/unix does not define yet. All fields are
// naturally aligned, so the Go layout is the C one: 104 bytes.
type procmapQuery struct {
	Size        uint64 // in: sizeof the struct, for extension
	QueryFlags  uint64 // in/out: PROCMAP_QUERY_* flags
	QueryAddr   uint64 // in: the address
	VMAStart    uint64 // out
	VMAEnd      uint64 // out
	VMAFlags    uint64 // out: PROCMAP_QUERY_VMA_* permissions
	VMAPageSize uint64 // out
	VMAOffset   uint64 // out: vm_pgoff in bytes, 0 without a file
	Inode       uint64 // out
	DevMajor    uint32 // out
	DevMinor    uint32 // out
	VMANameSize uint32 // in: buffer size; out: name length with its NUL, 0 for none
	BuildIDSize uint32 // in/out
	VMANameAddr uint64 // in: user buffer for the name
	BuildIDAddr uint64 // in: user buffer for the build ID
}

const procmapQuerySize = 104

// The struct must have the kernel's size exactly: these fail to compile
// otherwise.
var (
	_ [procmapQuerySize - unsafe.Sizeof(procmapQuery{})]struct{}
	_ [unsafe.Sizeof(procmapQuery{}) - procmapQuerySize]struct{}
)

// procmapQueryIoctl is PROCMAP_QUERY: _IOWR(PROCFS_IOCTL_MAGIC 'f', 17,
// struct procmap_query). The generic encoding (x86, arm64, riscv, ...) is
// dir<<30 | size<<16 | type<<8 | nr with dir read|write = 3; powerpc, mips
// and sparc put read|write = 6 at bit 29, which is the same number.
const procmapQueryIoctl = 3<<30 | procmapQuerySize<<16 | 'f'<<8 | 17

// procmapReader answers with PROCMAP_QUERY on an open maps file.
type procmapReader struct {
	fd   int
	q    procmapQuery
	name []byte
}

func newProcmapReader(pid int) (*procmapReader, error) {
	fd, err := unix.Open(procfs.MapsPath(pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: procfs.MapsPath(pid), Err: err}
	}
	return &procmapReader{fd: fd, name: make([]byte, unix.PathMax+64)}, nil
}

func (r *procmapReader) close() { unix.Close(r.fd) }

func (r *procmapReader) lookup(addr uint64) (liveAnswer, error) {
	q := &r.q
	*q = procmapQuery{
		Size:        procmapQuerySize,
		QueryAddr:   addr, // QueryFlags 0: only the VMA covering addr
		VMANameSize: uint32(len(r.name)),
		VMANameAddr: uint64(uintptr(unsafe.Pointer(&r.name[0]))),
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(r.fd), procmapQueryIoctl, uintptr(unsafe.Pointer(q)))
	switch e {
	case 0:
	case unix.ENOENT:
		return liveAnswer{}, nil
	default:
		return liveAnswer{}, e
	}
	// The kernel reports a VMA with a file by its device and inode; a VMA
	// without one (anonymous, [heap], [vdso]) has both zero.
	if q.Inode == 0 && q.DevMajor == 0 && q.DevMinor == 0 {
		return liveAnswer{kind: liveNoFile}, nil
	}
	var name string
	if q.VMANameSize > 0 {
		name = string(r.name[:q.VMANameSize-1])
	}
	// d_path marks an unlinked file as the maps text does; the path is
	// the name without the mark (procfs.Entry.Path).
	name = strings.TrimSuffix(name, " (deleted)")
	return liveAnswer{kind: liveFile, path: name, dev: vfs.Dev{Major: q.DevMajor, Minor: q.DevMinor},
		ino: q.Inode, off: q.VMAOffset + (addr - q.VMAStart)}, nil
}

// defaultLiveTarget is sleep, from /bin or the PATH.
func defaultLiveTarget() (string, error) {
	if fi, err := os.Stat("/bin/sleep"); err == nil && fi.Mode().IsRegular() {
		return "/bin/sleep", nil
	}
	return exec.LookPath("sleep")
}

// startLive starts the target and waits until it has settled: its
// executable is mapped, it is asleep, and its maps text no longer changes.
func startLive(opts LiveOptions, d time.Duration) (*exec.Cmd, error) {
	target, args := opts.Target, opts.Args
	if target == "" {
		var err error
		if target, err = defaultLiveTarget(); err != nil {
			return nil, fmt.Errorf("live: no target: %w", err)
		}
		if args == nil {
			// Outlives three timed methods with their warm-up passes;
			// the bench kills it at the end.
			secs := int(3*d/time.Second) + 3600
			args = []string{strconv.Itoa(secs)}
		}
	}
	cmd := exec.Command(target, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Should the bench die first, the target goes with it (the signal
	// follows the thread that started it, which the runtime keeps).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("live: %w", err)
	}
	if err := waitSettled(cmd.Process.Pid, 5*time.Second); err != nil {
		stopLive(cmd)
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w (target stderr: %s)", err, s)
		}
		return nil, err
	}
	return cmd, nil
}

func stopLive(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// waitSettled polls until pid's maps show the executable /proc/PID/exe
// names, the process sleeps, and two reads of the maps text a moment apart
// are the same.
func waitSettled(pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var prev []byte
	for {
		text, ready, err := settledOnce(pid)
		if err != nil {
			return err
		}
		if ready && prev != nil && bytes.Equal(text, prev) {
			return nil
		}
		if ready {
			prev = text
		} else {
			prev = nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("live: pid %d did not settle within %v", pid, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func settledOnce(pid int) (text []byte, ready bool, err error) {
	state, err := procState(pid)
	if err != nil {
		return nil, false, err
	}
	if state == 'Z' || state == 'X' {
		return nil, false, fmt.Errorf("live: pid %d exited", pid)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/exe", &st); err != nil {
		return nil, false, nil // not exec'd yet, or no access: keep polling
	}
	text, err = procfs.ReadMaps(pid)
	if err != nil {
		return nil, false, err
	}
	entries, err := procfs.Parse(bytes.NewReader(text))
	if err != nil {
		return nil, false, fmt.Errorf("live: %s: %w", procfs.MapsPath(pid), err)
	}
	dev := vfs.Dev{Major: unix.Major(uint64(st.Dev)), Minor: unix.Minor(uint64(st.Dev))} // Dev is uint32 on some arches
	for _, e := range entries {
		if e.Dev == dev && e.Inode == st.Ino {
			return text, state == 'S', nil
		}
	}
	return text, false, nil
}

// procState is the state letter of /proc/PID/stat.
func procState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("live: %w", err)
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold anything
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("live: unexpected /proc/%d/stat", pid)
	}
	return b[i+2], nil
}

// RunLive starts a process, loads its maps and resolves a batch of its
// addresses to (file, offset) three ways: through the model, through
// PROCMAP_QUERY, and by reading the maps text per lookup. It reports each
// one's cost per lookup and whether all three agree.
func RunLive(opts LiveOptions) (LiveResult, error) {
	d := opts.Duration
	if d <= 0 && opts.Lookups <= 0 {
		d = time.Second
	}
	cmd, err := startLive(opts, d)
	if err != nil {
		return LiveResult{}, err
	}
	defer stopLive(cmd)
	pid := cmd.Process.Pid
	res := LiveResult{PID: pid, Target: cmd.Path}

	// The model: one read of the maps text, parsed and built.
	t0 := time.Now()
	as, text, err := procfs.LoadText(pid)
	load := time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("live: %w", err)
	}
	defer as.Exit()
	entries, err := procfs.Parse(bytes.NewReader(text))
	if err != nil {
		return res, fmt.Errorf("live: %w", err)
	}
	res.VMAs = len(entries)
	addrs := liveBatch(entries)
	res.Addresses = len(addrs)

	answers := make([][]liveAnswer, 3)
	for i := range answers {
		answers[i] = make([]liveAnswer, len(addrs))
	}
	methods := make([]LiveMethod, 3)

	model := func(addr uint64) (liveAnswer, error) { return modelLookup(as, addr), nil }
	n, el, err := liveMeasure(addrs, answers[0], model, d, opts.Lookups)
	if err != nil {
		return res, fmt.Errorf("live: model: %w", err)
	}
	methods[0] = LiveMethod{Name: LiveModel, Available: true, NsPerLookup: nsPer(el, n), Lookups: n,
		Note: fmt.Sprintf("mm.Resolve mmseq; load once %s (read+parse+build, %d B)", dur(float64(load)), len(text))}

	methods[1] = LiveMethod{Name: LiveProcmapQuery}
	pq, err := newProcmapReader(pid)
	if err != nil {
		return res, fmt.Errorf("live: %w", err)
	}
	defer pq.close()
	switch _, err := pq.lookup(addrs[0]); {
	case errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL):
		methods[1].Note = "unavailable: the kernel has no PROCMAP_QUERY (Linux 6.11+): " + err.Error()
	case err != nil:
		return res, fmt.Errorf("live: PROCMAP_QUERY: %w", err)
	default:
		n, el, err := liveMeasure(addrs, answers[1], pq.lookup, d, opts.Lookups)
		if err != nil {
			return res, fmt.Errorf("live: PROCMAP_QUERY: %w", err)
		}
		methods[1] = LiveMethod{Name: LiveProcmapQuery, Available: true, NsPerLookup: nsPer(el, n), Lookups: n,
			Note: "one ioctl per lookup on an open " + procfs.MapsPath(pid)}
	}

	mt := &mapsTextReader{path: procfs.MapsPath(pid), buf: make([]byte, 0, 64<<10)}
	n, el, err = liveMeasure(addrs, answers[2], mt.lookup, d, opts.Lookups)
	if err != nil {
		return res, fmt.Errorf("live: maps text: %w", err)
	}
	methods[2] = LiveMethod{Name: LiveMapsText, Available: true, NsPerLookup: nsPer(el, n), Lookups: n,
		Note: fmt.Sprintf("open+read all %d B (%d lines)+scan per lookup", len(mt.buf), len(entries))}

	if pqm := methods[1]; pqm.Available && pqm.NsPerLookup > methods[0].NsPerLookup {
		// Loading costs as much as this many kernel queries more than
		// model lookups.
		even := math.Ceil(float64(load) / (pqm.NsPerLookup - methods[0].NsPerLookup))
		methods[0].Note += fmt.Sprintf("; the load pays for itself after %s lookups against %s", si(even), pqm.Name)
	}
	res.Methods = methods
	res.Mismatches = liveCompare(addrs, methods, answers, maxMismatches)

	// The answers are comparable only if the target kept its mappings.
	after, err := procfs.ReadMaps(pid)
	if err != nil {
		return res, fmt.Errorf("live: %w", err)
	}
	if !bytes.Equal(after, text) {
		res.Mismatches = append(res.Mismatches, "the target's maps changed during the run")
	}
	return res, nil
}
