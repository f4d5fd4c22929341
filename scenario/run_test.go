package scenario

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"specvma/errno"
)

// fakeBackend records every call and answers from canned results.
type fakeBackend struct {
	calls    []string
	spaceErr map[string]error // Space(name) fails with this
	openErr  map[string]error // Open(path) fails with this
	errs     map[string]error // a call (by its recorded text) fails with this
	addrs    map[string]uint64
	maps     map[string]string // per space
	nextFile int
	open     map[int]bool
}

type fakeFile struct{ id int }

func newFake() *fakeBackend {
	return &fakeBackend{
		spaceErr: map[string]error{}, openErr: map[string]error{}, errs: map[string]error{},
		addrs: map[string]uint64{}, maps: map[string]string{}, open: map[int]bool{},
	}
}

func (b *fakeBackend) record(s string) error {
	b.calls = append(b.calls, s)
	return b.errs[s]
}

func (b *fakeBackend) Space(name string) (Space, error) {
	b.calls = append(b.calls, "space "+name)
	if err := b.spaceErr[name]; err != nil {
		return nil, err
	}
	return &fakeSpace{b: b, name: name}, nil
}

func (b *fakeBackend) Open(path string) (FileRef, error) {
	b.calls = append(b.calls, "open "+path)
	if err := b.openErr[path]; err != nil {
		return nil, err
	}
	b.nextFile++
	b.open[b.nextFile] = true
	return fakeFile{b.nextFile}, nil
}

func (b *fakeBackend) Close(f FileRef) error {
	ff := f.(fakeFile)
	delete(b.open, ff.id)
	return b.record(fmt.Sprintf("close #%d", ff.id))
}

type fakeSpace struct {
	b    *fakeBackend
	name string
}

func fileText(f FileRef) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("#%d", f.(fakeFile).id)
}

func (s *fakeSpace) Mmap(addr, length uint64, prot, flags int, file FileRef, off uint64) (uint64, error) {
	call := fmt.Sprintf("%s: mmap %#x %#x %d %#x %s %#x", s.name, addr, length, prot, flags, fileText(file), off)
	if err := s.b.record(call); err != nil {
		return 0, err
	}
	if a, ok := s.b.addrs[call]; ok {
		return a, nil
	}
	return addr, nil
}

func (s *fakeSpace) Munmap(addr, length uint64) error {
	return s.b.record(fmt.Sprintf("%s: munmap %#x %#x", s.name, addr, length))
}

func (s *fakeSpace) Mprotect(addr, length uint64, prot int) error {
	return s.b.record(fmt.Sprintf("%s: mprotect %#x %#x %d", s.name, addr, length, prot))
}

func (s *fakeSpace) Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error) {
	call := fmt.Sprintf("%s: mremap %#x %#x %#x %d %#x", s.name, old, oldLen, newLen, flags, newAddr)
	if err := s.b.record(call); err != nil {
		return 0, err
	}
	if a, ok := s.b.addrs[call]; ok {
		return a, nil
	}
	return old, nil
}

func (s *fakeSpace) SetAnonName(addr, length uint64, name *string) error {
	n := "<nil>"
	if name != nil {
		n = "[" + *name + "]"
	}
	return s.b.record(fmt.Sprintf("%s: anon_name %#x %#x %s", s.name, addr, length, n))
}

func (s *fakeSpace) Madvise(addr, length uint64, advice int) error {
	return s.b.record(fmt.Sprintf("%s: madvise %#x %#x %d", s.name, addr, length, advice))
}

func (s *fakeSpace) Mlock2(addr, length uint64, flags int) error {
	return s.b.record(fmt.Sprintf("%s: mlock2 %#x %#x %d", s.name, addr, length, flags))
}

func (s *fakeSpace) Munlock(addr, length uint64) error {
	return s.b.record(fmt.Sprintf("%s: munlock %#x %#x", s.name, addr, length))
}

func (s *fakeSpace) Mlockall(flags int) error {
	return s.b.record(fmt.Sprintf("%s: mlockall %d", s.name, flags))
}

func (s *fakeSpace) Munlockall() error { return s.b.record(s.name + ": munlockall") }

func (s *fakeSpace) Brk(addr uint64) (uint64, error) {
	return addr, s.b.record(fmt.Sprintf("%s: brk %#x", s.name, addr))
}

func (s *fakeSpace) Mseal(addr, length uint64, flags int) error {
	return s.b.record(fmt.Sprintf("%s: mseal %#x %#x %d", s.name, addr, length, flags))
}

