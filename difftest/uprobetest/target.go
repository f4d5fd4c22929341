package uprobetest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"specvma/internal/cbuild"
)

// targetSource is the C program the tests probe. Its probed functions are
// written in assembly so that their bytes, and so the instruction
// boundaries a probe may sit on, do not depend on the compiler: svt_foo is
// one lea and a ret; svt_bar is four nops, then the same; svt_forker is
// fork(2) made with the syscall instruction, and a ret, so that a process
// forks inside a probed function and both return from it. Neither touches
// memory or other code, so they run the same through any executable
// mapping of the file. svt_sema is an SDT-style semaphore: a short in a
// writable section of its own.
//
// Commands, one a line on stdin, each answered with one line on stdout
// ("ok ..." or "err ERRNO"):
//
//	map PROT p|s OFF LEN   mmap LEN bytes of the current file at OFF (hex),
//	                       PROT as rwx letters with dashes: "ok 0xADDR"
//	mprotect ADDR LEN PROT mprotect(2): "ok"
//	call ADDR              call the function at ADDR with 40: "ok RESULT"
//	open PATH              make PATH the current file (initially the
//	                       program's own executable, /proc/self/exe)
//	sema                   the semaphore's value: "ok N"
//	fork ADDR              fork(2); the child calls the function at ADDR
//	                       with 40 and then waits to be killed: "ok PID"
//	                       once the child's call has returned
//	rfork ADDR             call the function at ADDR, svt_forker, which
//	                       forks with a raw fork system call and returns
//	                       in both: the child tells the parent through a
//	                       pipe that it has returned and waits to be
//	                       killed; "ok PID" once it has
//	kill PID               kill and reap a child from fork or rfork: "ok"
//	madvise ADDR LEN ADV   madvise(2), ADV a number: "ok"
//	quit                   exit
//
// At start it prints "ready PID foo=0xADDR bar=0xADDR sema=0xADDR" with the
// loader's addresses of the three symbols.
const targetSource = `#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

__asm__(".text\n"
	".globl svt_foo\n.type svt_foo,@function\n.p2align 4\n"
	"svt_foo:\n\tlea 1(%rdi),%eax\n\tret\n.size svt_foo,.-svt_foo\n"
	".globl svt_bar\n.type svt_bar,@function\n.p2align 4\n"
	"svt_bar:\n\tnop\n\tnop\n\tnop\n\tnop\n\tlea 2(%rdi),%eax\n\tret\n.size svt_bar,.-svt_bar\n"
	".globl svt_forker\n.type svt_forker,@function\n.p2align 4\n"
	"svt_forker:\n\tmov $57,%eax\n\tsyscall\n\tret\n.size svt_forker,.-svt_forker\n");
int svt_foo(int);
int svt_bar(int);

volatile unsigned short svt_sema __attribute__((section(".probes"), used));

static int prot_of(const char *s) {
	int p = 0;
	if (s[0] == 'r') p |= PROT_READ;
	if (s[1] == 'w') p |= PROT_WRITE;
	if (s[2] == 'x') p |= PROT_EXEC;
	return p;
}

int main(void) {
	char line[4200], a[4097], b[8];
	unsigned long x, y;
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0) { perror("open /proc/self/exe"); return 1; }
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d foo=%p bar=%p sema=%p\n", (int)getpid(),
	       (void *)svt_foo, (void *)svt_bar, (void *)&svt_sema);
	while (fgets(line, sizeof line, stdin)) {
		char cmd[16];
		if (sscanf(line, "%15s", cmd) != 1) {
			printf("err empty\n");
		} else if (!strcmp(cmd, "map") && sscanf(line, "%*s %7s %7s %lx %lx", a, b, &x, &y) == 4) {
			void *p = mmap(NULL, y, prot_of(a), b[0] == 's' ? MAP_SHARED : MAP_PRIVATE, fd, (off_t)x);
			if (p == MAP_FAILED) printf("err %d\n", errno);
			else printf("ok %p\n", p);
		} else if (!strcmp(cmd, "mprotect") && sscanf(line, "%*s %lx %lx %7s", &x, &y, a) == 3) {
			if (mprotect((void *)x, y, prot_of(a))) printf("err %d\n", errno);
			else printf("ok\n");
		} else if (!strcmp(cmd, "call") && sscanf(line, "%*s %lx", &x) == 1) {
			int (*f)(int) = (int (*)(int))x;
			printf("ok %d\n", f(40));
		} else if (!strcmp(cmd, "open") && sscanf(line, "%*s %4096s", a) == 1) {
			int nfd = open(a, O_RDONLY);
			if (nfd < 0) printf("err %d\n", errno);
			else { close(fd); fd = nfd; printf("ok\n"); }
		} else if (!strcmp(cmd, "fork") && sscanf(line, "%*s %lx", &x) == 1) {
			int p[2];
			char c = 0;
			if (pipe(p)) { printf("err %d\n", errno); continue; }
			pid_t pid = fork();
			if (pid < 0) { printf("err %d\n", errno); close(p[0]); close(p[1]); continue; }
			if (pid == 0) {
				int (*f)(int) = (int (*)(int))x;
				close(p[0]);
				c = (char)f(40);
				if (write(p[1], &c, 1) != 1) _exit(1);
				for (;;) pause();
			}
			close(p[1]);
			if (read(p[0], &c, 1) != 1) printf("err child\n");
			else printf("ok %d\n", (int)pid);
			close(p[0]);
		} else if (!strcmp(cmd, "rfork") && sscanf(line, "%*s %lx", &x) == 1) {
			int p[2];
			char c = 0;
			long (*f)(void) = (long (*)(void))x;
			if (pipe(p)) { printf("err %d\n", errno); continue; }
			fflush(stdout);
			long pid = f();
			if (pid < 0) { printf("err %ld\n", -pid); close(p[0]); close(p[1]); continue; }
			if (pid == 0) {
				close(p[0]);
				if (write(p[1], &c, 1) != 1) _exit(1);
				for (;;) pause();
			}
			close(p[1]);
			if (read(p[0], &c, 1) != 1) printf("err child\n");
			else printf("ok %ld\n", pid);
			close(p[0]);
		} else if (!strcmp(cmd, "madvise") && sscanf(line, "%*s %lx %lx %7s", &x, &y, b) == 3) {
			if (madvise((void *)x, y, atoi(b))) printf("err %d\n", errno);
			else printf("ok\n");
		} else if (!strcmp(cmd, "kill") && sscanf(line, "%*s %lu", &x) == 1) {
			kill((pid_t)x, SIGKILL);
			waitpid((pid_t)x, NULL, 0);
			printf("ok\n");
		} else if (!strcmp(cmd, "sema")) {
			printf("ok %u\n", (unsigned)svt_sema);
		} else if (!strcmp(cmd, "quit")) {
			printf("ok\n");
			return 0;
		} else {
			printf("err bad command\n");
		}
	}
	return 0;
}
`

