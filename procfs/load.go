package procfs

import (
	"errors"
	"strconv"
	"strings"

	"specvma/mm"
	"specvma/vfs"
)

// shmemPath is the path of the file behind shared anonymous memory
// (shmem_zero_setup); unlinked, it prints as "/dev/zero (deleted)".
const shmemPath = "/dev/zero"

// LoadError is an entry that LoadFrom cannot turn into a VMA, or a line the
// loaded model would not print as given.
type LoadError struct {
	Line int // 1-based index into the entries
	Msg  string
}

func (e *LoadError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Msg }

// LoadFrom builds an address space whose maps text (Maps) is Format(entries)
// byte for byte, or fails with a *LoadError naming the line it cannot
// reproduce. Entries must be in address order without overlaps, as the
// kernel prints them.
//
// Each line becomes one VMA, installed as it is (nothing merges):
//   - a line with a device, an inode or an offset maps a file: a File with
//     the line's path, device and inode; " (deleted)" marks the inode
//     deleted (so "/dev/zero (deleted)" on 00:01 is shared anonymous memory)
//     and [anon_shmem:NAME] names shmem. Lines naming the same path and
//     inode share one File, as the mappings ld.so makes from one open do;
//   - [heap] lines set the layout's start_brk and brk to their extent,
//     [stack] lines set start_stack inside them and get VM_GROWSDOWN;
//   - [anon:NAME] is anonymous memory named NAME, an unnamed line plain
//     anonymous memory;
//   - any other bracketed name ([vdso], [vvar], [vvar_vclock], [uprobes],
//     ...) is a special mapping, flagged VM_DONTEXPAND;
//   - the x86-64 [vsyscall] line, last, sets the layout's Gate.
//
// Flags are the printed r, w, x, VM_MAYSHARE|VM_SHARED for 's', and
// VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC; an entry with Flags from smaps
// (HasFlags) gets exactly those instead. A File is open read-write when its
// mapping is shared and writable, read-only otherwise. An inode whose size
// is unknown (0) gets the end of the furthest mapping of it as its size.
func LoadFrom(entries []Entry) (*mm.AddressSpace, error) {
	return loadFrom(entries, nil)
}

// entry kinds, as get_vma_name tells them apart.
type kind uint8

const (
	kindAnon kind = iota
	kindFile
	kindSpecial
	kindHeap
	kindStack
)

func classify(e Entry) kind {
	if e.FileBacked() {
		return kindFile
	}
	switch {
	case e.Name == "":
		return kindAnon
	case e.Name == heapName:
		return kindHeap
	case e.Name == stackName:
		return kindStack
	case strings.HasPrefix(e.Name, anonPrefix):
		if _, ok := e.AnonName(); ok {
			return kindAnon
		}
		return kindSpecial
	case strings.HasPrefix(e.Name, "["):
		return kindSpecial
	default:
		return kindFile // a path on device 00:00 with inode 0
	}
}

type fileKey struct {
	path string
	id   vfs.InodeID
}

// loadFrom is LoadFrom; sizeOf, if set, reports the size of a file-backed
// entry's file when it can find it out.
func loadFrom(entries []Entry, sizeOf func(Entry) (int64, bool)) (_ *mm.AddressSpace, err error) {
	as := mm.New(mm.Config{})
	files := map[fileKey]*vfs.File{}
	defer func() {
		for _, f := range files {
			f.Put() // the VMAs hold their own references
		}
		if err != nil {
			release(as)
		}
	}()

	n := len(entries)
	var l mm.Layout
	if n > 0 && entries[n-1].Name == gateName && !entries[n-1].FileBacked() {
		if !entries[n-1].IsGate() {
			return nil, &LoadError{n, "the model prints only the x86-64 gate line " +
				Entry{Start: GateStart, End: GateEnd, Perms: PermExec, Name: gateName}.String()}
		}
		l.Gate = true
		n--
	}
	if err := layoutFrom(entries[:n], &l); err != nil {
		return nil, err
	}

	for i, e := range entries[:n] {
		line := i + 1
		if i > 0 && e.Start < entries[i-1].End {
			return nil, &LoadError{line, "range " + rangeString(e) + " overlaps or precedes line " + strconv.Itoa(i)}
		}
		if e.Start&(mm.PageSize-1) != 0 || e.End&(mm.PageSize-1) != 0 {
			return nil, &LoadError{line, "range " + rangeString(e) + " is not page aligned"}
		}
		k := classify(e)
		in := mm.Info{Start: e.Start, End: e.End, Flags: vmFlags(e.Perms)}
		switch k {
		case kindFile:
			if e.Name == "" {
				return nil, &LoadError{line, "a file mapping without a name cannot be modelled"}
			}
			if e.Offset&(mm.PageSize-1) != 0 {
				return nil, &LoadError{line, "offset " + strconv.FormatUint(e.Offset, 16) + " is not page aligned"}
			}
			in.Pgoff = e.Offset >> mm.PageShift
			in.File = fileFor(files, e, sizeOf)
			in.Inode = in.File.Inode()
			if in.File.NoExec() {
				in.Flags &^= mm.VMMayExec // do_mmap on a noexec mount
			}
			if in.Inode.ID().Dev == vfs.ShmemDev && strings.HasPrefix(e.Name, anonShmemPrefix) {
				in.AnonName, _ = e.AnonName()
			}
		case kindAnon:
			in.AnonName, _ = e.AnonName()
		case kindSpecial:
			in.Special = e.Name
			in.Flags |= mm.VMDontExpand
		case kindStack:
			in.Flags |= mm.VMGrowsDown
		}
		if e.HasFlags {
			in.Flags = e.Flags // smaps: the VMA's own, not the ones derived here
		}
		if err := as.Install(in); err != nil {
			return nil, &LoadError{line, "cannot install " + rangeString(e) + ": " + err.Error()}
		}
	}
	as.SetLayout(l)
	if err := verify(as, entries); err != nil {
		return nil, err
	}
	return as, nil
}