func (s *fakeSpace) Touch(addr uint64, write bool) error {
	return s.b.record(fmt.Sprintf("%s: touch %#x %v", s.name, addr, write))
}

func (s *fakeSpace) Maps() (string, error) {
	if err := s.b.record(s.name + ": maps"); err != nil {
		return "", err
	}
	return s.b.maps[s.name], nil
}

// fakeUprobes adds the uprobe commands to fakeBackend.
type fakeUprobes struct {
	*fakeBackend
	hits map[uint64][]string
	rets []string
	bps  []string
}

func (u *fakeUprobes) Probe(space, spec string) error {
	return u.record(space + ": probe [" + spec + "]")
}

func (u *fakeUprobes) Hit(space string, addr uint64) ([]string, error) {
	if err := u.record(fmt.Sprintf("%s: hit %#x", space, addr)); err != nil {
		return nil, err
	}
	return u.hits[addr], nil
}

func (u *fakeUprobes) Ret(space string) ([]string, error) {
	if err := u.record(space + ": ret"); err != nil {
		return nil, err
	}
	r := u.rets
	u.rets = nil
	return r, nil
}

func (u *fakeUprobes) Breakpoints(space string) ([]string, error) {
	if err := u.record(space + ": breakpoints"); err != nil {
		return nil, err
	}
	return u.bps, nil
}

func run(t *testing.T, b Backend, script string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := Run("t.vma", strings.NewReader(script), b, &out)
	return out.String(), err
}

