package mm

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"specvma/errno"
	"specvma/vfs"
)

// Model-based property test: random mmap, munmap, mprotect, mremap, faults,
// anonymous names and forks inside a small window, against a page-granular
// reference that knows nothing of VMAs, splitting or merging.

const (
	propBase  = uint64(0x200000000000)
	propPages = 64
	propEnd   = propBase + propPages*PageSize
)

// pageAttr is what the reference knows about one mapped page.
type pageAttr struct {
	flags VMFlags   // vm_flags without VM_SOFTDIRTY
	file  *vfs.File // the open file mapped, for file mappings
	shm   int       // the shmem object's token, for shared anonymous memory
	off   uint64    // page offset in the file or shmem object (unused for private anonymous memory)
	name  string    // anonymous name
	// taint marks a page that was the source of MREMAP_DONTUNMAP: Linux
	// unlinks its anon_vma in place and never merges it with neighbours it
	// could not merge with before, so the merge property skips it.
	taint bool
}

// refState maps page numbers (addr >> PageShift) to attributes.
type refState map[uint64]pageAttr

func (r refState) unmap(start, end uint64) {
	for a := start; a < end; a += PageSize {
		delete(r, a>>PageShift)
	}
}

func (r refState) free(start, length uint64) bool {
	for a := start; a < start+length; a += PageSize {
		if _, ok := r[a>>PageShift]; ok {
			return false
		}
	}
	return true
}

// firstHole is the first unmapped address at or above addr.
func (r refState) firstHole(addr uint64) uint64 {
	for {
		if _, ok := r[addr>>PageShift]; !ok {
			return addr
		}
		addr += PageSize
	}
}

func (a pageAttr) backed() bool { return a.file != nil || a.shm != 0 }

// outcome is one result the reference accepts for a call: its return, its
// error and the state after it.
type outcome struct {
	addr uint64
	err  error
	ref  refState
	why  string
}

type propModel struct {
	as         *AddressSpace
	ref        refState
	shmPages   map[int]uint64 // shmem token → object size in pages
	nextShm    int
	files      []*vfs.File
	fileNames  []string
	inodePages map[*vfs.Inode]uint64
}

var (
	propInodeA = vfs.InodeID{Dev: vfs.Dev{Major: 0x42, Minor: 1}, Ino: 1001}
	propInodeB = vfs.InodeID{Dev: vfs.Dev{Major: 0x42, Minor: 1}, Ino: 1002}
)

func newPropModel() *propModel {
	a, b := vfs.InodeFor(propInodeA), vfs.InodeFor(propInodeB)
	a.SetSize(40 * PageSize)
	b.SetSize(1 << 24)
	return &propModel{
		as:       New(Config{MmapBase: propEnd}),
		ref:      refState{},
		shmPages: map[int]uint64{},
		files: []*vfs.File{
			vfs.NewFile("/a", a, vfs.ORdwr),
			vfs.NewFile("/a", a, vfs.ORdwr), // same inode, another open file: never merges with the first
			vfs.NewFile("/b", b, vfs.ORdonly),
		},
		fileNames:  []string{"A0(rw)", "A1(rw)", "B(ro)"},
		inodePages: map[*vfs.Inode]uint64{a: 40, b: 1 << 12},
	}
}

// close unmaps everything and closes the model's files.
func (m *propModel) close() {
	_ = m.as.Munmap(PageSize, TaskSize-PageSize)
	for _, f := range m.files {
		f.Put()
	}
}

// topDown is the placement of a mapping without a usable hint: the highest
// free range below MmapBase.
func (m *propModel) topDown(r refState, length uint64) uint64 {
	base := m.as.Config().MmapBase
	for a := base - length; a >= PageSize; a -= PageSize {
		if r.free(a, length) {
			return a
		}
	}
	panic("no room")
}

// hinted places a mapping with hint: the hint when the range is free there.
func (m *propModel) hinted(r refState, hint, length uint64) uint64 {
	hint &= PageMask
	if hint != 0 && hint <= TaskSize-length && r.free(hint, length) {
		return hint
	}
	return m.topDown(r, length)
}

// ---- drawing arguments ----

var (
	propProts     = []int{ProtNone, ProtRead, ProtRead | ProtWrite, ProtRead | ProtExec, ProtRead | ProtWrite | ProtExec, ProtWrite, ProtExec, ProtRead | ProtSem}
	propNames     = []string{"a", "b", "heap x"}
	propBadNames  = []string{"bad[name", strings.Repeat("n", AnonNameMax)}
	propProtNames = map[int]string{ProtNone: "---", ProtRead: "r--", ProtRead | ProtWrite: "rw-", ProtRead | ProtExec: "r-x",
		ProtRead | ProtWrite | ProtExec: "rwx", ProtWrite: "-w-", ProtExec: "--x", ProtRead | ProtSem: "r--sem"}
)

// windowVMAs returns the VMAs that intersect the window.
func (m *propModel) windowVMAs() []Info {
	var out []Info
	for _, v := range m.as.VMAs() {
		if v.End > propBase && v.Start < propEnd {
			out = append(out, v)
		}
	}
	return out
}

// drawAddr draws an address in the window: a page, a VMA boundary, or
// (rarely) an unaligned address or, when zeroOK, 0.
func (m *propModel) drawAddr(t *rapid.T, label string, zeroOK bool) uint64 {
	switch s := rapid.IntRange(0, 19).Draw(t, label+"Kind"); {
	case s == 0 && zeroOK:
		return 0
	case s == 1:
		return propBase + uint64(rapid.IntRange(0, propPages-1).Draw(t, label+"Page"))*PageSize +
			uint64(rapid.IntRange(1, PageSize-1).Draw(t, label+"Odd"))
	case s < 8:
		if vs := m.windowVMAs(); len(vs) > 0 {
			v := rapid.SampledFrom(vs).Draw(t, label+"VMA")
			if rapid.Bool().Draw(t, label+"AtEnd") {
				return v.End
			}
			return v.Start
		}
	}
	return propBase + uint64(rapid.IntRange(0, propPages).Draw(t, label+"Page"))*PageSize
}

