package bench

import (
	"fmt"

	"specvma/mm"
	"specvma/uprobes"
	"specvma/vfs"
)

// The benchmark's address space: the probed text mapping, VMAs filler, a
// second file for probe churn, and a far region for unrelated churn.
const (
	textBase   = 0x400000
	textLen    = 16 * mm.PageSize
	probeOff   = 0x1000 // the probed instruction's file offset
	probeAddr  = textBase + probeOff
	splitAddr  = textBase + 8*mm.PageSize // same-vma churn flips this page
	otherBase  = 0x800000
	fillBase   = 0x10000000
	churnBase  = 0x600000000000
	churnSlots = 64
)

var (
	targetInode = vfs.InodeID{Dev: vfs.Dev{Major: 0, Minor: 0x99}, Ino: 1}
	otherInode  = vfs.InodeID{Dev: vfs.Dev{Major: 0, Minor: 0x99}, Ino: 2}
)

// world is one row's setup.
type world struct {
	as     *mm.AddressSpace
	sys    *uprobes.System
	target *vfs.File
	other  *vfs.File
	ev     *uprobes.Event
}

// newWorld builds an address space with vmas VMAs (at least 2) and a probe
// at probeAddr: an entry probe, or a return probe for uretprobe workloads.
func newWorld(vmas int, ret bool) (*world, error) {
	w := &world{
		as:  mm.New(mm.Config{MaxMapCount: vmas + 4*churnSlots + 16}),
		sys: uprobes.NewSystem(),
	}
	w.target = vfs.NewFile("/bench/target", vfs.InodeFor(targetInode), vfs.ORdonly)
	w.other = vfs.NewFile("/bench/other", vfs.InodeFor(otherInode), vfs.ORdonly)
	vfs.InodeFor(targetInode).SetSize(textLen)
	vfs.InodeFor(otherInode).SetSize(textLen)
	if _, err := w.as.Mmap(textBase, textLen, mm.ProtRead|mm.ProtExec, mm.MapPrivate|mm.MapFixed, w.target, 0); err != nil {
		return nil, err
	}
	if _, err := w.as.Mmap(otherBase, textLen, mm.ProtRead|mm.ProtExec, mm.MapPrivate|mm.MapFixed, w.other, 0); err != nil {
		return nil, err
	}
	for i := 0; i < vmas-2; i++ { // one page each, a page apart: nothing merges
		addr := uint64(fillBase + i*2*mm.PageSize)
		if _, err := w.as.Mmap(addr, mm.PageSize, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
			return nil, fmt.Errorf("filler VMA %d: %w", i, err)
		}
	}
	w.sys.Attach(w.as)
	kind := "p"
	if ret {
		kind = "r"
	}
	spec, err := uprobes.ParseSpec(fmt.Sprintf("%s:bench/nop /bench/target:%#x", kind, probeOff))
	if err != nil {
		return nil, err
	}
	if w.ev, err = w.sys.AddEventAt(spec, targetInode); err != nil {
		return nil, err
	}
	if !w.as.HasBreakpoint(probeAddr) {
		return nil, fmt.Errorf("no breakpoint installed at %#x", probeAddr)
	}
	return w, nil
}

// close tears the world down and releases what it holds.
func (w *world) close() {
	_ = w.sys.RemoveEvent(w.ev.Consumer.Name)
	w.as.Exit()
	w.target.Put()
	w.other.Put()
	w.sys.Registry().Barrier()
}