func checkCalls(t *testing.T, b *fakeBackend, want ...string) {
	t.Helper()
	if got := strings.Join(b.calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestRunOutputFormat(t *testing.T) {
	b := newFake()
	b.errs["main: munmap 0x1000 0x1000"] = errno.EINVAL
	b.errs["main: mprotect 0x200000000000 0x1000 1"] = errno.ENOMEM
	b.errs["main: touch 0x5000 true"] = errno.EFAULT
	b.errs["main: mremap 0x200000000000 0x1000 0x2000 0 0x0"] = errno.ENOMEM
	b.errs["main: mmap 0x0 0x0 3 0x22 - 0x0"] = errno.EINVAL
	b.errs["main: anon_name 0x200000000000 0x1000 [bad[]"] = errno.EINVAL
	b.addrs["main: mmap 0x0 0x1000 3 0x22 - 0x0"] = 0x7ffff7ffe000
	b.addrs["main: mremap 0x200000000000 0x1000 0x2000 1 0x0"] = 0x7ffff7ff0000
	b.maps["main"] = "200000000000-200000001000 rw-p 00000000 00:00 0 \n"
	script := `
# everything the address-space commands print
mmap 0x200000000000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
mmap 0 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
mmap 0 0 rw- MAP_PRIVATE|MAP_ANONYMOUS
munmap 0x1000 0x1000
munmap 0x200000001000 0x1000
mprotect 0x200000000000 0x1000 r--
mprotect 0x200000000000 0x1000 rwx
mremap 0x200000000000 0x1000 0x2000 0
mremap 0x200000000000 0x1000 0x2000 MREMAP_MAYMOVE
mremap 0x200000000000 0x1000 0x1000 MREMAP_MAYMOVE|MREMAP_FIXED 0x300000000000
anon_name 0x200000000000 0x1000 ring buffer
anon_name 0x200000000000 0x1000 -
anon_name 0x200000000000 0x1000 bad[
touch 0x200000000000 read
touch 0x5000 write
maps
process other
maps
process main
`
	out, err := run(t, b, script)
	if err != nil {
		t.Fatal(err)
	}
	want := `= 0x200000000000
= 0x7ffff7ffe000
= -EINVAL
= -EINVAL
= 0
= -ENOMEM
= 0
= -ENOMEM
= 0x7ffff7ff0000
= 0x200000000000
= 0
= 0
= -EINVAL
= 0
= -EFAULT
200000000000-200000001000 rw-p 00000000 00:00 0 
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	checkCalls(t, b,
		"space main",
		"main: mmap 0x200000000000 0x1000 3 0x22 - 0x0",
		"main: mmap 0x0 0x1000 3 0x22 - 0x0",
		"main: mmap 0x0 0x0 3 0x22 - 0x0",
		"main: munmap 0x1000 0x1000",
		"main: munmap 0x200000001000 0x1000",
		"main: mprotect 0x200000000000 0x1000 1",
		"main: mprotect 0x200000000000 0x1000 7",
		"main: mremap 0x200000000000 0x1000 0x2000 0 0x0",
		"main: mremap 0x200000000000 0x1000 0x2000 1 0x0",
		"main: mremap 0x200000000000 0x1000 0x1000 3 0x300000000000",
		"main: anon_name 0x200000000000 0x1000 [ring buffer]",
		"main: anon_name 0x200000000000 0x1000 <nil>",
		"main: anon_name 0x200000000000 0x1000 [bad[]",
		"main: touch 0x200000000000 false",
		"main: touch 0x5000 true",
		"main: maps",
		"space other",
		"other: maps",
		"space main",
	)
}

func TestRunMapsWithoutNewline(t *testing.T) {
	b := newFake()
	b.maps["main"] = "a\nb"
	out, err := run(t, b, "maps\nmaps")
	if err != nil || out != "a\nb\na\nb\n" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestRunFiles(t *testing.T) {
	b := newFake()
	b.openErr["/missing"] = errno.ENOENT
	b.openErr["/secret"] = errno.EACCES
	b.errs["main: mmap 0x3000 0x1000 3 0x1 #1 0x0"] = errno.EACCES
	script := `open a /etc/passwd
mmap 0x1000 0x1000 r-- MAP_PRIVATE a 0x1000
mmap 0x2000 0x1000 r-- MAP_PRIVATE /etc/group 0
mmap 0x3000 0x1000 rw- MAP_SHARED a 0
mmap 0x4000 0x1000 r-- MAP_PRIVATE /missing 0
open b /secret
mmap 0x5000 0x1000 r-- MAP_PRIVATE b 0
close b
close a
close a
close never
mmap 0x6000 0x1000 r-- MAP_PRIVATE a 0
open c /etc/hosts
open c /etc/hosts
`
	out, err := run(t, b, script)
	if err != nil {
		t.Fatal(err)
	}
	want := `= 0
= 0x1000
= 0x2000
= -EACCES
= -ENOENT
= -EACCES
= -EBADF
= -EBADF
= 0
= -EBADF
= -EBADF
= -EBADF
= 0
= 0
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	checkCalls(t, b,
		"open /etc/passwd",
		"space main",
		"main: mmap 0x1000 0x1000 1 0x2 #1 0x1000",
		"open /etc/group",
		"main: mmap 0x2000 0x1000 1 0x2 #2 0x0",
		"close #2",
		"main: mmap 0x3000 0x1000 3 0x1 #1 0x0",
		"open /missing",
		"open /secret",
		"close #1",
		"open /etc/hosts",
		"close #3",
		"open /etc/hosts",
		"close #4", // left open: closed at the end
	)
	if len(b.open) != 0 {
		t.Errorf("files left open: %v", b.open)
	}
}

func TestRunProcesses(t *testing.T) {
	b := newFake()
	b.maps["a"] = "A\n"
	out, err := run(t, b, "process a\nprocess a\nmaps\nprocess main\nprocess a\nmaps\n")
	if err != nil || out != "A\nA\n" {
		t.Errorf("got %q, %v", out, err)
	}
	checkCalls(t, b, "space a", "a: maps", "space main", "space a", "a: maps")

	// A script of nothing but open/close never asks for a space.
	b = newFake()
	if _, err := run(t, b, "open f /x\nclose f\n"); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, b, "open /x", "close #1")
}

func TestRunRuntimeErrors(t *testing.T) {
	// A backend refusing a second address space stops the run at that line,
	// after the output of the lines before it, and still closes files.
	b := newFake()
	b.spaceErr["other"] = errors.New("only one process")
	out, err := run(t, b, "open f /x\nmmap 0x1000 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS\n\nprocess other\nmaps\n")
	if out != "= 0\n= 0x1000\n" {
		t.Errorf("output %q", out)
	}
	var se *Error
	if !errors.As(err, &se) || err.Error() != `t.vma:4: process: address space "other": only one process` {
		t.Errorf("error %v", err)
	}
	if len(b.open) != 0 {
		t.Errorf("files left open: %v", b.open)
	}

	// The first space is created lazily: its refusal names the first line
	// that needs it.
	b = newFake()
	b.spaceErr["main"] = errors.New("no")
	_, err = run(t, b, "# c\nopen f /x\ntouch 0 read\n")
	if err == nil || err.Error() != `t.vma:3: touch: address space "main": no` {
		t.Errorf("error %v", err)
	}

	// A backend error that is not an errno stops the run.
	b = newFake()
	b.errs["main: munmap 0x1000 0x1000"] = errors.New("backend broke")
	out, err = run(t, b, "munmap 0x2000 0x1000\nmunmap 0x1000 0x1000\nmunmap 0x3000 0x1000\n")
	if out != "= 0\n" || err == nil || err.Error() != "t.vma:2: munmap: backend broke" {
		t.Errorf("got %q, %v", out, err)
	}

	// Wrapped errnos are errnos.
	b = newFake()
	b.errs["main: munmap 0x1000 0x1000"] = fmt.Errorf("wrapped: %w", errno.EPERM)
	out, err = run(t, b, "munmap 0x1000 0x1000\n")
	if out != "= -EPERM\n" || err != nil {
		t.Errorf("got %q, %v", out, err)
	}

	// maps failing is a runtime error, not a result line.
	b = newFake()
	b.errs["main: maps"] = errno.EIO
	out, err = run(t, b, "maps\n")
	if out != "" || err == nil || err.Error() != "t.vma:1: maps: EIO" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestRunParseErrorRunsNothing(t *testing.T) {
	b := newFake()
	out, err := run(t, b, "open f /x\nmmap 0x1000 0x1000 r-- MAP_PRIVATE f 0\nmaps\nmunmap 0x1000\n")
	if out != "" || len(b.calls) != 0 {
		t.Errorf("ran before the parse error: output %q, calls %v", out, b.calls)
	}
	if err == nil || err.Error() != "t.vma:4: munmap: got 1 arguments, want ADDR LEN" {
		t.Errorf("error %v", err)
	}
}

func TestRunUprobes(t *testing.T) {
	// Without uprobe support the run stops before it starts.
	b := newFake()
	out, err := run(t, b, "mmap 0x1000 0x1000 r-x MAP_PRIVATE|MAP_ANONYMOUS\nhit 0x1000\n")
	if out != "" || len(b.calls) != 0 || err == nil || err.Error() != "t.vma:2: hit: uprobes not available" {
		t.Errorf("got %q, %v, calls %v", out, err, b.calls)
	}

	u := &fakeUprobes{
		fakeBackend: newFake(),
		hits:        map[uint64][]string{0x401000: {"grp/a", "grp/b"}, 0x401010: {"uprobes/ret"}},
		bps:         []string{"0x401000 grp/a,grp/b", "0x401010 uprobes/ret"},
	}
	u.errs["main: probe [p:bad /nonexistent:0x10]"] = errno.ENOENT
	u.errs["main: hit 0xdead"] = errno.EFAULT
	script := `probe p:grp/a /bin/true:0x1000
probe p:bad /nonexistent:0x10
hit 0x401000
hit 0x402000
hit 0x401010
ret
ret
breakpoints
hit 0xdead
process other
breakpoints
`
	u.rets = []string{"uprobes/r1"}
	out, err = run(t, u, script)
	if err != nil {
		t.Fatal(err)
	}
	want := `= 0
= -ENOENT
grp/a grp/b
-
uprobes/ret
uprobes/r1
-
0x401000 grp/a,grp/b
0x401010 uprobes/ret
= -EFAULT
0x401000 grp/a,grp/b
0x401010 uprobes/ret
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	checkCalls(t, u.fakeBackend,
		"space main",
		"main: probe [p:grp/a /bin/true:0x1000]",
		"main: probe [p:bad /nonexistent:0x10]",
		"main: hit 0x401000",
		"main: hit 0x402000",
		"main: hit 0x401010",
		"main: ret",
		"main: ret",
		"main: breakpoints",
		"main: hit 0xdead",
		"space other",
		"other: breakpoints",
	)
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("pipe closed") }

func TestRunWriteError(t *testing.T) {
	err := Run("w.vma", strings.NewReader("munmap 0x1000 0x1000\n"), newFake(), failWriter{})
	if err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Errorf("error %v", err)
	}
}

func TestRunForkNeedsForker(t *testing.T) {
	b := newFake()
	out, err := run(t, b, "mmap 0x1000 0x1000 r-x MAP_PRIVATE|MAP_ANONYMOUS\nprocess c fork\n")
	if out != "" || len(b.calls) != 0 || err == nil || err.Error() != "t.vma:2: process: fork not available" {
		t.Errorf("output %q, calls %v, error %v", out, b.calls, err)
	}
}
