//go:build linux && amd64

package kerneltest

import (
	"bufio"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"specvma/errno"
	"specvma/internal/cbuild"
	"specvma/mm"
	"specvma/procfs"
	"specvma/scenario"
)

//go:embed agent/agent.c
var agentSource string

// Processes is the kernel backend for scripts with more than one process:
// each script process is a real process, a small C program (agent.c) that
// makes the calls the backend sends it over a Unix socket. "main" is
// started with the backend; "process NAME fork" forks the current one
// with fork(2) (scenario.Forker), and a NAME used without fork starts a
// fresh agent, an address space with nothing in the window. Maps are each
// process's /proc/PID/maps, cut to the window; PROCMAP_QUERY asks that
// file. The agents own nothing else of the test's, so a call cannot reach
// the Go runtime; calls outside the window are still refused as the
// in-process backend refuses them, so that both run the same scripts.
//
// Open names belong to the whole script: open is made in every live
// process (one open file description each) and a forked child inherits
// its parent's descriptors, as fork(2) does; close closes them in every
// process. Resource limits (config memlock_rlimit, data_rlimit, as_rlimit)
// are set by each agent on itself. brk moves the agent's own break, which
// nothing else in the agent uses; a forked agent starts with its parent's
// heap (UseHeapWindow puts the window there).
type Processes struct {
	win  Window
	bin  string
	dir  string
	ln   *net.UnixListener
	mu   sync.Mutex
	proc map[string]*agent
	root *exec.Cmd
	// fds maps a file the script opened to its descriptor in each process.
	fds    map[int]map[string]int
	nextFD int
	closed bool
	// limits are the resource limits the script set (rlimitKeys), which
	// every agent started later gets too; forked ones inherit them.
	limits map[string]uint64
}

type agent struct {
	pid  int
	conn net.Conn
	rd   *bufio.Reader
	name string
}

var (
	_ scenario.Backend    = (*Processes)(nil)
	_ scenario.Forker     = (*Processes)(nil)
	_ scenario.Configurer = (*Processes)(nil)
)

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

// buildAgent compiles agent.c once per test binary run.
func buildAgent() (string, error) {
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "specvma-agent-")
		if err != nil {
			agentErr = err
			return
		}
		agentBin, agentErr = cbuild.Build(dir, "agent", agentSource, "-O1", "-Wall", "-Werror")
	})
	return agentBin, agentErr
}

// RemoveAgent deletes the agent built by this test binary, if any (for
// TestMain, after the run).
func RemoveAgent() {
	if agentBin != "" {
		os.RemoveAll(filepath.Dir(agentBin))
	}
}

// NewProcesses starts the "main" agent. Release stops every agent.
func NewProcesses(window Window) (*Processes, error) {
	bin, err := buildAgent()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "specvma-procs-")
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &Processes{win: window, bin: bin, dir: dir, ln: ln, proc: map[string]*agent{}, fds: map[int]map[string]int{},
		limits: map[string]uint64{}}
	if _, err := p.start("main"); err != nil {
		p.Release()
		return nil, err
	}
	return p, nil
}

// start runs a fresh agent for name.
//
// Preconditions: p.mu is held, or p is not shared yet.
func (p *Processes) start(name string) (*agent, error) {
	cmd := exec.Command(p.bin, p.ln.Addr().String())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait() // reap it whenever it exits
	if p.root == nil {
		p.root = cmd
	}
	a, err := p.accept(name)
	if err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	if a.pid != cmd.Process.Pid {
		return nil, fmt.Errorf("kerneltest: agent %d announced pid %d", cmd.Process.Pid, a.pid)
	}
	for key, v := range p.limits {
		if err := a.setLimit(key, v); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// setLimit sets resource limit key (rlimitKeys) in the agent, by the
// agent itself, so that its own later mappings get value bytes: the limit
// is value plus what the agent uses now (its VmSize or VmData, which stay
// as they are: the agent allocates nothing).
func (a *agent) setLimit(key string, value uint64) error {
	rk := rlimitKeys[key]
	used := statusField(fmt.Sprintf("/proc/%d/status", a.pid), rk.status)
	_, err := a.do("l %x %x", rk.res, rlimitValue(key, value, used))
	return err
}

// accept takes the next agent's connection and its "hello PID" line.
func (p *Processes) accept(name string) (*agent, error) {
	p.ln.SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := p.ln.Accept()
	if err != nil {
		return nil, fmt.Errorf("kerneltest: waiting for agent %q: %v", name, err)
	}
	a := &agent{conn: conn, rd: bufio.NewReader(conn), name: name}
	line, err := a.rd.ReadString('\n')
	pid, perr := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(line), "hello "), 16, 32)
	if err != nil || perr != nil {
		conn.Close()
		return nil, fmt.Errorf("kerneltest: agent %q said %q: %v", name, line, err)
	}
	a.pid = int(pid)
	p.proc[name] = a
	return a, nil
}

