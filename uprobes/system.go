package uprobes

// Invariants (system.go): a System ties the registry to the address spaces
// it instruments. Every registration installs breakpoints in each attached
// address space whose filter accepts it, and every removal takes them out
// again, each under that address space's mmap write lock
// (register_for_each_vma); new file mappings get the probes already
// registered through mm.ProbeSource (uprobe_mmap). The locks taken on the
// way are in the order that package mm's documentation states.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"specvma/errno"
	"specvma/mm"
	"specvma/vfs"
)

// System is a uprobe subsystem over a set of address spaces.
type System struct {
	reg *Registry

	mu     sync.Mutex
	spaces []*mm.AddressSpace
	events map[string]*Event
}

// Event is a named consumer, as a line of uprobe_events creates one.
type Event struct {
	Spec     Spec
	Inode    vfs.InodeID
	Uprobe   *Uprobe
	Consumer *Consumer
}

// NewSystem returns a System with an empty registry.
func NewSystem() *System {
	s := &System{reg: NewRegistry(), events: map[string]*Event{}}
	s.reg.SetHooks(Hooks{OnInstall: s.onInstall, OnRemove: s.onRemove})
	return s
}

// Registry returns the system's registry.
func (s *System) Registry() *Registry { return s.reg }

// Attach instruments as: it gets the breakpoints of every probe registered
// now, and new mappings in it get theirs as they are made.
func (s *System) Attach(as *mm.AddressSpace) {
	s.reg.regMu.Lock()
	defer s.reg.regMu.Unlock()
	s.mu.Lock()
	s.spaces = append(s.spaces, as)
	s.mu.Unlock()
	as.SetProbeSource(s)
	t := s.reg.tab.Load()
	for i := 0; i < t.len(); i++ {
		u := t.ents[i].u
		if !u.TryGet() {
			continue // dying
		}
		if s.wanted(u, as) {
			s.installIn(as, u)
		}
		u.Put()
	}
}

// Detach stops instrumenting as; its breakpoints stay where they are, as
// they would in a process that the tracer forgot.
func (s *System) Detach(as *mm.AddressSpace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.spaces {
		if x == as {
			s.spaces = append(s.spaces[:i], s.spaces[i+1:]...)
			break
		}
	}
	as.SetProbeSource(nil)
}

func (s *System) attached() []*mm.AddressSpace {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*mm.AddressSpace(nil), s.spaces...)
}

// wanted reports whether any consumer of u accepts as (filter_chain).
func (s *System) wanted(u *Uprobe, as *mm.AddressSpace) bool {
	for _, c := range u.Consumers() {
		if c.Wants(as) {
			return true
		}
	}
	return false
}

// ProbesIn implements mm.ProbeSource (uprobe_mmap's build_probe_list).
//
// Preconditions: as's mmap write lock is held (by mm); regMu and s.mu are
// not, and are not taken here.
func (s *System) ProbesIn(as *mm.AddressSpace, inode vfs.InodeID, off, length uint64) []mm.ProbePoint {
	us := s.reg.InRange(inode, off, off+length, nil)
	var out []mm.ProbePoint
	for _, u := range us {
		if s.wanted(u, as) {
			out = append(out, probePoint(u))
		}
		u.Put()
	}
	return out
}

// onInstall is register_for_each_vma for a new consumer.
//
// Preconditions: the registry's regMu is held (a registry hook); it takes
// s.mu, then each address space's mmap write lock.
func (s *System) onInstall(u *Uprobe, c *Consumer) error {
	for _, as := range s.attached() {
		if c.Wants(as) {
			s.installIn(as, u)
		}
	}
	return nil
}

// onRemove takes the breakpoints out of each space no consumer wants any more.
//
// Preconditions: as onInstall.
func (s *System) onRemove(u *Uprobe, c *Consumer) {
	for _, as := range s.attached() {
		if !s.wanted(u, as) {
			as.RemoveProbe(u.Inode(), probePoint(u))
		}
	}
}

func (s *System) installIn(as *mm.AddressSpace, u *Uprobe) {
	as.InstallProbe(u.Inode(), probePoint(u))
}

// probePoint is u's probe point and SDT semaphore, as mm takes them (a
// breakpoint records the probe's key, mm.ProbeID, never the Uprobe pointer,
// whose memory may be reused).
func probePoint(u *Uprobe) mm.ProbePoint {
	return mm.ProbePoint{Offset: u.Offset(), RefCtr: u.RefCtrOffset()}
}

// RefCtr returns the value of the SDT semaphore at addr in as.
func (s *System) RefCtr(as *mm.AddressSpace, addr uint64) int { return as.RefCounter(addr) }