// Build compiles the target into dir and returns the executable's path.
func Build(dir string) (string, error) {
	return cbuild.Build(dir, "svt_target", targetSource, "-O1", "-Wall", "-Werror")
}

// Layout is where the target's symbols are in its file.
type Layout struct {
	Foo, Bar, Sema uint64 // file offsets of svt_foo, svt_bar, svt_sema
	Forker         uint64 // file offset of svt_forker
	Size           uint64 // file size
}

// ReadLayout computes the file offsets of the target's symbols from its ELF
// headers (independently of the uprobes package's symbol lookup): the
// offset of a symbol is its address less its PT_LOAD segment's address,
// plus the segment's file offset.
func ReadLayout(path string) (Layout, error) {
	f, err := elf.Open(path)
	if err != nil {
		return Layout{}, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return Layout{}, err
	}
	var l Layout
	want := map[string]*uint64{"svt_foo": &l.Foo, "svt_bar": &l.Bar, "svt_sema": &l.Sema, "svt_forker": &l.Forker}
	for _, s := range syms {
		dst, ok := want[s.Name]
		if !ok {
			continue
		}
		found := false
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && s.Value >= p.Vaddr && s.Value < p.Vaddr+p.Filesz {
				*dst, found = s.Value-p.Vaddr+p.Off, true
				break
			}
		}
		if !found {
			return Layout{}, fmt.Errorf("%s: %s at %#x is in no PT_LOAD file image", path, s.Name, s.Value)
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		return Layout{}, fmt.Errorf("%s: symbols missing: %v", path, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Layout{}, err
	}
	l.Size = uint64(fi.Size())
	return l, nil
}

// replyTimeout bounds how long a command may take: a target that stopped
// (a breakpoint without a uprobe kills it with SIGTRAP) fails the command
// instead of hanging the test.
const replyTimeout = 10 * time.Second

// Target is a running target process.
type Target struct {
	PID            int
	Foo, Bar, Sema uint64 // the loader's addresses of the symbols

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr lockedBuffer
}

// lockedBuffer collects the target's stderr, written by exec's copier while
// a failing command may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs the target at path and waits for its ready line.
func Start(path string) (*Target, error) {
	t := &Target{cmd: exec.Command(path), lines: make(chan string, 16)}
	t.cmd.Stderr = &t.stderr
	var err error
	if t.stdin, err = t.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.lines <- sc.Text()
		}
		close(t.lines)
	}()
	line, err := t.reply()
	if err != nil {
		t.Close()
		return nil, err
	}
	var foo, bar, sema string
	if _, err := fmt.Sscanf(line, "ready %d foo=%s bar=%s sema=%s", &t.PID, &foo, &bar, &sema); err != nil {
		t.Close()
		return nil, fmt.Errorf("target: bad ready line %q: %v", line, err)
	}
	for _, p := range []struct {
		s   string
		dst *uint64
	}{{foo, &t.Foo}, {bar, &t.Bar}, {sema, &t.Sema}} {
		if *p.dst, err = strconv.ParseUint(p.s, 0, 64); err != nil {
			t.Close()
			return nil, fmt.Errorf("target: bad address in %q", line)
		}
	}
	return t, nil
}

