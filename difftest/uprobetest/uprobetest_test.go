//go:build linux && amd64

package uprobetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"specvma/errno"
	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/procfs"
	"specvma/uprobes"
	"specvma/vfs"
)

const pageSize = 4096

var (
	buildOnce sync.Once
	buildDir  string
	builtBin  string
	buildErr  error
	groupSeq  atomic.Int64
)

func TestMain(m *testing.M) {
	testsupport.Main(m, func() {
		if buildDir != "" {
			os.RemoveAll(buildDir)
		}
	})
}

// env is one test's setting: its own copy of the target (so its own inode,
// which no other test probes) and its own tracer.
type env struct {
	t   *testing.T
	bin string
	lay Layout
	sz  uint64 // file size rounded up to pages: the length of whole-file mappings
	tr  *Tracer
}

// requireLive skips unless live uprobes and gcc can be used.
func requireLive(t *testing.T) {
	t.Helper()
	testsupport.RequireRoot(t, "live uprobes are made through tracefs uprobe_events")
	if err := Usable(); err != nil {
		testsupport.Skip(t, "uprobetest: %v", err)
	}
	testsupport.RequireTool(t, "gcc", "the tests build their target with it")
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "uprobetest"); buildErr == nil {
			builtBin, buildErr = Build(buildDir)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the target: %v", buildErr)
	}
}

// newEnv copies the target into dir (t.TempDir() when empty).
func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	requireLive(t)
	if dir == "" {
		dir = t.TempDir()
	}
	e := &env{t: t, bin: filepath.Join(dir, "svt_target")}
	copyFile(t, builtBin, e.bin)
	var err error
	if e.lay, err = ReadLayout(e.bin); err != nil {
		t.Fatal(err)
	}
	e.sz = (e.lay.Size + pageSize - 1) &^ (pageSize - 1)
	e.tr = newTracer(t)
	return e
}

func newTracer(t *testing.T) *Tracer {
	t.Helper()
	g := fmt.Sprintf("specvma_test_%d_%d", os.Getpid(), groupSeq.Add(1))
	tr, err := NewTracer(g)
	if err != nil {
		testsupport.Skip(t, "uprobetest: cannot create tracefs instance %s: %v", g, err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("removing the events of %s: %v", g, err)
		}
	})
	return tr
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func (e *env) start() *Target {
	e.t.Helper()
	return startTarget(e.t, e.bin)
}

