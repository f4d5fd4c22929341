package uprobes

// Invariants (live.go): helpers for probing a live process through the
// model. Its address space comes from /proc/PID/maps through procfs.Load,
// whose VMAs are installed as they are, without uprobe_mmap;
// the events are then placed by Attach and AddEvent, that is by
// register_for_each_vma's rules (valid_vma at install time). So the answer
// is the set of breakpoints that registering the events now would write,
// not the history of the process: a page that kept a breakpoint from an
// earlier registration through an mprotect to writable is not seen.

import (
	"fmt"
	"sort"

	"specvma/mm"
)

// EventAddr is one event served by the breakpoint at Addr.
type EventAddr struct {
	Addr  uint64
	Event string // GRP/EVENT
}

// EventBreakpoints lists, for every breakpoint installed in as, each event
// it serves (a consumer that wants as), sorted by address, then event name.
// A breakpoint whose uprobe is gone serves no event and is not listed.
func (s *System) EventBreakpoints(as *mm.AddressSpace) []EventAddr {
	var out []EventAddr
	for _, bp := range as.Breakpoints() {
		u := s.reg.Find(bp.Probe.Inode, bp.Probe.Offset)
		if u == nil {
			continue
		}
		for _, c := range u.Consumers() {
			if c.Wants(as) {
				out = append(out, EventAddr{bp.Addr, c.Name})
			}
		}
		u.Put()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Addr != out[j].Addr {
			return out[i].Addr < out[j].Addr
		}
		return out[i].Event < out[j].Event
	})
	return out
}

// SpecLineError is an uprobe_events line that Instrument could not add.
type SpecLineError struct {
	Line string
	Err  error
}

func (e *SpecLineError) Error() string { return fmt.Sprintf("probe %q: %v", e.Line, e.Err) }

// Unwrap gives the cause (a *SpecError, an errno, an ELF or open error).
func (e *SpecLineError) Unwrap() error { return e.Err }

// Instrument attaches as (typically a live process loaded with
// procfs.Load) to a new System and adds each line of specs
// (uprobe_events syntax, PATH:SYMBOL[+OFF] accepted) in order. A line that
// fails gives a *SpecLineError and leaves as detached.
func Instrument(as *mm.AddressSpace, specs []string) (*System, error) {
	s := NewSystem()
	s.Attach(as)
	for _, line := range specs {
		if _, err := s.AddEvent(line); err != nil {
			s.Detach(as)
			return nil, &SpecLineError{Line: line, Err: err}
		}
	}
	return s, nil
}
