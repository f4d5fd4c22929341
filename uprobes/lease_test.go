package uprobes

import (
	"testing"
	"time"

	"specvma/mm"
	"specvma/vfs"
)

// leaseWorld maps two probed files and gives a task pending return
// instances on the first.
func leaseWorld(t *testing.T) (*System, *mm.AddressSpace, *Task, [2]*Event) {
	t.Helper()
	s := NewSystem()
	as := mm.New(mm.Config{})
	s.Attach(as)
	var evs [2]*Event
	for i, name := range []string{"lease/one", "lease/two"} {
		id := vfs.InodeID{Dev: vfs.Dev{Minor: 0x55}, Ino: uint64(i + 1)}
		f := vfs.NewFile("/lease", vfs.InodeFor(id), vfs.ORdonly)
		vfs.InodeFor(id).SetSize(1 << 20)
		if _, err := as.Mmap(uint64(0x400000+i*0x100000), 0x10000, mm.ProtRead|mm.ProtExec, mm.MapPrivate|mm.MapFixed, f, 0); err != nil {
			t.Fatal(err)
		}
		f.Put()
		spec, err := ParseSpec("r:" + name + " /lease:0x1000")
		if err != nil {
			t.Fatal(err)
		}
		if evs[i], err = s.AddEventAt(spec, id); err != nil {
			t.Fatal(err)
		}
	}
	task := s.NewTask(as, mm.MMSeq)
	t.Cleanup(func() { task.Exit(); as.Exit() })
	return s, as, task, evs
}

// A return instance leases its uprobe: no reference is taken while the
// probed function runs. When the uprobe is unregistered meanwhile, the free
// waits LeaseTimeout for the task, then expires the lease (the uprobe is
// dying, so the instance is marked gone) and completes; the return then
// runs nothing.
func TestLeaseExpiresToGone(t *testing.T) {
	s, _, task, evs := leaseWorld(t)
	u := evs[0].Uprobe
	refs := u.Refs()
	if r := task.Hit(0x401000); r.Outcome != Fired {
		t.Fatalf("hit: %v", r.Outcome)
	}
	if u.Refs() != refs {
		t.Fatalf("a leased return instance took a reference: %d -> %d", refs, u.Refs())
	}
	start := time.Now()
	if err := s.RemoveEvent("lease/one"); err != nil {
		t.Fatal(err)
	}
	s.Registry().Barrier()
	if waited := time.Since(start); waited < LeaseTimeout {
		t.Errorf("the free did not wait for the lease: %v", waited)
	}
	if names, ok := task.ReturnNames(); !ok || len(names) != 0 {
		t.Errorf("return after expiry: %v %v, want nothing fired", names, ok)
	}
}

// Expiry converts the leases of live uprobes into references: a free of an
// unrelated uprobe that waited on the task leaves the task's instance
// stable, and the return still fires and drops the reference.
func TestLeaseExpiresToStable(t *testing.T) {
	s, _, task, evs := leaseWorld(t)
	u := evs[0].Uprobe
	refs := u.Refs()
	task.Hit(0x401000)
	if err := s.RemoveEvent("lease/two"); err != nil {
		t.Fatal(err)
	}
	s.Registry().Barrier()
	if u.Refs() != refs+1 {
		t.Errorf("after expiry the instance should hold a reference: refs %d, want %d", u.Refs(), refs+1)
	}
	if names, ok := task.ReturnNames(); !ok || len(names) != 1 || names[0] != "lease/one" {
		t.Errorf("return: %v %v", names, ok)
	}
	if u.Refs() != refs {
		t.Errorf("the return did not drop the reference: %d, want %d", u.Refs(), refs)
	}
}