func startTarget(t *testing.T, bin string) *Target {
	t.Helper()
	tg, err := Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

// register writes the kernel's probe lines and enables them.
func (e *env) register(lines ...string) {
	e.t.Helper()
	for _, l := range lines {
		if err := e.tr.Add(l); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.tr.Enable(); err != nil {
		e.t.Fatalf("enabling %s: %v", e.tr.Group, err)
	}
}

// spec formats a probe line of the test's group on the test's target.
func (e *env) spec(kind, event, where string) string {
	return fmt.Sprintf("%s:%s/%s %s:%s", kind, e.tr.Group, event, e.bin, where)
}

func hexOff(off uint64) string { return fmt.Sprintf("%#x", off) }

// mapping is one mapping a target made of a file.
type mapping struct {
	name   string
	prot   string // "r-x" and so on
	shared bool
	off    uint64
	len    uint64
	addr   uint64
}

func (m mapping) contains(off uint64) bool { return off >= m.off && off-m.off < m.len }

func (m mapping) at(off uint64) uint64 { return m.addr + off - m.off }

func (m mapping) String() string {
	s := "p"
	if m.shared {
		s = "s"
	}
	return fmt.Sprintf("%s(%s%s off %#x at %#x)", m.name, m.prot, s, m.off, m.addr)
}

func doMap(t *testing.T, tg *Target, ms ...mapping) []mapping {
	t.Helper()
	out := make([]mapping, len(ms))
	for i, m := range ms {
		a, err := tg.Map(m.prot, m.shared, m.off, m.len)
		if err != nil {
			t.Fatalf("mapping %s: %v", m.name, err)
		}
		m.addr = a
		out[i] = m
	}
	return out
}

// fn is one of the target's functions: where it is in the file, the offsets
// of its instructions from its start, and what it returns for 40.
type fn struct {
	name   string
	off    uint64
	insns  []uint64
	result int
}

func (e *env) foo() fn { return fn{"svt_foo", e.lay.Foo, []uint64{0, 3}, 41} }
func (e *env) bar() fn { return fn{"svt_bar", e.lay.Bar, []uint64{0, 1, 2, 3, 4, 7}, 42} }

// call is a call the target made: the function's address and the
// instructions it executed.
type call struct {
	via   string // the mapping it went through
	entry uint64
	insns []uint64
}

// callAll calls each function through the target's own text and through
// every executable mapping that holds it, and returns the calls.
func callAll(t *testing.T, tg *Target, own map[string]uint64, fns []fn, ms []mapping) []call {
	t.Helper()
	var calls []call
	do := func(via string, f fn, entry uint64) {
		got, err := tg.Call(entry)
		if err != nil {
			t.Fatalf("calling %s at %#x via %s: %v", f.name, entry, via, err)
		}
		if got != f.result {
			t.Fatalf("calling %s at %#x via %s: got %d, want %d", f.name, entry, via, got, f.result)
		}
		c := call{via: via, entry: entry}
		for _, d := range f.insns {
			c.insns = append(c.insns, entry+d)
		}
		calls = append(calls, c)
	}
	for _, f := range fns {
		do("text", f, own[f.name])
		for _, m := range ms {
			if strings.Contains(m.prot, "x") && m.contains(f.off) && m.contains(f.off+f.insns[len(f.insns)-1]) {
				do(m.String(), f, m.at(f.off))
			}
		}
	}
	return calls
}

func ownText(tg *Target) map[string]uint64 {
	return map[string]uint64{"svt_foo": tg.Foo, "svt_bar": tg.Bar}
}

// loadModel loads the process into the model with the given lines.
func loadModel(t *testing.T, pid int, lines []string) (*uprobes.System, *mm.AddressSpace) {
	t.Helper()
	return loadModelWith(t, pid, lines, procfs.LoadOptions{})
}

// loadModelWith is loadModel with the live loader's options.
func loadModelWith(t *testing.T, pid int, lines []string, o procfs.LoadOptions) (*uprobes.System, *mm.AddressSpace) {
	t.Helper()
	as, _, err := procfs.LoadLive(pid, o)
	if err != nil {
		t.Fatalf("loading process %d into the model: %v", pid, err)
	}
	t.Cleanup(as.Exit)
	sys, err := uprobes.Instrument(as, lines)
	if err != nil {
		t.Fatalf("probing process %d in the model: %v", pid, err)
	}
	return sys, as
}

// events maps the file offsets of the probes to their events.
type events map[uint64][]string

func (ev events) offsets() []uint64 {
	var out []uint64
	for o := range ev {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// kernelBreakpoints lists the events of each breakpoint the kernel wrote
// into process pid on the file at path.
func kernelBreakpoints(t *testing.T, pid int, path string, ev events) ([]uprobes.EventAddr, []Site) {
	t.Helper()
	sites, err := Sites(pid, path, ev.offsets())
	if err != nil {
		t.Fatal(err)
	}
	var out []uprobes.EventAddr
	for _, s := range sites {
		if s.Breakpoint {
			for _, name := range ev[s.Off] {
				out = append(out, uprobes.EventAddr{Addr: s.Addr, Event: name})
			}
		}
	}
	sortEA(out)
	return out, sites
}

func sortEA(s []uprobes.EventAddr) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Addr != s[j].Addr {
			return s[i].Addr < s[j].Addr
		}
		return s[i].Event < s[j].Event
	})
}

func eaStrings(s []uprobes.EventAddr) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%s@%#x", x.Event, x.Addr)
	}
	return out
}