// drawLen draws a length: mostly whole pages, sometimes 0 or unaligned.
func drawLen(t *rapid.T, label string) uint64 {
	switch s := rapid.IntRange(0, 19).Draw(t, label+"Kind"); s {
	case 0:
		return 0
	case 1:
		return uint64(rapid.IntRange(1, 8).Draw(t, label+"Pages"))*PageSize - uint64(rapid.IntRange(1, PageSize-1).Draw(t, label+"Short"))
	case 2, 3:
		return uint64(rapid.IntRange(1, 24).Draw(t, label+"Pages")) * PageSize
	}
	return uint64(rapid.IntRange(1, 8).Draw(t, label+"Pages")) * PageSize
}

func alignUp(x uint64) uint64 { return (x + PageSize - 1) & PageMask }

func errName(err error) string {
	if err == nil {
		return "0"
	}
	var e errno.Errno
	if errors.As(err, &e) {
		return e.String()
	}
	return err.Error()
}

// ---- predictions ----

func (m *propModel) predictMmap(addr, length uint64, prot, flags int, file *vfs.File, off uint64) outcome {
	fail := func(e error, why string) outcome { return outcome{err: e, ref: m.ref, why: why} }
	if off%PageSize != 0 {
		return fail(errno.EINVAL, "unaligned offset")
	}
	if flags&MapAnonymous != 0 {
		file = nil
	}
	if length == 0 {
		return fail(errno.EINVAL, "length 0")
	}
	length = alignUp(length)
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	var dst uint64
	if fixed {
		if addr%PageSize != 0 {
			return fail(errno.EINVAL, "MAP_FIXED at an unaligned address")
		}
		dst = addr
	} else {
		dst = m.hinted(m.ref, addr, length)
	}
	if flags&MapFixedNoReplace != 0 && !m.ref.free(dst, length) {
		return fail(errno.EEXIST, "MAP_FIXED_NOREPLACE over a mapping")
	}
	vm := protToVM(prot) | VMMayRead | VMMayWrite | VMMayExec
	shared := flags&MapType == MapShared
	if shared {
		vm |= VMShared | VMMayShare
		if file != nil && !file.Writable() {
			if prot&ProtWrite != 0 {
				return fail(errno.EACCES, "writable shared mapping of a read-only file")
			}
			vm &^= VMMayWrite | VMShared
		}
	}
	if flags&MapNoReserve != 0 {
		vm |= VMNoReserve
	}
	if vm&(VMNoReserve|VMShared|VMWrite) == VMWrite {
		vm |= VMAccount // private writable memory is charged (accountable_mapping)
	}
	r := maps.Clone(m.ref)
	r.unmap(dst, dst+length)
	a := pageAttr{flags: vm, file: file}
	if file != nil {
		a.off = off >> PageShift
	} else if shared {
		a.shm = m.nextShm + 1 // taken when the call succeeds
	}
	for i := uint64(0); i < length>>PageShift; i++ {
		p := a
		if p.backed() {
			p.off += i
		}
		r[dst>>PageShift+i] = p
	}
	return outcome{addr: dst, ref: r}
}

func (m *propModel) predictMunmap(addr, length uint64) outcome {
	if addr%PageSize != 0 || addr > TaskSize || length > TaskSize-addr {
		return outcome{err: errno.EINVAL, ref: m.ref, why: "bad range"}
	}
	if length = alignUp(length); length == 0 {
		return outcome{err: errno.EINVAL, ref: m.ref, why: "length 0"}
	}
	r := maps.Clone(m.ref)
	r.unmap(addr, addr+length)
	return outcome{ref: r}
}

// predictMprotect needs one fact the pages do not carry: whether the VMA
// of a page has an anon_vma (faults decide that, per VMA); before, the VMAs
// before the call, tells.
func (m *propModel) predictMprotect(addr, length uint64, prot int, before []Info) outcome {
	fail := func(e error, why string) outcome { return outcome{err: e, ref: m.ref, why: why} }
	growsDown := prot&ProtGrowsDown != 0
	prot &^= ProtGrowsDown
	if addr%PageSize != 0 {
		return fail(errno.EINVAL, "unaligned address")
	}
	if length == 0 {
		return outcome{ref: m.ref, why: "length 0"}
	}
	end := addr + alignUp(length)
	if prot&^(ProtRead|ProtWrite|ProtExec|ProtSem) != 0 {
		return fail(errno.EINVAL, "unknown PROT bits")
	}
	if growsDown {
		if m.ref.free(addr, end-addr) {
			return fail(errno.ENOMEM, "nothing mapped")
		}
		return fail(errno.EINVAL, "PROT_GROWSDOWN on a VMA that does not grow down")
	}
	r := maps.Clone(m.ref)
	for a := addr; a < end; a += PageSize {
		p, ok := r[a>>PageShift]
		if !ok {
			return outcome{err: errno.ENOMEM, ref: r, why: "hole (the mapped prefix is changed)"}
		}
		nf := protToVM(prot) | p.flags&^vmAccessFlags
		if nf&^(nf>>4)&vmAccessFlags != 0 {
			return outcome{err: errno.EACCES, ref: r, why: "protection the file does not allow (prefix changed)"}
		}
		if nf != p.flags {
			// mprotect_fixup's accounting: private memory turning
			// writable is charged; unfaulted anonymous memory turning
			// read-only is not any more.
			if nf&VMWrite != 0 {
				if p.flags&(VMAccount|VMWrite|VMHugeTLB|VMShared|VMNoReserve) == 0 {
					nf |= VMAccount
				}
			} else if p.flags&VMAccount != 0 && !p.backed() && !hasAnonVMA(before, a) {
				nf &^= VMAccount
			}
		}
		p.flags = nf
		r[a>>PageShift] = p
	}
	return outcome{ref: r}
}