func (t *Target) reply() (string, error) {
	select {
	case l, ok := <-t.lines:
		if !ok {
			return "", fmt.Errorf("target %d exited (stderr %q)", t.PID, t.stderr.String())
		}
		return l, nil
	case <-time.After(replyTimeout):
		_ = t.cmd.Process.Kill()
		return "", fmt.Errorf("target %d: no reply in %v", t.PID, replyTimeout)
	}
}

// Do sends one command and returns what follows "ok" in the reply.
func (t *Target) Do(format string, a ...any) (string, error) {
	cmd := fmt.Sprintf(format, a...)
	if _, err := io.WriteString(t.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("target %d: %s: %v", t.PID, cmd, err)
	}
	line, err := t.reply()
	if err != nil {
		return "", fmt.Errorf("%s: %w", cmd, err)
	}
	rest, ok := strings.CutPrefix(line, "ok")
	if !ok {
		return "", &CommandError{Cmd: cmd, Reply: line}
	}
	return strings.TrimSpace(rest), nil
}

// CommandError is a command the target refused.
type CommandError struct{ Cmd, Reply string }

func (e *CommandError) Error() string { return fmt.Sprintf("target: %s: %s", e.Cmd, e.Reply) }

// Map maps length bytes of the current file at off; prot is "r-x" and the
// like. It returns the address.
func (t *Target) Map(prot string, shared bool, off, length uint64) (uint64, error) {
	kind := "p"
	if shared {
		kind = "s"
	}
	r, err := t.Do("map %s %s %x %x", prot, kind, off, length)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(r, 0, 64)
}

// Mprotect changes the protection of [addr, addr+length).
func (t *Target) Mprotect(addr, length uint64, prot string) error {
	_, err := t.Do("mprotect %x %x %s", addr, length, prot)
	return err
}

// Call calls the function at addr with 40 and returns its result.
func (t *Target) Call(addr uint64) (int, error) {
	r, err := t.Do("call %x", addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(r)
}

// Open makes path the file that Map maps.
func (t *Target) Open(path string) error {
	_, err := t.Do("open %s", path)
	return err
}

// Fork forks the target: the child calls the function at addr with 40
// and then waits to be killed (Kill). It returns the child's pid once the
// call has returned.
func (t *Target) Fork(addr uint64) (int, error) {
	r, err := t.Do("fork %x", addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(r)
}

// RFork calls svt_forker at addr, which forks inside itself; it returns
// the child's pid once the child has returned from it.
func (t *Target) RFork(addr uint64) (int, error) {
	r, err := t.Do("rfork %x", addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(r)
}

// Madvise is madvise(2) of [addr, addr+length) with advice.
func (t *Target) Madvise(addr, length uint64, advice int) error {
	_, err := t.Do("madvise %x %x %d", addr, length, advice)
	return err
}

// Kill kills and reaps a child from Fork.
func (t *Target) Kill(pid int) error {
	_, err := t.Do("kill %d", pid)
	return err
}

// Semaphore returns the value of svt_sema as the target reads it.
func (t *Target) Semaphore() (int, error) {
	r, err := t.Do("sema")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(r)
}

// Close ends the target: quit, and a kill if it does not exit.
func (t *Target) Close() error {
	if t.stdin != nil {
		_ = t.stdin.Close() // EOF on stdin: the target exits
	}
	done := make(chan error, 1)
	go func() { done <- t.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(replyTimeout):
		_ = t.cmd.Process.Kill()
		return errors.Join(errors.New("target did not exit; killed"), <-done)
	}
}