// do sends one request and returns the agent's answer.
func (a *agent) do(format string, args ...any) (uint64, error) {
	a.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(a.conn, format+"\n", args...); err != nil {
		return 0, fmt.Errorf("kerneltest: agent %q: %v", a.name, err)
	}
	line, err := a.rd.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("kerneltest: agent %q: %v", a.name, err)
	}
	var ret uint64
	var e int
	if _, err := fmt.Sscanf(line, "r %x %d\n", &ret, &e); err != nil {
		return 0, fmt.Errorf("kerneltest: agent %q answered %q", a.name, line)
	}
	if e != 0 {
		return 0, errno.Errno(e)
	}
	return ret, nil
}

// syscall makes system call nr in the agent.
func (a *agent) syscall(nr uintptr, args ...uint64) (uint64, error) {
	var v [6]uint64
	copy(v[:], args)
	return a.do("s %x %x %x %x %x %x %x", nr, v[0], v[1], v[2], v[3], v[4], v[5])
}

// Configure implements scenario.Configurer as the in-process backend does,
// except that a resource limit (rlimitKeys) is made true of every agent,
// each setting it on itself (agent.setLimit), and of those started later.
func (p *Processes) Configure(key string, value uint64) error {
	if _, ok := rlimitKeys[key]; !ok {
		return configureHost(key, value)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limits[key] = value
	for _, a := range p.proc {
		if err := a.setLimit(key, value); err != nil {
			return err
		}
	}
	return nil
}

// Space returns the process called name, starting a fresh agent on first use.
func (p *Processes) Space(name string) (scenario.Space, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("kerneltest: backend closed")
	}
	if _, ok := p.proc[name]; !ok {
		if _, err := p.start(name); err != nil {
			return nil, err
		}
	}
	return procSpace{p, name}, nil
}

// Fork implements scenario.Forker: fork(2) in parent's agent.
func (p *Processes) Fork(parent, child string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.proc[parent]
	if !ok {
		return fmt.Errorf("kerneltest: no process %q", parent)
	}
	if _, ok := p.proc[child]; ok {
		return fmt.Errorf("kerneltest: process %q exists already", child)
	}
	pid, err := a.do("f")
	if err != nil {
		return err
	}
	c, err := p.accept(child)
	if err != nil {
		return err
	}
	if c.pid != int(pid) {
		return fmt.Errorf("kerneltest: fork returned %d, the child announced %d", pid, c.pid)
	}
	for _, byProc := range p.fds {
		if fd, ok := byProc[parent]; ok {
			byProc[child] = fd
		}
	}
	return nil
}

// Open opens path in every process.
func (p *Processes) Open(path string) (scenario.FileRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	byProc := map[string]int{}
	for name, a := range p.proc {
		fd, err := a.do("o %s", path)
		if err != nil {
			for n, fd := range byProc {
				p.proc[n].syscall(unix.SYS_CLOSE, uint64(fd))
			}
			return nil, err
		}
		byProc[name] = int(fd)
	}
	p.nextFD++
	p.fds[p.nextFD] = byProc
	return kernelFile(p.nextFD), nil
}