func (m *propModel) predictAnonName(addr, length uint64, name *string) outcome {
	fail := func(e error, why string) outcome { return outcome{err: e, ref: m.ref, why: why} }
	if name != nil {
		if len(*name)+1 > AnonNameMax {
			return fail(errno.EINVAL, "name too long")
		}
		for i := 0; i < len(*name); i++ {
			if !validNameChar((*name)[i]) {
				return fail(errno.EINVAL, "bad character in name")
			}
		}
	}
	if addr%PageSize != 0 {
		return fail(errno.EINVAL, "unaligned address")
	}
	end := addr + alignUp(length)
	if end == addr {
		return outcome{ref: m.ref}
	}
	r := maps.Clone(m.ref)
	var res error
	for a := addr; a < end; a += PageSize {
		p, ok := r[a>>PageShift]
		if !ok {
			res = errno.ENOMEM // holes are skipped, reported at the end
			continue
		}
		if p.file != nil {
			return outcome{err: errno.EBADF, ref: r, why: "file-backed page (prefix named)"}
		}
		p.name = ""
		if name != nil {
			p.name = *name
		}
		r[a>>PageShift] = p
	}
	return outcome{err: res, ref: r}
}

func (m *propModel) predictFault(addr uint64, write bool) error {
	p, ok := m.ref[addr>>PageShift]
	switch {
	case !ok:
		return errno.EFAULT
	case write && p.flags&VMWrite == 0, !write && p.flags&vmAccessFlags == 0:
		return errno.EFAULT
	case p.file != nil && p.off >= m.inodePages[p.file.Inode()]:
		return errno.EFAULT // SIGBUS
	case p.shm != 0 && p.off >= m.shmPages[p.shm]:
		return errno.EFAULT // SIGBUS
	}
	return nil
}

// movePages is move_vma on pages: [addr, addr+oldLen) of one VMA becomes
// [dst, dst+newLen), continuing the file offsets past oldLen; the source is
// unmapped, or with dontUnmap left in place (and tainted).
func movePages(r refState, addr, oldLen, newLen, dst uint64, dontUnmap bool) {
	base := r[addr>>PageShift]
	base.taint = false
	for i := uint64(0); i < newLen>>PageShift; i++ {
		p := base
		if p.backed() {
			p.off += i
		}
		r[dst>>PageShift+i] = p
	}
	for a := addr; a < addr+oldLen; a += PageSize {
		if dontUnmap {
			p := r[a>>PageShift]
			p.taint = true
			r[a>>PageShift] = p
		} else {
			delete(r, a>>PageShift)
		}
	}
}

// predictMremap returns the outcomes Linux allows. v is the VMA at addr
// before the call, as the address space reports it: the page attributes
// cannot say where one VMA ends and the next begins, and mremap works on
// one VMA (the property checks elsewhere vouch for the boundaries).
//
// Where kernels differ, each behaviour is accepted: before 6.16 a
// MREMAP_FIXED call unmapped the destination (and a shrunk tail) before
// checking the source VMA, so a failure leaves those unmapped; 6.16+
// checks first. Since 6.17 a MREMAP_FIXED move without resizing may span
// several VMAs and holes, each VMA moved on its own (Linux 6.18 on the
// development machine does it; the destination opposite a hole is left
// mapped).
func (m *propModel) predictMremap(addr, oldLen, newLen uint64, flags int, newAddr uint64, v *Info) []outcome {
	fail := func(e error, why string) []outcome { return []outcome{{err: e, ref: m.ref, why: why}} }
	fixed, dontUnmap, mayMove := flags&MremapFixed != 0, flags&MremapDontUnmap != 0, flags&MremapMayMove != 0
	if flags&^(MremapMayMove|MremapFixed|MremapDontUnmap) != 0 || addr%PageSize != 0 {
		return fail(errno.EINVAL, "bad flags or unaligned address")
	}
	oldLen, newLen = alignUp(oldLen), alignUp(newLen)
	if newLen == 0 {
		return fail(errno.EINVAL, "new length 0")
	}
	if fixed || dontUnmap {
		switch {
		case newAddr%PageSize != 0 || newAddr > TaskSize-newLen || !mayMove:
			return fail(errno.EINVAL, "bad new address or no MREMAP_MAYMOVE")
		case dontUnmap && oldLen != newLen:
			return fail(errno.EINVAL, "MREMAP_DONTUNMAP resizing")
		case addr+oldLen > newAddr && newAddr+newLen > addr:
			return fail(errno.EINVAL, "source and destination overlap")
		}
	}
	if v == nil {
		return fail(errno.EFAULT, "nothing mapped at the address")
	}
	vShared := m.ref[addr>>PageShift].flags&(VMShared|VMMayShare) != 0
	if fixed || dontUnmap {
		r := maps.Clone(m.ref)
		if fixed {
			r.unmap(newAddr, newAddr+newLen)
		}
		ol := oldLen
		if ol > newLen {
			r.unmap(addr+newLen, addr+ol)
			ol = newLen
		}
		// The model's order (mremap_to before 6.16): the unmapping above
		// comes first, then vma_to_resize looks the source up again.
		var e error
		var why string
		vEnd := min(v.End, r.firstHole(addr))
		switch {
		case vEnd == addr:
			e, why = errno.EFAULT, "the unmapping removed the source"
		case ol == 0 && !vShared:
			e, why = errno.EINVAL, "duplicating private memory"
		case ol > vEnd-addr:
			e, why = errno.EFAULT, "source range crosses a VMA boundary"
		}
		if e != nil {
			outs := []outcome{{err: e, ref: r, why: why + " (after unmapping)"}}
			// 6.16+ checks the source before unmapping anything.
			ol0 := min(oldLen, newLen)
			vEnd0 := min(v.End, m.ref.firstHole(addr))
			switch {
			case ol0 == 0 && !vShared:
				outs = append(outs, outcome{err: errno.EINVAL, ref: m.ref, why: "duplicating private memory (checked first)"})
			case ol0 > vEnd0-addr:
				outs = append(outs, outcome{err: errno.EFAULT, ref: m.ref, why: "source range crosses a VMA boundary (checked first)"})
			}
			if e == errno.EFAULT && fixed && oldLen == newLen && vEnd0 > addr {
				// Each VMA piece moves on its own: the destination pages
				// opposite holes in the source stay as they were.
				mv := maps.Clone(m.ref)
				for a := addr; a < addr+oldLen; a += PageSize {
					if p, ok := m.ref[a>>PageShift]; ok {
						p.taint = false
						mv[(newAddr+a-addr)>>PageShift] = p
						if dontUnmap {
							p.taint = true
							mv[a>>PageShift] = p
						} else {
							delete(mv, a>>PageShift)
						}
					}
				}
				outs = append(outs, outcome{addr: newAddr, ref: mv, why: "6.17+ multi-VMA move"})
			}
			return outs
		}
		dst := newAddr
		if !fixed {
			dst = m.hinted(r, newAddr, newLen)
		}
		movePages(r, addr, ol, newLen, dst, dontUnmap)
		return []outcome{{addr: dst, ref: r}}
	}
	if oldLen >= newLen {
		r := maps.Clone(m.ref)
		r.unmap(addr+newLen, addr+oldLen)
		return []outcome{{addr: addr, ref: r, why: "shrink"}}
	}
	switch {
	case oldLen == 0 && !vShared:
		return fail(errno.EINVAL, "duplicating private memory")
	case oldLen > v.End-addr:
		return fail(errno.EFAULT, "source range crosses a VMA boundary")
	}
	delta := newLen - oldLen
	if oldLen == v.End-addr && v.End+delta <= TaskSize && m.ref.free(v.End, delta) {
		r := maps.Clone(m.ref)
		base := r[addr>>PageShift]
		base.taint = false
		for a := v.End; a < v.End+delta; a += PageSize {
			p := base
			if p.backed() {
				p.off += (a - addr) >> PageShift
			}
			r[a>>PageShift] = p
		}
		return []outcome{{addr: addr, ref: r, why: "grow in place"}}
	}
	if !mayMove {
		return fail(errno.ENOMEM, "cannot grow in place")
	}
	r := maps.Clone(m.ref)
	dst := m.topDown(r, newLen)
	movePages(r, addr, oldLen, newLen, dst, false)
	return []outcome{{addr: dst, ref: r, why: "move"}}
}

