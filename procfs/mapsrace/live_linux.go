//go:build linux

package mapsrace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"specvma/procfs"
)

// ChildEnv, set to 1 in a program's environment, makes RunChildIfAsked
// turn the program into the modifier child of a LiveTarget.
const ChildEnv = "SPECVMA_MAPSRACE_CHILD"

// RunChildIfAsked runs the modifier and exits when ChildEnv is set; a
// program that may be started as the child (a test binary in its
// TestMain) calls it first.
func RunChildIfAsked() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	if err := runChild(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mapsrace child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// The child's side: a line protocol on stdin/stdout. It maps the VMAs,
// prints "ready", then answers each command with "ok" or "err MESSAGE":
//
//	arm RACE ADDR NEXT PROT   modify   restore   churn   stop   exit
func runChild(in io.Reader, out io.Writer) error {
	for i := 0; i < VMACount; i++ {
		if err := sysMmap(VMAStart(i), 3*Page, VMAProt(i), unix.MAP_FIXED_NOREPLACE); err != nil {
			return fmt.Errorf("mapping VMA %d: %w", i, err)
		}
	}
	var (
		c      childOps
		stop   atomic.Bool
		done   chan error
		rounds atomic.Int64
	)
	w := bufio.NewWriter(out)
	reply := func(err error) {
		if err != nil {
			fmt.Fprintf(w, "err %v\n", err)
		} else {
			fmt.Fprintln(w, "ok")
		}
		w.Flush()
	}
	reply(nil)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "arm":
			reply(c.arm(f[1:]))
		case "modify":
			reply(c.modify())
		case "restore":
			reply(c.restore())
		case "churn":
			stop.Store(false)
			done = make(chan error, 1)
			go func() {
				for !stop.Load() {
					if err := c.modify(); err != nil {
						done <- err
						return
					}
					if err := c.restore(); err != nil {
						done <- err
						return
					}
					rounds.Add(1)
				}
				done <- nil
			}()
			reply(nil)
		case "stop":
			stop.Store(true)
			if done == nil {
				reply(errors.New("not churning"))
				continue
			}
			reply(<-done)
			done = nil
		case "exit":
			return nil
		default:
			reply(fmt.Errorf("unknown command %q", f[0]))
		}
	}
	return sc.Err()
}

type childOps struct {
	race       Race
	addr, next uint64
	prot       int
}

func (c *childOps) arm(args []string) error {
	if len(args) != 4 {
		return errors.New("arm RACE ADDR NEXT PROT")
	}
	r, err := strconv.Atoi(args[0])
	if err != nil || r < 0 || r > int(Remap) {
		return fmt.Errorf("bad race %q", args[0])
	}
	var v [3]uint64
	for i, a := range args[1:] {
		if v[i], err = strconv.ParseUint(a, 0, 64); err != nil {
			return err
		}
	}
	c.race, c.addr, c.next, c.prot = Race(r), v[0], v[1], int(v[2])
	return nil
}

func (c *childOps) modify() error {
	switch c.race {
	case Split:
		return sysMmap(c.addr+Page, Page, c.prot|ProtExec, unix.MAP_FIXED)
	case Resize:
		return sysMremap(c.addr, 3*Page, Page, 0, 0)
	default:
		return sysMremap(c.next+2*Page, Page, Page, unix.MREMAP_FIXED|unix.MREMAP_MAYMOVE|unix.MREMAP_DONTUNMAP, c.addr+Page)
	}
}

func (c *childOps) restore() error {
	switch c.race {
	case Split:
		return sysMmap(c.addr+Page, Page, c.prot, unix.MAP_FIXED)
	case Resize:
		return sysMremap(c.addr, Page, 3*Page, 0, 0)
	default:
		_, _, e := unix.Syscall(unix.SYS_MPROTECT, uintptr(c.addr+Page), Page, uintptr(c.prot))
		return errnoErr(e)
	}
}

func sysMmap(addr, length uint64, prot, fixed int) error {
	r, _, e := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot),
		uintptr(unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|fixed), ^uintptr(0), 0)
	if e == 0 && uint64(r) != addr {
		return fmt.Errorf("mmap at %#x gave %#x", addr, r)
	}
	return errnoErr(e)
}

func sysMremap(addr, oldLen, newLen uint64, flags int, newAddr uint64) error {
	_, _, e := unix.Syscall6(unix.SYS_MREMAP, uintptr(addr), uintptr(oldLen), uintptr(newLen), uintptr(flags), uintptr(newAddr), 0)
	return errnoErr(e)
}

func errnoErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// LiveTarget is a child process running the modifier, read through its
// /proc/PID/maps and PROCMAP_QUERY.
type LiveTarget struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	maps *os.File
}

// StartLive starts cmd (a program that calls RunChildIfAsked) as the
// modifier child and opens its maps file.
func StartLive(cmd *exec.Cmd) (*LiveTarget, error) {
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &LiveTarget{cmd: cmd, in: in, out: bufio.NewReader(out)}
	if err := t.await(); err != nil {
		t.Close()
		return nil, fmt.Errorf("child setup: %w", err)
	}
	if t.maps, err = os.Open(procfs.MapsPath(cmd.Process.Pid)); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Pid is the child's process ID.
func (t *LiveTarget) Pid() int { return t.cmd.Process.Pid }

func (t *LiveTarget) await() error {
	line, err := t.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("child: %w", err)
	}
	line = strings.TrimSpace(line)
	if line != "ok" {
		return errors.New("child: " + line)
	}
	return nil
}

func (t *LiveTarget) do(cmd string) error {
	if _, err := io.WriteString(t.in, cmd+"\n"); err != nil {
		return err
	}
	return t.await()
}

// Arm implements Target.
func (t *LiveTarget) Arm(r Race, addr, next uint64, prot int) error {
	return t.do(fmt.Sprintf("arm %d %#x %#x %d", r, addr, next, prot))
}

// Modify implements Target.
func (t *LiveTarget) Modify() error { return t.do("modify") }

// Restore implements Target.
func (t *LiveTarget) Restore() error { return t.do("restore") }

// StartChurn implements Target.
func (t *LiveTarget) StartChurn() error { return t.do("churn") }

// StopChurn implements Target.
func (t *LiveTarget) StopChurn() error { return t.do("stop") }

// ReadPages implements Target: lseek to 0, then two one-page read()s.
func (t *LiveTarget) ReadPages() ([]byte, []byte, error) {
	if _, err := t.maps.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	return readTwoPages(t.maps.Read)
}

// Query implements Target.
func (t *LiveTarget) Query(addr uint64) (uint64, uint64, error) {
	r, err := procfs.QueryLive(t.maps, procfs.Query{Addr: addr})
	return r.Start, r.End, err
}

// Close ends the child.
func (t *LiveTarget) Close() error {
	if t.maps != nil {
		t.maps.Close()
	}
	_, _ = io.WriteString(t.in, "exit\n")
	t.in.Close()
	return t.cmd.Wait()
}
