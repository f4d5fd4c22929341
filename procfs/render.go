package procfs

import (
	"io"
	"strconv"

	"specvma/mm"
	"specvma/vfs"
)

// Column layout of a maps line (show_vma_header_prefix and seq_pad).
const (
	// headerWidth is the width the kernel pads a line's header to before a
	// name: 25 + sizeof(void *)*6 - 1 on a 64-bit kernel.
	headerWidth = 25 + 8*6 - 1
	// NameColumn is the 0-based column where a name starts when the header
	// is shorter than headerWidth: the pad, then one more space.
	NameColumn = headerWidth + 1
)

// The gate area (x86-64 vsyscall page), printed after the last VMA when the
// address space has one.
const (
	GateStart = 0xffffffffff600000
	GateEnd   = 0xffffffffff601000
	gateName  = "[vsyscall]"
)

// Names the kernel gives anonymous memory by position.
const (
	heapName  = "[heap]"
	stackName = "[stack]"
)

// Name formats and the suffix for unlinked files.
const (
	anonPrefix      = "[anon:"
	anonShmemPrefix = "[anon_shmem:"
	deletedSuffix   = " (deleted)"
)

// renderChunk is how much Render buffers before writing.
const renderChunk = 32 << 10

// Maps returns as printed as /proc/PID/maps, with its VMAs and layout taken
// under one snapshot.
func Maps(as *mm.AddressSpace) string {
	vmas, l := as.Snapshot()
	return string(AppendMaps(nil, vmas, l))
}