// hasAnonVMA reports whether the VMA covering addr in vmas has an anon_vma.
func hasAnonVMA(vmas []Info, addr uint64) bool {
	for _, v := range vmas {
		if v.Start <= addr && addr < v.End {
			return v.AnonVMA != nil
		}
	}
	return false
}

// ---- checking ----

// compare reports how the address space differs from reference r.
func (m *propModel) compare(r refState) error {
	vmas := m.as.VMAs()
	shmFile := map[int]*vfs.File{}
	fileShm := map[*vfs.File]int{}
	seen := 0
	for _, v := range vmas {
		if v.Special != "" {
			return fmt.Errorf("special VMA %s", v.Special)
		}
		for a := v.Start; a < v.End; a += PageSize {
			want, ok := r[a>>PageShift]
			if !ok {
				return fmt.Errorf("page %#x is mapped (VMA %s), the reference has it unmapped", a, fmtInfo(v))
			}
			seen++
			if got := v.Flags &^ VMSoftDirty; got != want.flags {
				return fmt.Errorf("page %#x: flags %#x, want %#x (VMA %s)", a, uint64(got), uint64(want.flags), fmtInfo(v))
			}
			if v.AnonName != want.name {
				return fmt.Errorf("page %#x: name %q, want %q", a, v.AnonName, want.name)
			}
			off := v.Pgoff + (a-v.Start)>>PageShift
			switch {
			case want.file != nil:
				if v.File != want.file || v.Inode != want.file.Inode() {
					return fmt.Errorf("page %#x: file %p, want %p", a, v.File, want.file)
				}
			case want.shm != 0:
				if v.File == nil || v.Inode == nil || v.Inode.ID().Dev != vfs.ShmemDev {
					return fmt.Errorf("page %#x: not shmem (VMA %s)", a, fmtInfo(v))
				}
				if f, ok := shmFile[want.shm]; ok && f != v.File {
					return fmt.Errorf("page %#x: shmem object %d seen through two Files", a, want.shm)
				}
				if s, ok := fileShm[v.File]; ok && s != want.shm {
					return fmt.Errorf("page %#x: shmem objects %d and %d share a File", a, s, want.shm)
				}
				shmFile[want.shm], fileShm[v.File] = v.File, want.shm
			default:
				if v.File != nil {
					return fmt.Errorf("page %#x: file %p, want private anonymous memory", a, v.File)
				}
			}
			if want.backed() && off != want.off {
				return fmt.Errorf("page %#x: offset page %d, want %d (VMA %s)", a, off, want.off, fmtInfo(v))
			}
		}
	}
	if seen != len(r) {
		for p := range r {
			if _, ok := m.as.Lookup(p << PageShift); !ok {
				return fmt.Errorf("page %#x is unmapped, the reference has it mapped", p<<PageShift)
			}
		}
		return fmt.Errorf("%d pages mapped, reference has %d", seen, len(r))
	}
	return nil
}

func fmtInfo(v Info) string {
	s := fmt.Sprintf("[%#x,%#x) pg=%#x fl=%#x", v.Start, v.End, v.Pgoff, uint64(v.Flags))
	if v.File != nil {
		s += fmt.Sprintf(" file=%p", v.File)
	}
	if v.AnonVMA != nil {
		s += fmt.Sprintf(" anon=%d", v.AnonVMA.ID())
	}
	if v.AnonName != "" {
		s += fmt.Sprintf(" name=%q", v.AnonName)
	}
	return s
}

