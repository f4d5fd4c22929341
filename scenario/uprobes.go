package scenario

import (
	"specvma/mm"
	"specvma/uprobes"
)

// The model's uprobe commands: one uprobes.System over every address space
// of the script, and one task per address space.

// SetStrategy picks how the model's tasks resolve breakpoints (default mmseq).
func (m *Model) SetStrategy(s mm.Strategy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.strategy = s
	for _, t := range m.tasks {
		t.SetStrategy(s)
	}
}

// System returns the model's uprobe subsystem.
func (m *Model) System() *uprobes.System { return m.sys }

func (m *Model) task(space string) *uprobes.Task {
	as := m.AddressSpace(space)
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[space]
	if !ok {
		t = m.sys.NewTask(as, m.strategy)
		m.tasks[space] = t
	}
	return t
}

// Probe implements UprobeBackend.
func (m *Model) Probe(space, spec string) error {
	_, err := m.sys.AddEvent(spec)
	return err
}

// Hit implements UprobeBackend.
func (m *Model) Hit(space string, addr uint64) ([]string, error) {
	names, _ := m.task(space).HitNames(addr)
	return names, nil
}

// Ret implements UprobeBackend.
func (m *Model) Ret(space string) ([]string, error) {
	names, _ := m.task(space).ReturnNames()
	return names, nil
}

// Breakpoints implements UprobeBackend.
func (m *Model) Breakpoints(space string) ([]string, error) {
	return m.sys.Breakpoints(m.AddressSpace(space)), nil
}