// AddEvent carries out one line of uprobe_events: it defines an event
// ("p:GRP/EVENT PATH:OFF", "r:..."), or deletes one ("-:GRP/EVENT").
func (s *System) AddEvent(line string) (*Event, error) {
	spec, err := ParseSpec(line)
	if err != nil {
		return nil, err
	}
	if spec.Kind == Delete {
		return nil, s.RemoveEvent(spec.Name())
	}
	if spec, err = spec.Resolve(); err != nil {
		return nil, err
	}
	f, err := vfs.OpenPath(spec.Path)
	if err != nil {
		return nil, err
	}
	id, size, typ := f.Inode().ID(), f.Inode().Size(), f.Inode().Type()
	f.Put()
	if typ != vfs.Regular {
		// create_trace_uprobe refuses what is not a regular file (d_is_reg).
		return nil, fmt.Errorf("%s is %s, not a regular file: %w", spec.Path, typeName(typ), errno.EINVAL)
	}
	if spec.Offset > uint64(size) {
		// uprobe_register refuses an offset beyond the end of the file.
		return nil, fmt.Errorf("offset %#x is beyond the end of %s (%d bytes): %w", spec.Offset, spec.Path, size, errno.EINVAL)
	}
	return s.AddEventAt(spec, id)
}

// typeName names a file type as a sentence would.
func typeName(t vfs.Type) string {
	switch t {
	case vfs.Directory:
		return "a directory"
	case vfs.CharDevice:
		return "a character device"
	case vfs.BlockDevice:
		return "a block device"
	case vfs.FIFO:
		return "a FIFO"
	case vfs.Socket:
		return "a socket"
	}
	return "a regular file"
}

// AddEventAt defines the event of spec on the inode id, ignoring spec.Path.
func (s *System) AddEventAt(spec Spec, id vfs.InodeID) (*Event, error) {
	name := spec.Name()
	ev := &Event{Spec: spec, Inode: id, Consumer: &Consumer{Name: name, Return: spec.Kind == Return}}
	s.mu.Lock()
	_, dup := s.events[name]
	if !dup {
		s.events[name] = nil // reserved: a concurrent definition gets EEXIST
	}
	s.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("event %s exists already: %w", name, errno.EEXIST)
	}
	u, err := s.reg.Register(id, spec.Offset, spec.RefCtrOffset, ev.Consumer)
	if errors.Is(err, errno.EINVAL) {
		err = s.explainRegister(spec, id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.events, name)
		return nil, err
	}
	ev.Uprobe = u
	s.events[name] = ev
	return ev, nil
}

// explainRegister says why Register refused spec with EINVAL.
func (s *System) explainRegister(spec Spec, id vfs.InodeID, err error) error {
	if spec.RefCtrOffset%2 != 0 {
		return fmt.Errorf("reference-counter offset %#x is odd (it must be 2-byte aligned): %w", spec.RefCtrOffset, err)
	}
	if u := s.reg.Find(id, spec.Offset); u != nil {
		other := u.RefCtrOffset()
		u.Put()
		if other != spec.RefCtrOffset {
			return fmt.Errorf("reference-counter offset %#x differs from %#x, the one the probe already at %s:%#x has: %w",
				spec.RefCtrOffset, other, spec.Path, spec.Offset, err)
		}
	}
	return err
}

// RemoveEvent deletes the event called name (GRP/EVENT); ENOENT if none.
func (s *System) RemoveEvent(name string) error {
	s.mu.Lock()
	ev := s.events[name]
	if ev != nil {
		delete(s.events, name)
	}
	s.mu.Unlock()
	if ev == nil { // unknown, or still being defined
		return errno.ENOENT
	}
	return s.reg.Unregister(ev.Uprobe, ev.Consumer)
}

// Events lists the defined events by name.
func (s *System) Events() []*Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Event, 0, len(s.events))
	for _, e := range s.events {
		if e != nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Consumer.Name < out[j].Consumer.Name })
	return out
}

// Breakpoints lists the breakpoints installed in as with the events each
// serves: "0xVADDR GRP/EVENT[,GRP/EVENT...]".
func (s *System) Breakpoints(as *mm.AddressSpace) []string {
	var out []string
	for _, bp := range as.Breakpoints() {
		var names []string
		if u := s.reg.Find(bp.Probe.Inode, bp.Probe.Offset); u != nil {
			for _, c := range u.Consumers() {
				if c.Wants(as) {
					names = append(names, c.Name)
				}
			}
			u.Put()
		}
		sort.Strings(names)
		line := "0x" + hex(bp.Addr) + " "
		if len(names) == 0 {
			line += "-"
		} else {
			line += strings.Join(names, ",")
		}
		out = append(out, line)
	}
	return out
}

func hex(x uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = digits[x&15]
		x >>= 4
		if x == 0 {
			return string(b[i:])
		}
	}
}