func (m *propModel) dump() string {
	var b strings.Builder
	for _, v := range m.as.VMAs() {
		b.WriteString("  " + fmtInfo(v) + "\n")
	}
	return b.String()
}

// tainted reports whether any page of [start, end) was the source of an
// MREMAP_DONTUNMAP move (see pageAttr.taint).
func (m *propModel) tainted(start, end uint64) bool {
	for a := start; a < end; a += PageSize {
		if m.ref[a>>PageShift].taint {
			return true
		}
	}
	return false
}

// checkAll is run after every step.
func (m *propModel) checkAll(t *rapid.T) {
	if err := m.as.checkInvariants(); err != nil {
		t.Fatalf("invariants: %v\n%s", err, m.dump())
	}
	m.as.lock.ReadLock()
	err := m.as.unmergedNeighbours(m.tainted)
	m.as.lock.ReadUnlock()
	if err != nil {
		t.Fatalf("merges: %v\n%s", err, m.dump())
	}
	if err := m.compare(m.ref); err != nil {
		t.Fatalf("reference: %v\n%s", err, m.dump())
	}
	vmas := m.as.VMAs()
	// Lookups by address agree with the VMA list.
	for a := propBase - 2*PageSize; a < propEnd+2*PageSize; a += PageSize {
		addr := a + 0x123
		got, ok := m.as.Lookup(addr)
		i, found := slices.BinarySearchFunc(vmas, addr, func(v Info, x uint64) int {
			switch {
			case v.End <= x:
				return -1
			case v.Start > x:
				return 1
			}
			return 0
		})
		if ok != found || (ok && got != vmas[i]) {
			t.Fatalf("Lookup(%#x) = %s %v, VMA list says %v\n%s", addr, fmtInfo(got), ok, found, m.dump())
		}
		if rv := m.as.findRCU(addr); (rv != nil) != found || (rv != nil && rv.Start() != got.Start) {
			t.Fatalf("findRCU(%#x) disagrees with Lookup", addr)
		}
	}
	// The merge Linux guarantees: a new or changed range merges with an
	// equal neighbour, so two adjacent VMAs of unfaulted, unnamed private
	// anonymous memory, each at its own address, never share their flags.
	// (munmap never merges and faults give anon_vmas, so nothing else is
	// promised; DONTUNMAP sources are skipped, see pageAttr.taint.)
	pristine := func(v Info) bool {
		if v.File != nil || v.AnonVMA != nil || v.AnonName != "" || v.Special != "" || v.Pgoff != v.Start>>PageShift {
			return false
		}
		return !m.tainted(v.Start, v.End)
	}
	for i := 1; i < len(vmas); i++ {
		a, b := vmas[i-1], vmas[i]
		if a.End != b.Start || !pristine(a) || !pristine(b) {
			continue
		}
		propStats.note("merge property", "checked", "adjacent pristine VMAs")
		if a.Flags == b.Flags {
			t.Fatalf("adjacent mergeable VMAs left unmerged: %s and %s\n%s", fmtInfo(a), fmtInfo(b), m.dump())
		}
	}
}

// apply checks a call's result against the outcomes allowed and adopts the
// matching one. A failed call whose outcome changes nothing must leave the
// VMAs exactly as they were.
func (m *propModel) apply(t *rapid.T, what string, gotAddr uint64, gotErr error, before []Info, outs []outcome) outcome {
	var mismatch []string
	for _, o := range outs {
		if errName(o.err) != errName(gotErr) || (o.err == nil && o.addr != gotAddr) {
			mismatch = append(mismatch, fmt.Sprintf("want %#x %s (%s)", o.addr, errName(o.err), o.why))
			continue
		}
		if err := m.compare(o.ref); err != nil {
			mismatch = append(mismatch, fmt.Sprintf("result matches %q, state does not: %v", o.why, err))
			continue
		}
		if o.err != nil && maps.Equal(o.ref, m.ref) {
			if after := m.as.VMAs(); !slices.Equal(after, before) {
				t.Fatalf("%s failed with %s but changed the VMAs\nbefore:\n%s\nafter:\n%s", what, errName(gotErr), fmtInfos(before), m.dump())
			}
		}
		m.ref = o.ref
		propStats.note(what[:strings.IndexByte(what, '(')], errName(gotErr), o.why)
		return o
	}
	t.Fatalf("%s = %#x %s:\n  %s\nbefore:\n%safter:\n%s", what, gotAddr, errName(gotErr), strings.Join(mismatch, "\n  "), fmtInfos(before), m.dump())
	return outcome{}
}

func fmtInfos(vs []Info) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + fmtInfo(v) + "\n")
	}
	return b.String()
}

// propStats counts the outcomes seen, to show what the runs covered.
var propStats = &outcomeStats{n: map[string]int{}}

type outcomeStats struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *outcomeStats) note(op, res, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := op + " " + res
	if why != "" {
		k += " (" + why + ")"
	}
	s.n[k]++
}

func (s *outcomeStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.n))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %6d %s\n", s.n[k], k)
	}
	return b.String()
}

// ---- actions ----