// Close closes the file in every process that has it.
func (p *Processes) Close(f scenario.FileRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := f.(kernelFile)
	byProc := p.fds[int(id)]
	if !ok || byProc == nil {
		return errno.EBADF
	}
	delete(p.fds, int(id))
	var first error
	for name, fd := range byProc {
		if _, err := p.proc[name].syscall(unix.SYS_CLOSE, uint64(fd)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Release stops every agent (the forked ones first, then main) and
// removes the socket. It is safe to call more than once.
func (p *Processes) Release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for name, a := range p.proc {
		if name != "main" {
			a.quit()
		}
	}
	if a, ok := p.proc["main"]; ok {
		a.quit()
	}
	p.ln.Close()
	return os.RemoveAll(p.dir)
}

// quit asks the agent to exit and makes sure it does.
func (a *agent) quit() {
	a.conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(a.conn, "q\n")
	a.rd.ReadString('\n') // EOF once it has exited
	a.conn.Close()
	syscall.Kill(a.pid, syscall.SIGKILL) // gone already, or hung
}

type procSpace struct {
	p    *Processes
	name string
}

// agent returns the space's process.
func (s procSpace) agent() *agent {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.proc[s.name]
}

func (s procSpace) fd(f scenario.FileRef) (int, error) {
	if f == nil {
		return -1, nil
	}
	id, ok := f.(kernelFile)
	if !ok {
		return 0, fmt.Errorf("kerneltest: file %v is not this backend's", f)
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	fd, ok := s.p.fds[int(id)][s.name]
	if !ok {
		return 0, errno.EBADF
	}
	return fd, nil
}

func (s procSpace) Mmap(addr, length uint64, prot, flags int, file scenario.FileRef, off uint64) (uint64, error) {
	fd, err := s.fd(file)
	if err != nil {
		return 0, err
	}
	if flags&mm.MapFixed != 0 && !s.p.win.safe(addr, length) && !rejected(addr, length, true) {
		return 0, refuse("mmap MAP_FIXED", addr, length, s.p.win)
	}
	return s.agent().syscall(unix.SYS_MMAP, addr, length, uint64(prot), uint64(flags), uint64(fd), off)
}

// rangeCall is a call over [addr, addr+length) after munmap's window check.
func (s procSpace) rangeCall(name string, nr uintptr, addr, length uint64, args ...uint64) error {
	if !s.p.win.safe(addr, length) && !rejected(addr, length, true) {
		return refuse(name, addr, length, s.p.win)
	}
	_, err := s.agent().syscall(nr, append([]uint64{addr, length}, args...)...)
	return err
}

func (s procSpace) Munmap(addr, length uint64) error {
	return s.rangeCall("munmap", unix.SYS_MUNMAP, addr, length)
}

func (s procSpace) Mprotect(addr, length uint64, prot int) error {
	if !s.p.win.safe(addr, length) && !rejected(addr, length, false) {
		return refuse("mprotect", addr, length, s.p.win)
	}
	_, err := s.agent().syscall(unix.SYS_MPROTECT, addr, length, uint64(prot))
	return err
}

func (s procSpace) Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error) {
	if !s.p.win.safe(old, max(oldLen, 1)) && !rejected(old, max(oldLen, 1), true) {
		return 0, refuse("mremap", old, oldLen, s.p.win)
	}
	if flags&mm.MremapFixed != 0 && !s.p.win.safe(newAddr, newLen) && !rejected(newAddr, newLen, true) {
		return 0, refuse("mremap MREMAP_FIXED to", newAddr, newLen, s.p.win)
	}
	return s.agent().syscall(unix.SYS_MREMAP, old, oldLen, newLen, uint64(flags), newAddr)
}

func (s procSpace) SetAnonName(addr, length uint64, name *string) error {
	if !s.p.win.safe(addr, length) && !rejected(addr, length, true) {
		return refuse("prctl PR_SET_VMA_ANON_NAME", addr, length, s.p.win)
	}
	n := "-"
	if name != nil {
		if strings.IndexByte(*name, 0) >= 0 {
			return errno.EINVAL
		}
		n = hex.EncodeToString([]byte(*name))
		if n == "" {
			n = "00" // the empty name: one NUL
		}
	}
	_, err := s.agent().do("n %x %x %s", addr, length, n)
	return err
}

func (s procSpace) Madvise(addr, length uint64, advice int) error {
	return s.rangeCall("madvise", unix.SYS_MADVISE, addr, length, uint64(advice))
}

func (s procSpace) Mlock2(addr, length uint64, flags int) error {
	if flags == 0 {
		return s.rangeCall("mlock", unix.SYS_MLOCK, addr, length)
	}
	return s.rangeCall("mlock2", unix.SYS_MLOCK2, addr, length, uint64(flags))
}

func (s procSpace) Munlock(addr, length uint64) error {
	return s.rangeCall("munlock", unix.SYS_MUNLOCK, addr, length)
}

// Mlockall locks the agent, which is small: every form is made.
func (s procSpace) Mlockall(flags int) error {
	_, err := s.agent().syscall(unix.SYS_MLOCKALL, uint64(flags))
	return err
}

func (s procSpace) Munlockall() error {
	_, err := s.agent().syscall(unix.SYS_MUNLOCKALL)
	return err
}

// Brk is brk(2) in the agent, which never moves its break itself (it
// allocates nothing), so a script may move it inside the window; an
// address below the agent's heap start only asks where the break is. To
// move it the window must hold the heap (UseHeapWindow): forked agents
// share their parent's heap start, a fresh one has its own.
func (s procSpace) Brk(addr uint64) (uint64, error) {
	a := s.agent()
	if start, ok := startBrkOf(a.pid); !ok || addr >= start && !s.p.win.Contains(addr, 0) {
		return 0, refuse("brk", addr, 0, s.p.win)
	}
	return a.syscall(unix.SYS_BRK, addr)
}

// UseHeapWindow makes the window the size bytes from the main agent's heap
// start (start_brk), where scripts can move the break, and returns it.
// The main agent's break must not have moved yet. Call it before the
// script runs.
func (p *Processes) UseHeapWindow(size uint64) (Window, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.proc["main"]
	start, ok := startBrkOf(a.pid)
	if !ok || start%mm.PageSize != 0 {
		return Window{}, fmt.Errorf("kerneltest: the agent's start_brk %#x is unreadable or unaligned", start)
	}
	if cur, err := a.syscall(unix.SYS_BRK, 0); err != nil || cur != start {
		return Window{}, fmt.Errorf("kerneltest: the agent's break is at %#x (%v), not at its start %#x", cur, err, start)
	}
	p.win = Window{Base: start, Size: size}
	return p.win, nil
}

func (s procSpace) Mseal(addr, length uint64, flags int) error {
	return s.rangeCall("mseal", unix.SYS_MSEAL, addr, length, uint64(flags))
}

func (s procSpace) Touch(addr uint64, write bool) error {
	if !s.p.win.Contains(addr, 1) && addr < mm.TaskSize {
		return fmt.Errorf("kerneltest: refusing to touch %#x outside the window %v", addr, s.p.win)
	}
	w := 0
	if write {
		w = 1
	}
	_, err := s.agent().do("t %x %x", addr, w)
	return err
}

func (s procSpace) mapsPath() string { return fmt.Sprintf("/proc/%d/maps", s.agent().pid) }

// Maps returns the window's lines of the process's /proc/PID/maps.
func (s procSpace) Maps() (string, error) {
	b, err := os.ReadFile(s.mapsPath())
	if err != nil {
		return "", errnoOf(err)
	}
	return s.p.win.FilterMaps(string(b)), nil
}

// MapsWith reads the maps text: the kernel has one reader.
func (s procSpace) MapsWith(procfs.Reader) (string, error) { return s.Maps() }

// Query issues PROCMAP_QUERY on the process's maps file, as the in-process
// backend does on its own.
func (s procSpace) Query(flags, addr uint64) (procfs.QueryResult, error) {
	return queryWindow(s.mapsPath(), s.p.win, flags, addr)
}