// layoutFrom derives start_brk, brk and start_stack from the [heap] and
// [stack] lines so that exactly those lines get those names.
func layoutFrom(entries []Entry, l *mm.Layout) error {
	var heap, stack []int
	for i, e := range entries {
		switch classify(e) {
		case kindHeap:
			heap = append(heap, i)
		case kindStack:
			stack = append(stack, i)
		}
	}
	if len(heap) > 0 {
		// The heap test is strict on both ends, so the exact extent of the
		// [heap] lines names them and nothing that merely touches them.
		l.StartBrk = entries[heap[0]].Start
		l.Brk = entries[heap[len(heap)-1]].End
	}
	switch len(stack) {
	case 0:
	case 1:
		// The stack test is inclusive on both ends: pick an address
		// strictly inside, which no neighbour touches.
		l.StartStack = entries[stack[0]].End - 1
	case 2:
		a, b := entries[stack[0]], entries[stack[1]]
		if a.End != b.Start {
			return &LoadError{stack[1] + 1, "a second [stack] not adjacent to the first on line " + strconv.Itoa(stack[0]+1)}
		}
		l.StartStack = a.End // both hold their shared boundary
	default:
		return &LoadError{stack[2] + 1, "more than two [stack] lines"}
	}
	return nil
}

// fileFor returns the File for a file-backed entry, one per path and inode.
func fileFor(files map[fileKey]*vfs.File, e Entry, sizeOf func(Entry) (int64, bool)) *vfs.File {
	id := vfs.InodeID{Dev: e.Dev, Ino: e.Inode}
	path := e.Path()
	_, named := e.AnonName()
	named = named && strings.HasPrefix(e.Name, anonShmemPrefix) && e.Dev == vfs.ShmemDev
	if named {
		path = shmemPath
	}
	key := fileKey{path, id}
	f := files[key]
	ino := vfs.InodeFor(id)
	switch {
	case named:
		ino.SetDeleted(true) // shmem objects have no name
	default:
		ino.SetDeleted(e.Deleted())
	}
	if sizeOf != nil {
		if sz, ok := sizeOf(e); ok {
			ino.SetSize(sz)
		}
	}
	if ino.Size() == 0 {
		ino.SetSize(int64(e.Offset + (e.End - e.Start)))
	}
	if f == nil {
		flags := vfs.ORdonly
		if e.Perms.Shared() && e.Perms.Write() {
			flags = vfs.ORdwr
		}
		f = vfs.NewFile(path, ino, flags)
		if !e.Deleted() && path != shmemPath {
			f.SetNoExec(vfs.PathNoExec(path)) // the mount as it is now
		}
		files[key] = f
	}
	return f
}

// vmFlags turns a permission column into vm_flags.
func vmFlags(p Perms) mm.VMFlags {
	f := mm.VMMayRead | mm.VMMayWrite | mm.VMMayExec
	if p.Read() {
		f |= mm.VMRead
	}
	if p.Write() {
		f |= mm.VMWrite
	}
	if p.Exec() {
		f |= mm.VMExec
	}
	if p.Shared() {
		f |= mm.VMMayShare | mm.VMShared
	}
	return f
}

// verify checks that as prints entries exactly.
func verify(as *mm.AddressSpace, entries []Entry) error {
	got := Maps(as)
	want := Format(entries)
	if got == want {
		return nil
	}
	gl := strings.SplitAfter(got, "\n")
	wl := strings.SplitAfter(want, "\n")
	for i := 0; ; i++ {
		switch {
		case i >= len(wl) || wl[i] == "":
			return &LoadError{i + 1, "the model prints an extra line " + strconv.Quote(strings.TrimSuffix(gl[i], "\n"))}
		case i >= len(gl) || gl[i] == "":
			return &LoadError{i + 1, "the model does not print this line"}
		case gl[i] != wl[i]:
			return &LoadError{i + 1, "the model prints " + strconv.Quote(strings.TrimSuffix(gl[i], "\n")) +
				" for " + strconv.Quote(strings.TrimSuffix(wl[i], "\n"))}
		}
	}
}

// release unmaps everything from a half-built address space, dropping its
// VMAs' file references.
func release(as *mm.AddressSpace) {
	if as.MapCount() > 0 {
		as.Exit()
	}
}

func rangeString(e Entry) string {
	b := appendHex(nil, e.Start, 8)
	b = append(b, '-')
	return string(appendHex(b, e.End, 8))
}

var errNoPID = errors.New("procfs: pid must be positive, or 0 for the calling process")