func (m *propModel) mmap(t *rapid.T) {
	kind := rapid.IntRange(0, 4).Draw(t, "kind") // anon private, anon shared, file 0..2
	prot := rapid.SampledFrom(propProts).Draw(t, "prot")
	placement := rapid.IntRange(0, 3).Draw(t, "placement") // hint, MAP_FIXED (x2), MAP_FIXED_NOREPLACE
	addr := m.drawAddr(t, "addr", placement == 0)
	length := drawLen(t, "len")
	flags := MapPrivate
	if rapid.Bool().Draw(t, "shared") {
		flags = MapShared
	}
	var file *vfs.File
	var off uint64
	desc := "anon"
	switch kind {
	case 0:
		flags = MapPrivate | MapAnonymous
	case 1:
		flags = MapShared | MapAnonymous
	default:
		file = m.files[kind-2]
		desc = m.fileNames[kind-2]
		off = uint64(rapid.IntRange(0, 48).Draw(t, "offPage")) * PageSize
		if rapid.IntRange(0, 19).Draw(t, "oddOff") == 0 {
			off += 100
		}
	}
	switch placement {
	case 1, 2:
		flags |= MapFixed
	case 3:
		flags |= MapFixedNoReplace
	}
	if rapid.IntRange(0, 7).Draw(t, "noreserve") == 0 {
		flags |= MapNoReserve
	}
	if rapid.IntRange(0, 7).Draw(t, "populate") == 0 {
		flags |= MapPopulate
	}
	before := m.as.VMAs()
	want := m.predictMmap(addr, length, prot, flags, file, off)
	got, err := m.as.Mmap(addr, length, prot, flags, file, off)
	what := fmt.Sprintf("mmap(%#x, %#x, %s, %#x, %s, %#x)", addr, length, propProtNames[prot], flags, desc, off)
	t.Logf("%s = %#x %s", what, got, errName(err))
	o := m.apply(t, what, got, err, before, []outcome{want})
	if o.err == nil && file == nil && flags&MapType == MapShared {
		m.nextShm++
		m.shmPages[m.nextShm] = alignUp(length) >> PageShift
	}
}

func (m *propModel) munmap(t *rapid.T) {
	addr := m.drawAddr(t, "addr", false)
	length := drawLen(t, "len")
	before := m.as.VMAs()
	want := m.predictMunmap(addr, length)
	err := m.as.Munmap(addr, length)
	what := fmt.Sprintf("munmap(%#x, %#x)", addr, length)
	t.Logf("%s = %s", what, errName(err))
	m.apply(t, what, 0, err, before, []outcome{want})
}

func (m *propModel) mprotect(t *rapid.T) {
	addr := m.drawAddr(t, "addr", false)
	length := drawLen(t, "len")
	prot := rapid.SampledFrom(propProts).Draw(t, "prot")
	switch rapid.IntRange(0, 29).Draw(t, "oddProt") {
	case 0:
		prot |= 0x10 // not a PROT bit
	case 1:
		prot |= ProtGrowsDown
	}
	before := m.as.VMAs()
	want := m.predictMprotect(addr, length, prot, before)
	err := m.as.Mprotect(addr, length, prot)
	what := fmt.Sprintf("mprotect(%#x, %#x, %#x)", addr, length, prot)
	t.Logf("%s = %s", what, errName(err))
	m.apply(t, what, 0, err, before, []outcome{want})
}

func (m *propModel) anonName(t *rapid.T) {
	addr := m.drawAddr(t, "addr", false)
	length := drawLen(t, "len")
	var name *string
	switch s := rapid.IntRange(0, 9).Draw(t, "name"); {
	case s < 3:
	case s == 3:
		n := rapid.SampledFrom(propBadNames).Draw(t, "bad")
		name = &n
	default:
		n := rapid.SampledFrom(propNames).Draw(t, "good")
		name = &n
	}
	before := m.as.VMAs()
	want := m.predictAnonName(addr, length, name)
	err := m.as.SetAnonName(addr, length, name)
	shown := "NULL"
	if name != nil {
		shown = fmt.Sprintf("%q", *name)
	}
	what := fmt.Sprintf("anon_name(%#x, %#x, %s)", addr, length, shown)
	t.Logf("%s = %s", what, errName(err))
	m.apply(t, what, 0, err, before, []outcome{want})
}

func (m *propModel) fault(t *rapid.T) {
	addr := propBase + uint64(rapid.IntRange(0, propPages*PageSize-1).Draw(t, "addr"))
	if vs := m.windowVMAs(); len(vs) > 0 && rapid.Bool().Draw(t, "inVMA") {
		v := rapid.SampledFrom(vs).Draw(t, "vma")
		addr = v.Start + uint64(rapid.IntRange(0, int(v.End-v.Start)-1).Draw(t, "off"))
	}
	write := rapid.Bool().Draw(t, "write")
	want := m.predictFault(addr, write)
	err := m.as.Fault(addr, write)
	t.Logf("fault(%#x, write=%v) = %s", addr, write, errName(err))
	if errName(err) != errName(want) {
		t.Fatalf("fault(%#x, write=%v) = %s, want %s\n%s", addr, write, errName(err), errName(want), m.dump())
	}
	propStats.note("fault", errName(err), "")
}

