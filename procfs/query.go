package procfs

import (
	"strconv"
	"strings"

	"specvma/errno"
	"specvma/mm"
)

// The PROCMAP_QUERY ioctl on a maps file (include/uapi/linux/fs.h, the
// 6.11 interface; answered under per-VMA locks since 6.17).

// Query flags (enum procmap_query_flags).
const (
	QueryVMAReadable    = 0x01 // only a VMA with VM_READ
	QueryVMAWritable    = 0x02 // only a VMA with VM_WRITE
	QueryVMAExecutable  = 0x04 // only a VMA with VM_EXEC
	QueryVMAShared      = 0x08 // only a VMA with VM_MAYSHARE
	QueryCoveringOrNext = 0x10 // the covering VMA, or else the next one
	QueryFileBacked     = 0x20 // only a VMA with a file

	queryPermFlags  = QueryVMAReadable | QueryVMAWritable | QueryVMAExecutable | QueryVMAShared
	queryValidFlags = queryPermFlags | QueryCoveringOrNext | QueryFileBacked
)

var queryFlagNames = []struct {
	name string
	bit  uint64
}{
	{"PROCMAP_QUERY_VMA_READABLE", QueryVMAReadable},
	{"PROCMAP_QUERY_VMA_WRITABLE", QueryVMAWritable},
	{"PROCMAP_QUERY_VMA_EXECUTABLE", QueryVMAExecutable},
	{"PROCMAP_QUERY_VMA_SHARED", QueryVMAShared},
	{"PROCMAP_QUERY_COVERING_OR_NEXT_VMA", QueryCoveringOrNext},
	{"PROCMAP_QUERY_FILE_BACKED_VMA", QueryFileBacked},
}