// Render writes vmas, which must be in address order, and the layout's gate
// line as /proc/PID/maps prints them. It returns the first write error.
func Render(w io.Writer, vmas []mm.Info, l mm.Layout) error {
	buf := make([]byte, 0, renderChunk+512)
	for i := range vmas {
		buf = AppendVMA(buf, &vmas[i], &l)
		if len(buf) >= renderChunk {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if l.Gate {
		buf = appendGate(buf)
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// AppendMaps appends the whole maps text of vmas and l to dst.
func AppendMaps(dst []byte, vmas []mm.Info, l mm.Layout) []byte {
	for i := range vmas {
		dst = AppendVMA(dst, &vmas[i], &l)
	}
	if l.Gate {
		dst = appendGate(dst)
	}
	return dst
}

// AppendVMA appends the maps line of one VMA, newline included. The layout
// decides which anonymous VMAs are [heap] and [stack].
func AppendVMA(dst []byte, v *mm.Info, l *mm.Layout) []byte {
	lineStart := len(dst)
	var (
		dev      vfs.Dev
		ino, off uint64
		inode    *vfs.Inode
	)
	// show_map_vma: device, inode and offset only for file-backed VMAs.
	if v.File != nil {
		inode = v.Inode
		if inode == nil {
			inode = v.File.Inode()
		}
		if inode != nil {
			id := inode.ID()
			dev, ino = id.Dev, id.Ino
		}
		off = v.Pgoff << mm.PageShift
	}
	dst = appendHeader(dst, v.Start, v.End, flagPerms(v.Flags), off, dev, ino)

	if n := vmaName(v, inode, l); !n.none() {
		dst = pad(dst, lineStart)
		dst = append(dst, n.prefix...)
		if n.isPath {
			dst = appendPath(dst, n.body)
		} else {
			dst = append(dst, n.body...)
		}
		dst = append(dst, n.suffix...)
	}
	return append(dst, '\n')
}

// name is a VMA's name in parts, so that printing it allocates nothing:
// prefix + body + suffix, where body is a file's path when isPath.
type name struct {
	prefix, body, suffix string
	isPath               bool
}

func (n name) String() string { return n.prefix + n.body + n.suffix }

// none reports a VMA shown without a name (no padding either).
func (n name) none() bool { return !n.isPath && n.prefix == "" && n.body == "" }

// vmaName is get_vma_name: the name a VMA is shown with (empty for none).
// A file's name is d_path's text, " (deleted)" included. inode is the
// file's inode, nil for anonymous memory.
func vmaName(v *mm.Info, inode *vfs.Inode, l *mm.Layout) name {
	switch {
	case v.File != nil:
		if v.AnonName != "" {
			return name{prefix: anonShmemPrefix, body: v.AnonName, suffix: "]"}
		}
		n := name{body: v.Path, isPath: true}
		if n.body == "" {
			n.body = v.File.Path()
		}
		if inode != nil && inode.Deleted() {
			n.suffix = deletedSuffix
		}
		return n
	case v.Special != "":
		return name{body: v.Special}
	case isInitialHeap(v.Start, v.End, l):
		return name{body: heapName}
	case isInitialStack(v.Start, v.End, l):
		return name{body: stackName}
	case v.AnonName != "":
		return name{prefix: anonPrefix, body: v.AnonName, suffix: "]"}
	}
	return name{}
}

// isInitialHeap is vma_is_initial_heap: the VMA intersects [start_brk, brk).
// Both comparisons are strict, so a VMA that only touches the heap, or any
// VMA while brk == start_brk, is not it (checked against Linux 6.18).
func isInitialHeap(start, end uint64, l *mm.Layout) bool {
	return start < l.Brk && end > l.StartBrk
}

// isInitialStack is vma_is_initial_stack: the VMA's closed range
// [start, end] holds start_stack. An address space without a stack
// (start_stack 0, which no process has) has none, not one at page 0.
func isInitialStack(start, end uint64, l *mm.Layout) bool {
	return l.StartStack != 0 && start <= l.StartStack && end >= l.StartStack
}

func appendGate(dst []byte) []byte {
	lineStart := len(dst)
	dst = appendHeader(dst, GateStart, GateEnd, PermExec, 0, vfs.Dev{}, 0)
	dst = pad(dst, lineStart)
	dst = append(dst, gateName...)
	return append(dst, '\n')
}

// appendHeader appends "start-end perms offset major:minor inode " with the
// kernel's minimum widths, lowercase hex and the trailing space.
func appendHeader(dst []byte, start, end uint64, p Perms, off uint64, dev vfs.Dev, ino uint64) []byte {
	dst = appendHex(dst, start, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, end, 8)
	dst = append(dst, ' ')
	dst = p.appendTo(dst)
	dst = append(dst, ' ')
	dst = appendHex(dst, off, 8)
	dst = append(dst, ' ')
	dst = appendHex(dst, uint64(dev.Major), 2)
	dst = append(dst, ':')
	dst = appendHex(dst, uint64(dev.Minor), 2)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, ino, 10)
	return append(dst, ' ')
}

// pad is seq_pad(m, ' '): spaces up to headerWidth columns from the line's
// start, then one more.
func pad(dst []byte, lineStart int) []byte {
	for n := len(dst) - lineStart; n < headerWidth; n++ {
		dst = append(dst, ' ')
	}
	return append(dst, ' ')
}

// appendHex appends v in lowercase hex, zero-padded to at least width digits.
func appendHex(dst []byte, v uint64, width int) []byte {
	digits := 1
	for x := v >> 4; x != 0; x >>= 4 {
		digits++
	}
	for ; digits < width; digits++ {
		dst = append(dst, '0')
	}
	return strconv.AppendUint(dst, v, 16)
}

// appendPath appends a path as seq_path(m, path, "\n") does: a newline is
// written as the octal escape \012, every other byte as it is.
func appendPath(dst []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		if c := path[i]; c == '\n' {
			dst = append(dst, `\012`...)
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// flagPerms is the permission column of vm_flags.
func flagPerms(f mm.VMFlags) Perms {
	var p Perms
	if f&mm.VMRead != 0 {
		p |= PermRead
	}
	if f&mm.VMWrite != 0 {
		p |= PermWrite
	}
	if f&mm.VMExec != 0 {
		p |= PermExec
	}
	if f&mm.VMMayShare != 0 {
		p |= PermShared
	}
	return p
}
