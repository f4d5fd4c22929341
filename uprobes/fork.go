package uprobes

import "specvma/mm"

// Fork copies parent as fork(2) does (mm.AddressSpace.Fork) and, when
// parent is attached to s, attaches the child without installing
// anything: the child's breakpoints are the ones copied with the parent's
// pages, SDT semaphores included, and its later mappings get probes
// through the ProbeSource it inherits (uprobe_dup_mmap's MMF_HAS_UPROBES).
// A mapping the parent holds without a breakpoint (writable when the probe
// was registered, say) has none in the child either, as in Linux.
//
// regMu is held across the copy and the attachment, as dup_mmap_sem keeps
// registration out of dup_mmap: a probe registered in between would write
// its breakpoint into the parent after the copy and miss the child, which
// it cannot find yet. Lock order: regMu, the parent's mmap write lock, the
// child's, and System.mu after both are released.
func (s *System) Fork(parent *mm.AddressSpace) (*mm.AddressSpace, error) {
	s.reg.regMu.Lock()
	defer s.reg.regMu.Unlock()
	child, err := parent.Fork()
	if err != nil {
		return nil, err
	}
	if h := s.reg.test.Load(); h != nil && h.AfterForkCopy != nil {
		h.AfterForkCopy()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, as := range s.spaces {
		if as == parent {
			s.spaces = append(s.spaces, child)
			break
		}
	}
	return child, nil
}

// Fork returns the task of a process forked from t's, running in as, the
// child's address space (dup_utask). The child returns from the probed
// functions t is in, so it gets t's pending return instances, each holding
// a counted reference of its own (or none, gone, when the uprobe was
// already dying): t's leased instances are converted first, as
// hprobe_expire does, and the child never holds a lease. Its lease section
// is open while it has instances, as any task's is, so that Return and
// Exit end it as usual.
//
// A child with pending returns also gets the parent's execute-out-of-line
// area, the [uprobes] special mapping its return addresses point into, at
// the same address (dup_xol_work), although fork does not copy it
// (VM_DONTCOPY); a child without any has none. The model's own tasks never
// create that area (they do not single-step), so it is there to copy only
// in a parent loaded from a live process that had one.
//
// Preconditions: called by t's own goroutine (a task forks itself).
func (t *Task) Fork(as *mm.AddressSpace) *Task {
	c := t.sys.NewTask(as, t.strategy)
	d := t.depth.Load()
	if d == 0 {
		return c
	}
	expireLeases(t.lease)
	c.lease.Lock()
	for i := range d {
		ri, ci := &t.rets[i], &c.rets[i]
		c.gen++
		ci.addr = ri.addr
		state := uint64(riGone)
		if u := ri.u.Load(); ri.state.Load()&0xff == riStable && u.TryGet() {
			ci.u.Store(u)
			state = riStable
		}
		ci.state.Store(c.gen<<8 | state)
	}
	c.depth.Store(d)
	dupXOLArea(t.as, as)
	return c
}

// xolName is the name of the execute-out-of-line area in maps.
const xolName = "[uprobes]"

// dupXOLArea maps parent's [uprobes] area in child at the same address,
// unless something is mapped there (Linux then warns and the child's
// returns fault).
func dupXOLArea(parent, child *mm.AddressSpace) {
	for _, v := range parent.VMAs() {
		if v.Special == xolName {
			_ = child.Install(mm.Info{Start: v.Start, End: v.End, Flags: v.Flags, Special: xolName})
			return
		}
	}
}
