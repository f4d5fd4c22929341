package scenario

import (
	"fmt"
	"sort"
	"sync"

	"specvma/errno"
	"specvma/mm"
	"specvma/procfs"
	"specvma/uprobes"
	"specvma/vfs"
)

// Model is the Backend over specvma's own model: one mm.AddressSpace per
// script process, files opened through vfs, maps rendered by procfs.
type Model struct {
	cfg      mm.Config
	mu       sync.Mutex
	spaces   map[string]*mm.AddressSpace
	sys      *uprobes.System
	tasks    map[string]*uprobes.Task
	strategy mm.Strategy
}

// NewModel returns a model backend whose address spaces all use cfg.
func NewModel(cfg mm.Config) *Model {
	return &Model{cfg: cfg, spaces: map[string]*mm.AddressSpace{},
		sys: uprobes.NewSystem(), tasks: map[string]*uprobes.Task{}, strategy: mm.MMSeq}
}

// AddressSpace returns the address space called name, creating it empty on
// first use (layers built over the model, such as uprobes, reach the
// address spaces through it).
func (m *Model) AddressSpace(name string) *mm.AddressSpace {
	m.mu.Lock()
	defer m.mu.Unlock()
	as, ok := m.spaces[name]
	if !ok {
		if m.cfg.HugePool == nil {
			// One machine: every address space takes huge pages from one
			// pool and counts against one commit limit.
			m.cfg.HugePool = mm.NewHugePool(m.cfg.HugePages)
		}
		if m.cfg.Machine == nil {
			m.cfg.Machine = mm.NewMachine()
		}
		as = mm.New(m.cfg)
		m.spaces[name] = as
		m.sys.Attach(as)
	}
	return as
}

// Configure implements Configurer: it sets key (ConfigKeys) for the
// address spaces created from now on. Address spaces already in use keep
// their configuration, so a script configures before its first call.
func (m *Model) Configure(key string, value uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.spaces) != 0 {
		return fmt.Errorf("config %s: address spaces are in use; configure before the first call", key)
	}
	return SetConfig(&m.cfg, key, value)
}

// Fork implements Forker: child becomes a fork of parent
// (uprobes.System.Fork: breakpoints and SDT semaphores are inherited), and
// its task a fork of parent's task (uprobes.Task.Fork: pending returns
// are inherited).
func (m *Model) Fork(parent, child string) error {
	p := m.AddressSpace(parent)
	m.mu.Lock()
	_, exists := m.spaces[child]
	m.mu.Unlock()
	if exists {
		return fmt.Errorf("model: address space %q exists already", child)
	}
	c, err := m.sys.Fork(p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spaces[child] = c
	if t, ok := m.tasks[parent]; ok {
		m.tasks[child] = t.Fork(c)
	}
	return nil
}

// Names returns the names of the address spaces created so far, sorted.
func (m *Model) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.spaces))
	for n := range m.spaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Space implements Backend.
func (m *Model) Space(name string) (Space, error) {
	return modelSpace{m.AddressSpace(name)}, nil
}

// Open implements Backend with vfs.OpenPath.
func (m *Model) Open(path string) (FileRef, error) {
	f, err := vfs.OpenPath(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Close implements Backend: it drops the open file description's reference.
func (m *Model) Close(f FileRef) error {
	vf, ok := f.(*vfs.File)
	if !ok || vf == nil {
		return errno.EBADF
	}
	vf.Put()
	return nil
}

type modelSpace struct{ as *mm.AddressSpace }

func (s modelSpace) Mmap(addr, length uint64, prot, flags int, file FileRef, off uint64) (uint64, error) {
	var vf *vfs.File
	if file != nil {
		f, ok := file.(*vfs.File)
		if !ok {
			return 0, fmt.Errorf("model: file %T is not a *vfs.File", file)
		}
		vf = f
	}
	return s.as.Mmap(addr, length, prot, flags, vf, off)
}

func (s modelSpace) Munmap(addr, length uint64) error { return s.as.Munmap(addr, length) }

func (s modelSpace) Mprotect(addr, length uint64, prot int) error {
	return s.as.Mprotect(addr, length, prot)
}

func (s modelSpace) Mremap(old, oldLen, newLen uint64, flags int, newAddr uint64) (uint64, error) {
	return s.as.Mremap(old, oldLen, newLen, flags, newAddr)
}

func (s modelSpace) SetAnonName(addr, length uint64, name *string) error {
	return s.as.SetAnonName(addr, length, name)
}

func (s modelSpace) Madvise(addr, length uint64, advice int) error {
	return s.as.Madvise(addr, length, advice)
}

func (s modelSpace) Mlock2(addr, length uint64, flags int) error {
	return s.as.Mlock2(addr, length, flags)
}

func (s modelSpace) Munlock(addr, length uint64) error { return s.as.Munlock(addr, length) }

func (s modelSpace) Mlockall(flags int) error { return s.as.Mlockall(flags) }

func (s modelSpace) Munlockall() error { return s.as.Munlockall() }

func (s modelSpace) Brk(addr uint64) (uint64, error) { return s.as.Brk(addr), nil }

func (s modelSpace) Mseal(addr, length uint64, flags int) error {
	return s.as.Mseal(addr, length, flags)
}

func (s modelSpace) Touch(addr uint64, write bool) error { return s.as.Fault(addr, write) }

func (s modelSpace) Maps() (string, error) { return procfs.Maps(s.as), nil }

// MapsWith reads the maps text page by page with reader r.
func (s modelSpace) MapsWith(r procfs.Reader) (string, error) {
	text, _ := procfs.ReadAll(s.as, r)
	return string(text), nil
}

// Query answers PROCMAP_QUERY on a freshly opened maps file.
func (s modelSpace) Query(flags, addr uint64) (procfs.QueryResult, error) {
	return procfs.OpenMaps(s.as, procfs.ReadVMALock).Query(procfs.Query{
		Flags: flags, Addr: addr, NameAddr: 1, NameSize: 4096, BuildIDAddr: 1, BuildIDSize: 20,
	})
}