func (m *propModel) mremap(t *rapid.T) {
	var addr, oldLen uint64
	var v *Info
	vs := m.windowVMAs()
	if len(vs) > 0 && rapid.IntRange(0, 9).Draw(t, "addrKind") < 7 {
		w := rapid.SampledFrom(vs).Draw(t, "vma")
		pages := int((w.End - w.Start) >> PageShift)
		addr = w.Start
		if rapid.Bool().Draw(t, "inside") {
			addr += uint64(rapid.IntRange(0, pages-1).Draw(t, "at")) * PageSize
		}
		rest := int((w.End - addr) >> PageShift)
		switch rapid.IntRange(0, 9).Draw(t, "oldKind") {
		case 0:
			oldLen = 0
		case 1, 2:
			oldLen = uint64(rapid.IntRange(1, rest).Draw(t, "oldPages")) * PageSize
		case 3:
			oldLen = uint64(rest+rapid.IntRange(1, 4).Draw(t, "beyond")) * PageSize
		default:
			oldLen = uint64(rest) * PageSize
		}
	} else {
		addr = m.drawAddr(t, "addr", false)
		oldLen = drawLen(t, "oldLen")
	}
	if info, ok := m.as.Lookup(addr); ok && addr%PageSize == 0 {
		v = &info
		if oldLen == 0 && addr != info.Start {
			// mremap(mid, 0, ...): TestMremapZeroOldLenMidVMA.
			addr = info.Start
		}
	}
	var newLen uint64
	switch rapid.IntRange(0, 19).Draw(t, "newKind") {
	case 0:
		newLen = 0
	case 10, 11, 12, 13, 14, 15:
		newLen = oldLen
	case 1, 2, 3:
		newLen = oldLen
	case 4, 5:
		newLen = uint64(rapid.IntRange(1, 8).Draw(t, "newPages")) * PageSize
	default:
		newLen = alignUp(oldLen) + uint64(rapid.IntRange(1, 6).Draw(t, "grow"))*PageSize
	}
	flags := rapid.IntRange(0, 3).Draw(t, "flags") << 1 // MREMAP_FIXED, MREMAP_DONTUNMAP
	if rapid.IntRange(0, 5).Draw(t, "mayMove") > 0 {
		flags |= MremapMayMove
	}
	if rapid.IntRange(0, 29).Draw(t, "badFlags") == 0 {
		flags |= 8
	}
	if flags&MremapDontUnmap != 0 && rapid.IntRange(0, 4).Draw(t, "sameLen") > 0 {
		newLen = oldLen
	}
	var newAddr uint64
	if flags&(MremapFixed|MremapDontUnmap) != 0 {
		newAddr = m.drawAddr(t, "newAddr", false)
	}
	before := m.as.VMAs()
	outs := m.predictMremap(addr, oldLen, newLen, flags, newAddr, v)
	got, err := m.as.Mremap(addr, oldLen, newLen, flags, newAddr)
	what := fmt.Sprintf("mremap(%#x, %#x, %#x, %d, %#x)", addr, oldLen, newLen, flags, newAddr)
	t.Logf("%s = %#x %s", what, got, errName(err))
	m.apply(t, what, got, err, before, outs)
}

// fork goes on in a fork of the address space, the parent exiting: the
// child maps what the parent did (no MADV_DONTFORK here), so the reference
// stays; each VMA is copied with its range, offset, flags, file and name,
// and a new anon_vma whose parent is the parent VMA's where that has one.
// Later calls then meet fork children, whose merges unmergedNeighbours
// checks against the fork rule.
func (m *propModel) fork(t *rapid.T) {
	before := m.windowVMAs()
	child, err := m.as.Fork()
	if err != nil {
		t.Fatalf("fork: %v", err)
	}
	m.as.Exit()
	m.as = child
	after := m.windowVMAs()
	if len(after) != len(before) {
		t.Fatalf("fork: %d VMAs in the child, %d in the parent:\n%s\n%s", len(after), len(before), fmtInfos(after), fmtInfos(before))
	}
	for i, c := range after {
		p := before[i]
		anonOK := p.AnonVMA == nil && c.AnonVMA == nil ||
			p.AnonVMA != nil && c.AnonVMA != nil && c.AnonVMA.Parent() == p.AnonVMA
		if c.Start != p.Start || c.End != p.End || c.Pgoff != p.Pgoff || c.Flags != p.Flags&^vmLockedMask ||
			c.File != p.File || c.AnonName != p.AnonName || !anonOK {
			t.Fatalf("fork: child VMA %s, parent's %s", fmtInfo(c), fmtInfo(p))
		}
	}
	m.checkAll(t)
}

// TestPropAddressSpace runs random sequences of calls against the
// page-granular reference, checking after every step. -v prints how often
// each outcome came up.
func TestPropAddressSpace(t *testing.T) {
	rounds := 4 // rounds of Repeat (-rapid.steps calls each, on average) per case
	if testing.Short() {
		rounds = 1
	}
	rapidCheck(t, func(t *rapid.T) {
		m := newPropModel()
		defer m.close()
		actions := map[string]func(*rapid.T){
			"mmap":      m.mmap,
			"mmapAgain": m.mmap, // twice as likely: the window needs filling
			"munmap":    m.munmap,
			"mprotect":  m.mprotect,
			"mremap":    m.mremap,
			"fault":     m.fault,
			"anonName":  m.anonName,
			"fork":      m.fork,
			"":          m.checkAll,
		}
		for range rounds {
			t.Repeat(actions)
		}
	})
	if testing.Verbose() {
		t.Logf("outcomes:\n%s", propStats)
	}
}

// TestMremapZeroOldLenMidVMA: mremap with old_len 0 duplicates shared
// memory and leaves the old mapping alone. Linux 6.18 on the development
// machine, for a shared anonymous mapping [base, base+8p):
//
//	mremap(base+2p, 0, 3p, MREMAP_MAYMOVE|MREMAP_FIXED, base+20p) = base+20p
//	200000000000-200000008000 rw-s 00000000 00:01 55  /dev/zero (deleted)
//	200000014000-200000017000 rw-s 00002000 00:01 55  /dev/zero (deleted)
//
// (A bug found here: moveVMA then unmapped [old, old+0), and unmapRange of
// an empty range inside a VMA split the VMA at old twice, leaving an empty
// VMA and two tree entries that start at the same address; a later munmap
// of the range spun forever in markDetached.)
func TestMremapZeroOldLenMidVMA(t *testing.T) {
	for _, flags := range []int{MremapMayMove, MremapMayMove | MremapFixed} {
		as := New(Config{})
		if _, err := as.Mmap(propBase, 8*PageSize, ProtRead|ProtWrite, MapShared|MapAnonymous|MapFixed, nil, 0); err != nil {
			t.Fatal(err)
		}
		old, _ := as.Lookup(propBase)
		dst := propBase + 20*PageSize
		got, err := as.Mremap(propBase+2*PageSize, 0, 3*PageSize, flags, dst)
		if err != nil {
			t.Fatalf("flags %d: mremap = %v", flags, err)
		}
		if flags&MremapFixed != 0 && got != dst {
			t.Errorf("flags %d: mremap = %#x, want %#x", flags, got, dst)
		}
		if err := as.checkInvariants(); err != nil {
			// Leave this address space alone: unmapping it now spins
			// forever in markDetached on a VMA already detached.
			t.Errorf("flags %d: %v\n%s", flags, err, fmtInfos(as.VMAs()))
			continue
		}
		vs := as.VMAs()
		if len(vs) != 2 || vs[0] != old {
			t.Errorf("flags %d: the old mapping changed; VMAs now:\n%s", flags, fmtInfos(vs))
		} else if v := vs[1]; v.Start != got || v.End != got+3*PageSize || v.File != old.File || v.Pgoff != 2 {
			t.Errorf("flags %d: duplicate is %s, want [%#x, %#x) of the same shmem at page 2", flags, fmtInfo(v), got, got+3*PageSize)
		}
		_ = as.Munmap(PageSize, TaskSize-PageSize)
	}
}