// ParseQueryFlags reads flags written as kernel names joined by '|', or a
// number (0 for none). A number (0x..., or decimal) is taken as it is, so that scripts can
// pass bits the kernel rejects.
func ParseQueryFlags(s string) (uint64, bool) {
	if n, err := strconv.ParseUint(s, 0, 64); err == nil {
		return n, true
	}
	var f uint64
	for _, part := range strings.Split(s, "|") {
		found := false
		for _, n := range queryFlagNames {
			if part == n.name {
				f |= n.bit
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return f, true
}

// FormatQueryFlags writes flags as ParseQueryFlags reads them: kernel
// names joined by '|', "0" for none, or a hex number when unknown bits are
// set.
func FormatQueryFlags(f uint64) string {
	if f == 0 || f&^queryValidFlags != 0 {
		return "0x" + strconv.FormatUint(f, 16)
	}
	var parts []string
	for _, n := range queryFlagNames {
		if f&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "|")
}

// Sizes of struct procmap_query.
const (
	QuerySize    = 104 // sizeof(struct procmap_query) as of 6.11
	QueryMinSize = 24  // up to and including query_addr: the least the kernel takes
	queryMaxSize = PageSize
	queryNameMax = 4096 // PATH_MAX: the most name buffer the kernel uses
)

// Query is the caller's half of struct procmap_query. NameAddr and
// BuildIDAddr stand for the user buffers: the model only looks at whether
// they are zero (the kernel requires a buffer and its size to be both set
// or both zero).
type Query struct {
	Size        uint64 // the struct size passed; 0 means QuerySize
	Flags       uint64
	Addr        uint64
	NameAddr    uint64
	NameSize    uint32
	BuildIDAddr uint64
	BuildIDSize uint32
}

// QueryResult is the kernel's half: the matched VMA.
type QueryResult struct {
	Start, End  uint64
	Flags       uint64 // Query* permission bits
	PageSize    uint64
	Offset      uint64 // file offset of Start; 0 for anonymous memory
	Inode       uint64
	DevMajor    uint32
	DevMinor    uint32
	NameSize    uint32 // bytes of name, NUL included; 0 when the VMA has none (or none was asked for)
	Name        string // without the NUL
	BuildIDSize uint32 // 0 when none was asked for or the file has none
	BuildID     []byte
}

// checkQuery applies the kernel's argument checks, in its order.
func checkQuery(q *Query) error {
	if q.Size == 0 {
		q.Size = QuerySize
	}
	switch {
	case q.Size > queryMaxSize:
		return errno.E2BIG
	case q.Size < QueryMinSize:
		return errno.EINVAL
	}
	// copy_struct_from_user: fields past a short struct read as zero.
	if q.Size < 84 {
		q.NameSize = 0
	}
	if q.Size < 88 {
		q.BuildIDSize = 0
	}
	if q.Size < 96 {
		q.NameAddr = 0
	}
	if q.Size < 104 {
		q.BuildIDAddr = 0
	}
	if q.Flags&^queryValidFlags != 0 {
		return errno.EINVAL
	}
	if (q.NameSize != 0) != (q.NameAddr != 0) || (q.BuildIDSize != 0) != (q.BuildIDAddr != 0) {
		return errno.EINVAL
	}
	return nil
}

// Query answers PROCMAP_QUERY on this open maps file. Each candidate VMA
// is read-locked with mm.LockNextVMA (which falls back to the mmap read
// lock when it must); errors are errno.Errno values as the ioctl returns
// them.
func (f *MapsFile) Query(q Query) (QueryResult, error) {
	if err := checkQuery(&q); err != nil {
		return QueryResult{}, err
	}
	r, err := f.query(q)
	r.clip(q.Size)
	return r, err
}

func (f *MapsFile) query(q Query) (QueryResult, error) {
	in, err := f.matchingVMA(q.Addr, q.Flags)
	if err != nil {
		return QueryResult{}, err
	}
	r := QueryResult{Start: in.Start, End: in.End, PageSize: in.PageSize()}
	p := flagPerms(in.Flags)
	for _, b := range []struct {
		perm Perms
		bit  uint64
	}{{PermRead, QueryVMAReadable}, {PermWrite, QueryVMAWritable}, {PermExec, QueryVMAExecutable}, {PermShared, QueryVMAShared}} {
		if p&b.perm != 0 {
			r.Flags |= b.bit
		}
	}
	inode := in.Inode
	if in.File != nil {
		if inode == nil {
			inode = in.File.Inode()
		}
		r.Offset = in.Pgoff << mm.PageShift
		if inode != nil {
			id := inode.ID()
			r.Inode, r.DevMajor, r.DevMinor = id.Ino, id.Dev.Major, id.Dev.Minor
		}
	}
	if q.BuildIDSize != 0 {
		if id, ok := buildIDOf(&in, inode); ok {
			if uint64(q.BuildIDSize) < uint64(len(id)) {
				return QueryResult{}, errno.ENAMETOOLONG
			}
			r.BuildID, r.BuildIDSize = id, uint32(len(id))
		}
	}
	if q.NameSize != 0 {
		if n := vmaName(&in, inode, &f.layout); !n.none() {
			r.Name = n.String()
			if len(r.Name)+1 > min(int(q.NameSize), queryNameMax) {
				return QueryResult{}, errno.ENAMETOOLONG
			}
			r.NameSize = uint32(len(r.Name) + 1)
		}
	}
	return r, nil
}

// clip zeroes the fields that lie past a short struct: the kernel copies
// back only as many bytes as the caller passed.
func (r *QueryResult) clip(size uint64) {
	for _, f := range []struct {
		end uint64
		p   *uint64
	}{{32, &r.Start}, {40, &r.End}, {48, &r.Flags}, {56, &r.PageSize}, {64, &r.Offset}, {72, &r.Inode}} {
		if size < f.end {
			*f.p = 0
		}
	}
	for _, f := range []struct {
		end uint64
		p   *uint32
	}{{76, &r.DevMajor}, {80, &r.DevMinor}, {84, &r.NameSize}, {88, &r.BuildIDSize}} {
		if size < f.end {
			*f.p = 0
		}
	}
}

// matchingVMA is query_matching_vma: the VMA covering addr, or with
// QueryCoveringOrNext the first one at or above it, that passes the
// file-backed and permission filters; ENOENT when there is none.
func (f *MapsFile) matchingVMA(addr, flags uint64) (mm.Info, error) {
	var perm mm.VMFlags
	for _, b := range []struct {
		bit uint64
		vm  mm.VMFlags
	}{{QueryVMAReadable, mm.VMRead}, {QueryVMAWritable, mm.VMWrite}, {QueryVMAExecutable, mm.VMExec}, {QueryVMAShared, mm.VMMayShare}} {
		if flags&b.bit != 0 {
			perm |= b.vm
		}
	}
	for {
		v := f.as.LockNextVMA(addr, &f.Stats.Walk)
		if v == nil {
			return mm.Info{}, errno.ENOENT
		}
		in := v.LockedInfo() // safety:query-copy-locked
		v.EndRead()          // safety:query-copy-locked
		match := (flags&QueryFileBacked == 0 || in.File != nil) && in.Flags&perm == perm
		if match && (flags&QueryCoveringOrNext != 0 || in.Start <= addr) {
			return in, nil
		}
		if flags&QueryCoveringOrNext == 0 {
			return mm.Info{}, errno.ENOENT
		}
		addr = in.End
	}
}

// Line formats a result the way the scenario language prints it:
// start-end, the permission bits as maps prints them, offset, dev, inode,
// page size, the name (or "-"), and the build ID in hex (or "-").
func (r QueryResult) Line() string {
	var b []byte
	b = appendHex(b, r.Start, 8)
	b = append(b, '-')
	b = appendHex(b, r.End, 8)
	b = append(b, ' ')
	var p Perms
	for _, x := range []struct {
		bit  uint64
		perm Perms
	}{{QueryVMAReadable, PermRead}, {QueryVMAWritable, PermWrite}, {QueryVMAExecutable, PermExec}, {QueryVMAShared, PermShared}} {
		if r.Flags&x.bit != 0 {
			p |= x.perm
		}
	}
	b = p.appendTo(b)
	b = append(b, ' ')
	b = appendHex(b, r.Offset, 8)
	b = append(b, ' ')
	b = appendHex(b, uint64(r.DevMajor), 2)
	b = append(b, ':')
	b = appendHex(b, uint64(r.DevMinor), 2)
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.Inode, 10)
	b = append(b, " pagesize="...)
	b = strconv.AppendUint(b, r.PageSize, 10)
	b = append(b, " name="...)
	if r.NameSize == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendQuote(b, r.Name)
	}
	b = append(b, " build_id="...)
	if r.BuildIDSize == 0 {
		b = append(b, '-')
	} else {
		for _, c := range r.BuildID {
			b = appendHex(b, uint64(c), 2)
		}
	}
	return string(b)
}