// checkBreakpoints compares the kernel's breakpoints in process pid with the
// model's, and the file identities on both sides.
func checkBreakpoints(t *testing.T, pid int, path string, ev events, sys *uprobes.System, as *mm.AddressSpace) {
	t.Helper()
	kern, sites := kernelBreakpoints(t, pid, path, ev)
	model := sys.EventBreakpoints(as)
	var b strings.Builder
	for _, s := range sites {
		_, inModel := as.Breakpoint(s.Addr)
		fmt.Fprintf(&b, "\n  %#x (offset %#x) kernel=%v model=%v  %s", s.Addr, s.Off, s.Breakpoint, inModel, s.Entry)
	}
	if !slicesEqual(eaStrings(kern), eaStrings(model)) {
		t.Errorf("process %d: breakpoints differ\n kernel: %v\n model:  %v\n sites:%s",
			pid, eaStrings(kern), eaStrings(model), b.String())
	} else if testing.Verbose() {
		t.Logf("process %d sites:%s", pid, b.String())
	}
	checkIdentity(t, path, sites, sys)
}

// checkIdentity: the maps lines' (device, inode), from which procfs.Load
// builds the model's files, must be the identity stat gives for path,
// which AddEvent registers the probes on.
func checkIdentity(t *testing.T, path string, sites []Site, sys *uprobes.System) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	want := vfs.InodeID{Dev: vfs.Dev{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev)}, Ino: st.Ino}
	for _, s := range sites {
		if got := (vfs.InodeID{Dev: s.Entry.Dev, Ino: s.Entry.Inode}); got != want {
			t.Errorf("maps line %q has identity %v, stat(%s) %v", s.Entry, got, path, want)
		}
	}
	for _, e := range sys.Events() {
		if e.Spec.Path == path && e.Inode != want {
			t.Errorf("event %s registered on %v, stat(%s) gives %v", e.Consumer.Name, e.Inode, path, want)
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// kernelHits returns the trace's hits by process pid as sorted strings
// ("GRP/EVENT@0xADDR", return probes at the function's address).
func kernelHits(t *testing.T, tr *Tracer, pid int) ([]string, []Hit) {
	t.Helper()
	hits, err := tr.Hits()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var mine []Hit
	for _, h := range hits {
		if h.PID != pid {
			continue
		}
		mine = append(mine, h)
		out = append(out, fmt.Sprintf("%s@%#x", h.Event, h.Addr))
	}
	sort.Strings(out)
	return out, mine
}

// modelHits runs the calls in the model with strategy s: each instruction
// is executed (Task.HitNames), then the function returns
// (Task.ReturnNames until no return instance is left).
func modelHits(sys *uprobes.System, as *mm.AddressSpace, s mm.Strategy, calls []call) []string {
	task := sys.NewTask(as, s)
	defer task.Exit()
	var out []string
	for _, c := range calls {
		for _, a := range c.insns {
			names, _ := task.HitNames(a)
			for _, n := range names {
				out = append(out, fmt.Sprintf("%s@%#x", n, a))
			}
		}
		for task.Depth() > 0 {
			names, _ := task.ReturnNames()
			for _, n := range names {
				out = append(out, fmt.Sprintf("%s@%#x", n, c.entry))
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkHits compares the kernel's hits by process pid with what the
// model's tasks fire for the same calls, with every strategy.
func checkHits(t *testing.T, tr *Tracer, pid int, sys *uprobes.System, as *mm.AddressSpace, calls []call) {
	t.Helper()
	kern, raw := kernelHits(t, tr, pid)
	for _, s := range mm.Strategies() {
		model := modelHits(sys, as, s, calls)
		if !slicesEqual(kern, model) {
			var b strings.Builder
			for _, h := range raw {
				fmt.Fprintf(&b, "\n  %s", h.Line)
			}
			var cs strings.Builder
			for _, c := range calls {
				fmt.Fprintf(&cs, "\n  %#x via %s", c.entry, c.via)
			}
			t.Errorf("process %d, strategy %v: hits differ\n kernel: %v\n model:  %v\n trace:%s\n calls:%s",
				pid, s, kern, model, b.String(), cs.String())
			return
		}
	}
}

// checkNoHitsVia is the kernel's side of valid_vma, checked directly: no
// hit came from a call through a shared or writable mapping.
func checkNoHitsVia(t *testing.T, tr *Tracer, pid int, ms []mapping) {
	t.Helper()
	_, hits := kernelHits(t, tr, pid)
	for _, m := range ms {
		if !m.shared && !strings.Contains(m.prot, "w") {
			continue
		}
		for _, h := range hits {
			if h.Addr >= m.addr && h.Addr < m.addr+m.len {
				t.Errorf("the kernel hit %s through %s: %s", h.Event, m, h.Line)
			}
		}
	}
}

func wholeFile(e *env, name, prot string, shared bool) mapping {
	return mapping{name: name, prot: prot, shared: shared, off: 0, len: e.sz}
}

func (e *env) fooPage() mapping {
	off := e.lay.Foo &^ (pageSize - 1)
	return mapping{name: "text-page", prot: "r-x", off: off, len: pageSize}
}

// TestOffsets: probes by file offset (one at a function's entry, one inside
// a function), in a process that maps its executable again privately
// (whole and one page), read-only, writable and shared, before and after
// the probes are enabled.
func TestOffsets(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg,
		wholeFile(e, "pre-rx", "r-x", false), e.fooPage(), wholeFile(e, "pre-shared", "r-x", true),
		wholeFile(e, "pre-rwx", "rwx", false), wholeFile(e, "pre-ro", "r--", false))
	lines := []string{e.spec("p", "foo", hexOff(e.lay.Foo)), e.spec("p", "bar4", hexOff(e.lay.Bar+4))}
	e.register(lines...)
	ms = append(ms, doMap(t, tg,
		wholeFile(e, "post-rx", "r-x", false), wholeFile(e, "post-rwx", "rwx", false),
		wholeFile(e, "post-shared", "r-x", true), wholeFile(e, "post-ro", "r--", false))...)
	calls := callAll(t, tg, ownText(tg), []fn{e.foo(), e.bar()}, ms)

	sys, as := loadModel(t, tg.PID, lines)
	ev := events{e.lay.Foo: {e.tr.Group + "/foo"}, e.lay.Bar + 4: {e.tr.Group + "/bar4"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	checkHits(t, e.tr, tg.PID, sys, as, calls)
	checkNoHitsVia(t, e.tr, tg.PID, ms)
}

// TestSymbols: the model is given PATH:SYMBOL[+OFF]; the kernel, which
// takes only numbers, the offsets computed from the ELF headers here. The
// kernel's hits in the process's own text must be at the addresses the
// loader gave the symbols, and the model must agree with the kernel.
func TestSymbols(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg, wholeFile(e, "pre-rx", "r-x", false), wholeFile(e, "pre-shared", "r-x", true))
	kernel := []string{
		e.spec("p", "foo", hexOff(e.lay.Foo)), e.spec("p", "bar", hexOff(e.lay.Bar)),
		e.spec("p", "bar4", hexOff(e.lay.Bar+4)),
	}
	model := []string{e.spec("p", "foo", "svt_foo"), e.spec("p", "bar", "svt_bar"), e.spec("p", "bar4", "svt_bar+4")}
	e.register(kernel...)
	ms = append(ms, doMap(t, tg, wholeFile(e, "post-rx", "r-x", false))...)
	calls := callAll(t, tg, ownText(tg), []fn{e.foo(), e.bar()}, ms)

	sys, as := loadModel(t, tg.PID, model)
	g := e.tr.Group
	ev := events{e.lay.Foo: {g + "/foo"}, e.lay.Bar: {g + "/bar"}, e.lay.Bar + 4: {g + "/bar4"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	checkHits(t, e.tr, tg.PID, sys, as, calls)

	_, hits := kernelHits(t, e.tr, tg.PID)
	want := map[string]uint64{g + "/foo": tg.Foo, g + "/bar": tg.Bar, g + "/bar4": tg.Bar + 4}
	for name, addr := range want {
		found := false
		for _, h := range hits {
			found = found || (h.Event == name && h.Addr == addr)
		}
		if !found {
			t.Errorf("no kernel hit of %s at the loader's address %#x", name, addr)
		}
		if names, _ := sys.NewTask(as, mm.Locked).HitNames(addr); !slicesEqual(names, []string{name}) {
			t.Errorf("model: hit at the loader's address %#x fires %v, want %s", addr, names, name)
		}
	}
}

// TestReturnProbes: an entry and a return probe on one function, a return
// probe alone on another; the kernel reports return hits with the
// function's address, which must be a model breakpoint serving the event.
func TestReturnProbes(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg, wholeFile(e, "pre-rx", "r-x", false), wholeFile(e, "pre-rwx", "rwx", false))
	lines := []string{
		e.spec("p", "foo", hexOff(e.lay.Foo)), e.spec("r", "foor", hexOff(e.lay.Foo)),
		e.spec("r", "barr", hexOff(e.lay.Bar)),
	}
	e.register(lines...)
	ms = append(ms, doMap(t, tg, wholeFile(e, "post-rx", "r-x", false), wholeFile(e, "post-shared", "r-x", true))...)
	calls := callAll(t, tg, ownText(tg), []fn{e.foo(), e.bar()}, ms)

	sys, as := loadModel(t, tg.PID, lines)
	g := e.tr.Group
	ev := events{e.lay.Foo: {g + "/foo", g + "/foor"}, e.lay.Bar: {g + "/barr"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	checkHits(t, e.tr, tg.PID, sys, as, calls)
	checkNoHitsVia(t, e.tr, tg.PID, ms)
	_, hits := kernelHits(t, e.tr, tg.PID)
	returns := 0
	for _, h := range hits {
		if h.Return {
			returns++
		}
	}
	if returns == 0 {
		t.Errorf("the kernel reported no return hits: %v", hits)
	}
}

// TestRefCtr: a probe with an SDT semaphore (PATH:OFF(REF_CTR_OFFSET)). The
// kernel adds one to the semaphore for every breakpoint it writes, in the
// first private writable mapping of the semaphore's offset; the model's
// System.RefCtr at the semaphore's address must equal it.
func TestRefCtr(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg,
		wholeFile(e, "pre-rx", "r-x", false), wholeFile(e, "pre-rwx", "rwx", false),
		wholeFile(e, "pre-ro", "r--", false))
	if v, err := tg.Semaphore(); err != nil || v != 0 {
		t.Fatalf("semaphore before registration: %d, %v", v, err)
	}
	lines := []string{e.spec("p", "sdt", fmt.Sprintf("%#x(%#x)", e.lay.Foo, e.lay.Sema))}
	e.register(lines...)
	atEnable, err := tg.Semaphore()
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, doMap(t, tg, wholeFile(e, "post-rx", "r-x", false))...)
	sema, err := tg.Semaphore()
	if err != nil {
		t.Fatal(err)
	}
	calls := callAll(t, tg, ownText(tg), []fn{e.foo()}, ms)

	sys, as := loadModel(t, tg.PID, lines)
	ev := events{e.lay.Foo: {e.tr.Group + "/sdt"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	checkHits(t, e.tr, tg.PID, sys, as, calls)
	kern, _ := kernelBreakpoints(t, tg.PID, e.bin, ev)
	t.Logf("semaphore: %d after enabling, %d after one more mapping; %d breakpoints now", atEnable, sema, len(kern))
	if sema != len(kern) {
		t.Errorf("kernel: semaphore %d, but %d breakpoints (one increment per breakpoint expected)", sema, len(kern))
	}
	if got := sys.RefCtr(as, tg.Sema); got != sema {
		t.Errorf("model: RefCtr(%#x) = %d, the kernel's semaphore is %d", tg.Sema, got, sema)
	}
}

// TestSharedFile: three processes run the same file, each with its own
// extra mappings; one registration serves all. Each process's breakpoints
// and hits (the trace filtered by PID) must match its own model.
func TestSharedFile(t *testing.T) {
	e := newEnv(t, "")
	tgs := []*Target{e.start(), e.start(), e.start()}
	maps := [][]mapping{
		nil,
		doMap(t, tgs[1], wholeFile(e, "pre-rx", "r-x", false), wholeFile(e, "pre-shared", "r-x", true)),
		doMap(t, tgs[2], e.fooPage(), wholeFile(e, "pre-rwx", "rwx", false)),
	}
	lines := []string{e.spec("p", "foo", hexOff(e.lay.Foo)), e.spec("r", "barr", hexOff(e.lay.Bar))}
	e.register(lines...)
	maps[1] = append(maps[1], doMap(t, tgs[1], wholeFile(e, "post-rx", "r-x", false))...)
	calls := make([][]call, len(tgs))
	for i, tg := range tgs {
		calls[i] = callAll(t, tg, ownText(tg), []fn{e.foo(), e.bar()}, maps[i])
	}
	g := e.tr.Group
	ev := events{e.lay.Foo: {g + "/foo"}, e.lay.Bar: {g + "/barr"}}
	for i, tg := range tgs {
		sys, as := loadModel(t, tg.PID, lines)
		checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
		checkHits(t, e.tr, tg.PID, sys, as, calls[i])
		checkNoHitsVia(t, e.tr, tg.PID, maps[i])
	}
}

// TestReplay follows the process's history in the model instead of loading
// it at the end: the model is loaded before the probes are enabled, and
// the mappings made afterwards, and an mprotect that makes a probed
// mapping writable, are replayed in it at the same addresses. New mappings
// get their breakpoints through uprobe_mmap (mm's ProbeSource), and a
// breakpoint written before the mprotect stays (it is in the page).
func TestReplay(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg, wholeFile(e, "pre-rx", "r-x", false), wholeFile(e, "to-be-rwx", "r-x", false))
	lines := []string{
		e.spec("p", "foo", hexOff(e.lay.Foo)),
		e.spec("p", "sdt", fmt.Sprintf("%#x(%#x)", e.lay.Bar, e.lay.Sema)),
	}
	sys, as := loadModel(t, tg.PID, lines)
	e.register(lines...)

	f, err := vfs.OpenPath(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Put()
	post := doMap(t, tg, wholeFile(e, "post-rx", "r-x", false), wholeFile(e, "post-rwx", "rwx", false),
		wholeFile(e, "post-ro", "r--", false))
	for _, m := range post {
		if _, err := as.Mmap(m.addr, m.len, protOf(m.prot), mm.MapPrivate|mm.MapFixed, f, m.off); err != nil {
			t.Fatalf("model: replaying %s: %v", m, err)
		}
	}
	if err := tg.Mprotect(ms[1].addr, ms[1].len, "rwx"); err != nil {
		t.Fatal(err)
	}
	if err := as.Mprotect(ms[1].addr, ms[1].len, protOf("rwx")); err != nil {
		t.Fatalf("model: replaying the mprotect: %v", err)
	}
	ms[1].prot = "rwx"
	ms = append(ms, post...)

	text, err := procfs.ReadMaps(tg.PID)
	if err != nil {
		t.Fatal(err)
	}
	if got := procfs.Maps(as); got != string(text) {
		t.Errorf("the replayed model's maps differ from the kernel's\n kernel:\n%s\n model:\n%s", text, got)
	}
	g := e.tr.Group
	ev := events{e.lay.Foo: {g + "/foo"}, e.lay.Bar: {g + "/sdt"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	sema, err := tg.Semaphore()
	if err != nil {
		t.Fatal(err)
	}
	if got := sys.RefCtr(as, tg.Sema); got != sema {
		t.Errorf("model: RefCtr(%#x) = %d after replaying the mappings made after registration, the kernel's semaphore is %d",
			tg.Sema, got, sema)
	}
	calls := callAll(t, tg, ownText(tg), []fn{e.foo(), e.bar()}, ms)
	checkHits(t, e.tr, tg.PID, sys, as, calls)

	// A model loaded now, from the maps alone, cannot know that the
	// writable mapping got its breakpoints while it was read-only: it
	// places breakpoints as a registration now would. Logged, not failed:
	// this is what loading a snapshot means (see uprobes/live.go).
	sys2, as2 := loadModel(t, tg.PID, lines)
	kern, _ := kernelBreakpoints(t, tg.PID, e.bin, ev)
	if k, m := eaStrings(kern), eaStrings(sys2.EventBreakpoints(as2)); !slicesEqual(k, m) {
		t.Logf("snapshot model (expected to miss the breakpoints kept through mprotect):\n kernel: %v\n model:  %v", k, m)
	}
}

func protOf(p string) int {
	var prot int
	if p[0] == 'r' {
		prot |= mm.ProtRead
	}
	if p[1] == 'w' {
		prot |= mm.ProtWrite
	}
	if p[2] == 'x' {
		prot |= mm.ProtExec
	}
	return prot
}

// mountTmpfs mounts a fresh tmpfs at a temporary directory, unmounted at
// cleanup; it skips the test where mounting is not allowed.
func mountTmpfs(t *testing.T, flags uintptr) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("specvma-uprobetest", dir, "tmpfs", flags, "size=4m,mode=0755"); err != nil {
		testsupport.Skip(t, "uprobetest: cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// TestTmpfsIdentity runs the target from a tmpfs, whose device number has
// major 0 (maps prints 00:NN): the model's loaded VMAs and AddEvent's stat
// must still name one inode.
func TestTmpfsIdentity(t *testing.T) {
	requireLive(t)
	dir := mountTmpfs(t, 0)
	e := newEnv(t, dir)
	tg := e.start()
	ms := doMap(t, tg, wholeFile(e, "pre-rx", "r-x", false))
	lines := []string{e.spec("p", "foo", hexOff(e.lay.Foo)), e.spec("p", "bar", "svt_bar")}
	e.register(e.spec("p", "foo", hexOff(e.lay.Foo)), e.spec("p", "bar", hexOff(e.lay.Bar)))
	calls := callAll(t, tg, ownText(tg), []fn{e.foo(), e.bar()}, ms)
	sys, as := loadModel(t, tg.PID, lines)
	ev := events{e.lay.Foo: {e.tr.Group + "/foo"}, e.lay.Bar: {e.tr.Group + "/bar"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	checkHits(t, e.tr, tg.PID, sys, as, calls)
}

// TestNoexecMount: a private read-only mapping of a file on a noexec mount
// lacks VM_MAYEXEC, so the kernel writes no breakpoint in it; maps prints
// it as r--p like any other.
func TestNoexecMount(t *testing.T) {
	requireLive(t)
	dir := mountTmpfs(t, syscall.MS_NOEXEC)
	e := newEnv(t, dir) // the file on the noexec mount
	runner := filepath.Join(t.TempDir(), "svt_runner")
	copyFile(t, builtBin, runner)
	tg := startTarget(t, runner)
	if err := tg.Open(e.bin); err != nil {
		t.Fatal(err)
	}
	ms := doMap(t, tg, wholeFile(e, "noexec-ro", "r--", false))
	if _, err := tg.Map("r-x", false, 0, e.sz); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("err %d", int(syscall.EPERM))) {
		t.Errorf("kernel: PROT_EXEC mapping of a file on a noexec mount: %v, want EPERM", err)
	}
	lines := []string{e.spec("p", "foo", hexOff(e.lay.Foo))}
	e.register(lines...)
	sys, as := loadModel(t, tg.PID, lines)
	ev := events{e.lay.Foo: {e.tr.Group + "/foo"}}
	t.Logf("mapping %s", ms[0])
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
}

// TestOffsetBeyondEOF: the kernel refuses to register a probe beyond the
// end of the file (EINVAL when the event is enabled), even where a mapping
// covers that offset in the file's last page.
func TestOffsetBeyondEOF(t *testing.T) {
	e := newEnv(t, "")
	if e.lay.Size%pageSize > pageSize-16 || e.lay.Size%pageSize == 0 {
		t.Skipf("the target's size %#x leaves no room in its last page", e.lay.Size)
	}
	tg := e.start()
	doMap(t, tg, wholeFile(e, "pre-rx", "r-x", false))
	off := (e.lay.Size + 2) &^ 1
	line := e.spec("p", "eof", hexOff(off))
	if err := e.tr.Add(line); err != nil {
		t.Fatal(err)
	}
	kerr := e.tr.Enable()
	if !errors.Is(kerr, syscall.EINVAL) {
		t.Errorf("kernel: enabling %q: %v, want EINVAL", line, kerr)
	}
	as, err := procfs.Load(tg.PID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(as.Exit)
	sys := uprobes.NewSystem()
	sys.Attach(as)
	_, merr := sys.AddEvent(line)
	if !errors.Is(merr, errno.EINVAL) {
		t.Errorf("model: AddEvent(%q) (offset %#x, file size %#x): %v, want EINVAL as the kernel; model breakpoints: %v",
			line, off, e.lay.Size, merr, eaStrings(sys.EventBreakpoints(as)))
	}
}

// TestRefCtrDelayed: a semaphore whose offset no private writable mapping
// covers when the breakpoints are written (here, in the file's first page,
// which the loader maps read-only). Linux parks the increment
// (delayed_uprobe: one per uprobe and process, however many breakpoints)
// and applies it when such a mapping appears (uprobe_mmap). The model
// follows the process's history (loaded before the events are enabled,
// the later mapping replayed), so it sees the same sequence of events.
func TestRefCtrDelayed(t *testing.T) {
	e := newEnv(t, "")
	tg := e.start()
	ms := doMap(t, tg, wholeFile(e, "pre-rx", "r-x", false))
	const refOff = 0x100 // in the ELF headers' page
	lines := []string{e.spec("p", "sdt", fmt.Sprintf("%#x(%#x)", e.lay.Foo, refOff))}
	sys, as := loadModel(t, tg.PID, lines)
	e.register(lines...)
	rw := doMap(t, tg, wholeFile(e, "post-rw", "rw-", false))[0]
	f, err := vfs.OpenPath(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Put()
	if _, err := as.Mmap(rw.addr, rw.len, protOf(rw.prot), mm.MapPrivate|mm.MapFixed, f, rw.off); err != nil {
		t.Fatalf("model: replaying %s: %v", rw, err)
	}
	ev := events{e.lay.Foo: {e.tr.Group + "/sdt"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)

	file, err := os.ReadFile(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", tg.PID))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var b [2]byte
	addr := rw.at(refOff)
	if _, err := mem.ReadAt(b[:], int64(addr)); err != nil {
		t.Fatal(err)
	}
	kern := int(uint16(uint16(b[0])|uint16(b[1])<<8) - (uint16(file[refOff]) | uint16(file[refOff+1])<<8))
	kbps, _ := kernelBreakpoints(t, tg.PID, e.bin, ev)
	t.Logf("kernel: %d breakpoints (own text, %s); the parked semaphore at %#x moved by %d", len(kbps), ms[0], addr, kern)
	if got := sys.RefCtr(as, addr); got != kern {
		t.Errorf("model: RefCtr(%#x) = %d; the kernel moved the semaphore there by %d when the writable mapping appeared",
			addr, got, kern)
	}
}

// TestOverlayIdentity runs the target from an overlayfs. Linux keys a
// uprobe on the real (lower or upper) inode behind the path it is given
// (d_real_inode), and a mapping made through the overlay maps that real
// inode, while maps prints the overlay's device and inode. A probe given by
// the overlay path agrees with the model; one given by the lower path fires
// in Linux but not in the model (see the comment in the test).
func TestOverlayIdentity(t *testing.T) {
	requireLive(t)
	base := t.TempDir()
	dirs := map[string]string{}
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		dirs[d] = filepath.Join(base, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lower := filepath.Join(dirs["lower"], "svt_target")
	copyFile(t, builtBin, lower)
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dirs["lower"], dirs["upper"], dirs["work"])
	if err := syscall.Mount("overlay", dirs["merged"], "overlay", 0, opts); err != nil {
		testsupport.Skip(t, "uprobetest: cannot mount an overlayfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dirs["merged"], 0); err != nil {
			t.Errorf("unmounting %s: %v", dirs["merged"], err)
		}
	})
	e := &env{t: t, bin: filepath.Join(dirs["merged"], "svt_target")}
	var err error
	if e.lay, err = ReadLayout(lower); err != nil {
		t.Fatal(err)
	}
	e.tr = newTracer(t)
	tg := e.start()
	// Known limitation, not asserted: Linux also fires a probe given by
	// the lower path (p:GRP/lower LOWER:OFF), because it keys uprobes on
	// the real inode; the model keys on the identity maps prints (the
	// overlay's), which is all a model loaded from maps can see, so it
	// installs no breakpoint for that probe.
	_ = lower
	lines := []string{
		fmt.Sprintf("p:%s/merged %s:%#x", e.tr.Group, e.bin, e.lay.Foo),
	}
	e.register(lines...)
	calls := callAll(t, tg, ownText(tg), []fn{e.foo()}, nil)
	sys, as := loadModel(t, tg.PID, lines)
	ev := events{e.lay.Foo: {e.tr.Group + "/merged"}}
	checkBreakpoints(t, tg.PID, e.bin, ev, sys, as)
	checkHits(t, e.tr, tg.PID, sys, as, calls)
	for _, ev := range sys.Events() {
		t.Logf("model: %s registered on %v", ev.Consumer.Name, ev.Inode)
	}
}