// TestMremapFixedChecksBeforeUnmapping: Linux 6.16+ checks the source VMA
// (duplicating private memory, a range crossing the VMA's end) before
// MREMAP_FIXED unmaps the destination or a shrink unmaps the tail, so these
// calls fail and change nothing. Linux 6.18 on the development machine,
// with [base, base+2p) r--p, [base+2p, base+4p) rw-p and
// [base+20p, base+22p) rw-p, all private anonymous:
//
//	mremap(base, 0, 1p, MREMAP_MAYMOVE|MREMAP_FIXED, base+20p)  = -EINVAL, maps unchanged
//	mremap(base, 4p, 6p, MREMAP_MAYMOVE|MREMAP_FIXED, base+20p) = -EFAULT, maps unchanged
//	mremap(base, 4p, 3p, MREMAP_MAYMOVE|MREMAP_FIXED, base+20p) = -EFAULT, maps unchanged
//
// The checks use the shrunk length, min(old_len, new_len): see
// TestMremapFixedShrinkMove. (A difference found here: the model
// unmapped the destination and the tail first, as mremap_to did before
// 6.16. Where the unmapping itself removes the source, 6.18 still fails
// after it: mremap(base, 0, 8p, MAYMOVE|FIXED, base) of shared memory
// returns -EFAULT with the mapping gone.)
func TestMremapFixedChecksBeforeUnmapping(t *testing.T) {
	cases := []struct {
		oldLen, newLen uint64
		want           error
	}{
		{0, 1, errno.EINVAL},
		{4, 6, errno.EFAULT},
		{4, 3, errno.EFAULT},
	}
	for _, c := range cases {
		as := New(Config{})
		for _, m := range []struct {
			at, pages uint64
			prot      int
		}{{0, 2, ProtRead}, {2, 2, ProtRead | ProtWrite}, {20, 2, ProtRead | ProtWrite}} {
			if _, err := as.Mmap(propBase+m.at*PageSize, m.pages*PageSize, m.prot, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		before := as.VMAs()
		_, err := as.Mremap(propBase, c.oldLen*PageSize, c.newLen*PageSize, MremapMayMove|MremapFixed, propBase+20*PageSize)
		if errName(err) != errName(c.want) {
			t.Errorf("mremap(base, %dp, %dp, MAYMOVE|FIXED, base+20p) = %s, want %s", c.oldLen, c.newLen, errName(err), errName(c.want))
		}
		if after := as.VMAs(); !slices.Equal(after, before) {
			t.Errorf("mremap(base, %dp, %dp, MAYMOVE|FIXED, base+20p) failed but changed the VMAs\nbefore:\n%safter:\n%s",
				c.oldLen, c.newLen, fmtInfos(before), fmtInfos(after))
		}
		_ = as.Munmap(PageSize, TaskSize-PageSize)
	}
}

// TestMremapFixedShrinkMove: a MREMAP_FIXED move that also shrinks is
// checked against the VMA with the shrunk length: old_len may run past the
// VMA's end as long as new_len does not. Linux 6.18 on the development
// machine, with [base, base+6p) r--p, [base+7p, base+9p) rw-p and
// [base+30p, base+32p) rw-p, all private anonymous:
//
//	mremap(base, 8p, 5p, MREMAP_MAYMOVE|MREMAP_FIXED, base+30p) = base+30p
//	200000008000-200000009000 rw-p 00000000 00:00 0
//	20000001e000-200000023000 r--p 00000000 00:00 0
//
// (the tail [base+5p, base+8p) is unmapped, the rest moves). With new_len
// past the VMA's end too (TestMremapFixedChecksBeforeUnmapping's third
// case) it fails with EFAULT and changes nothing.
func TestMremapFixedShrinkMove(t *testing.T) {
	as := New(Config{})
	for _, m := range []struct {
		at, pages uint64
		prot      int
	}{{0, 6, ProtRead}, {7, 2, ProtRead | ProtWrite}, {30, 2, ProtRead | ProtWrite}} {
		if _, err := as.Mmap(propBase+m.at*PageSize, m.pages*PageSize, m.prot, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	dst := propBase + 30*PageSize
	got, err := as.Mremap(propBase, 8*PageSize, 5*PageSize, MremapMayMove|MremapFixed, dst)
	if err != nil || got != dst {
		t.Fatalf("mremap(base, 8p, 5p, MAYMOVE|FIXED, base+30p) = %#x %s, want %#x\n%s", got, errName(err), dst, fmtInfos(as.VMAs()))
	}
	var ranges [][2]uint64
	for _, v := range as.VMAs() {
		ranges = append(ranges, [2]uint64{v.Start, v.End})
	}
	want := [][2]uint64{{propBase + 8*PageSize, propBase + 9*PageSize}, {dst, dst + 5*PageSize}}
	if !slices.Equal(ranges, want) {
		t.Errorf("VMAs after the move:\n%s", fmtInfos(as.VMAs()))
	}
	_ = as.Munmap(PageSize, TaskSize-PageSize)
}
