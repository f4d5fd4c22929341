package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"unsafe"

	"specvma/mm"
)

// Loading a live process so that the result is never a torn or truncated
// reading presented as whole.

// ErrExited reports a process whose address space went away while it was
// read (it exited, or it is a zombie or a kernel thread and has none). It
// matches fs.ErrNotExist.
var ErrExited = fmt.Errorf("the process has no address space any more (it exited while being read, or is a zombie or kernel thread): %w", fs.ErrNotExist)

// LoadOptions choose how LoadLive reads a process.
type LoadOptions struct {
	// Query walks the address space with PROCMAP_QUERY (one ioctl per
	// mapping) instead of parsing the maps text. The gate line ([vsyscall])
	// is not a VMA and is not loaded in this mode.
	Query bool
	// ExecOnly loads only executable file-backed mappings: what profilers
	// and symbolizers need. With Query, the kernel skips the others.
	ExecOnly bool
	// MaxRetries is how many torn reads are retried before LoadLive gives
	// up (default 100).
	MaxRetries int
	// Smaps reads /proc/PID/smaps instead of maps (smaps.go): the same
	// lines, and each VMA gets the flags of its VmFlags line (VM_DONTCOPY,
	// VM_WIPEONFORK, VM_LOCKED, VM_ACCOUNT, ...; not VM_HUGETLB). Not with
	// Query.
	Smaps bool

	keepText bool // LoadText: return the text of the reading
}

// LoadStats says what a live load did.
type LoadStats struct {
	Retries int // torn readings thrown away and read again
	Entries int // mappings loaded
}

// LoadLive reads process pid (0: the caller) and builds its model address
// space. A reading whose lines overlap or go backwards (a mapping reported
// twice, old form and new, as the kernel allows while the process changes
// its mappings) is read again, up to MaxRetries times; a process that
// exits during the reading gives ErrExited, never a truncated result.
func LoadLive(pid int, o LoadOptions) (*mm.AddressSpace, LoadStats, error) {
	as, st, _, err := loadLive(pid, o)
	return as, st, err
}

// LiveEntries reads process pid's mappings as LoadLive does (the same
// retries of torn readings, the same ErrExited) and returns them as entries,
// without building a model: what a profiler or symbolizer that only wants
// the mappings needs. With ExecOnly they are the executable file-backed
// mappings, whichever way they were read.
func LiveEntries(pid int, o LoadOptions) ([]Entry, LoadStats, error) {
	entries, st, _, err := liveEntries(pid, o)
	return entries, st, err
}

// liveEntries is LiveEntries, also returning the text of the reading it
// kept (nil with Query), or of the one it failed to parse.
func liveEntries(pid int, o LoadOptions) ([]Entry, LoadStats, []byte, error) {
	var st LoadStats
	if o.MaxRetries <= 0 {
		o.MaxRetries = 100
	}
	for {
		entries, text, err := readEntriesFn(pid, o)
		if err != nil {
			return nil, st, text, err
		}
		if !inOrder(entries) {
			if st.Retries++; st.Retries > o.MaxRetries {
				return nil, st, nil, fmt.Errorf("%s: still torn after %d readings", MapsPath(pid), o.MaxRetries)
			}
			continue
		}
		st.Entries = len(entries)
		return entries, st, text, nil
	}
}

// loadLive is LoadLive, also returning the text of the reading it kept
// (nil with Query), or of the one it failed to parse.
func loadLive(pid int, o LoadOptions) (*mm.AddressSpace, LoadStats, []byte, error) {
	entries, st, text, err := liveEntries(pid, o)
	if err != nil {
		return nil, st, text, err
	}
	as, err := loadFrom(entries, liveFileSize)
	if err != nil {
		return nil, st, text, fmt.Errorf("%s: %w", MapsPath(pid), err)
	}
	return as, st, text, nil
}

// readEntriesFn is readEntries; tests replace it to feed torn readings.
var readEntriesFn = readEntries

// textBuffers holds the buffers the text loader reads maps files into: a
// large process's text is megabytes, and a profiler reads it again every
// few seconds, so a buffer is reused rather than grown from nothing each
// time (fresh memory costs a page fault per page to fill).
var textBuffers = sync.Pool{New: func() any { return new([]byte) }}

// readEntries reads pid's mappings once. With o.keepText it also returns
// the text it parsed (nil with o.Query). With o.ExecOnly the text's other
// lines are skipped as they are parsed, as the kernel skips those mappings
// for a query.
func readEntries(pid int, o LoadOptions) ([]Entry, []byte, error) {
	if o.Query {
		if o.Smaps {
			return nil, nil, errors.New("procfs: LoadOptions: Smaps and Query exclude each other")
		}
		entries, err := queryEntries(pid, o.ExecOnly)
		return entries, nil, err
	}
	if o.Smaps {
		return readSmapsEntries(pid, o.ExecOnly)
	}
	buf := textBuffers.Get().(*[]byte)
	defer textBuffers.Put(buf)
	text, err := readMapsInto(pid, *buf)
	if err != nil {
		return nil, nil, err
	}
	*buf = text[:0]
	var keep func(Entry) bool
	if o.ExecOnly {
		keep = isExecFile
	}
	// parseText keeps no part of its text (it copies the names), so it may
	// read the buffer in place.
	entries, err := parseText(unsafe.String(unsafe.SliceData(text), len(text)), keep)
	if o.keepText {
		text = bytes.Clone(text)
	} else {
		text = nil
	}
	if err != nil {
		return nil, text, fmt.Errorf("%s: %w", MapsPath(pid), err)
	}
	return entries, text, nil
}

// inOrder reports lines in strictly increasing, non-overlapping order.
func inOrder(entries []Entry) bool {
	for i := 1; i < len(entries); i++ {
		if entries[i].Start < entries[i-1].End {
			return false
		}
	}
	return true
}

// isExecFile reports an executable file-backed mapping (the gate line,
// not a VMA, is not one).
func isExecFile(e Entry) bool {
	return e.Perms&PermExec != 0 && e.FileBacked() && !e.IsGate()
}

// queryEntries walks pid's mappings with PROCMAP_QUERY.
func queryEntries(pid int, execOnly bool) ([]Entry, error) {
	f, err := os.Open(MapsPath(pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	flags := uint64(QueryCoveringOrNext)
	if execOnly {
		flags |= QueryFileBacked | QueryVMAExecutable
	}
	var out []Entry
	w := newLiveWalker(f)
	for addr := uint64(0); ; {
		r, err := w.query(flags, addr)
		if errors.Is(err, errNoEntry) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: PROCMAP_QUERY: %w", MapsPath(pid), err)
		}
		e := Entry{Start: r.Start, End: r.End, Offset: r.Offset, Inode: r.Inode, Name: r.Name}
		e.Dev.Major, e.Dev.Minor = r.DevMajor, r.DevMinor
		for _, b := range []struct {
			bit  uint64
			perm Perms
		}{{QueryVMAReadable, PermRead}, {QueryVMAWritable, PermWrite}, {QueryVMAExecutable, PermExec}, {QueryVMAShared, PermShared}} {
			if r.Flags&b.bit != 0 {
				e.Perms |= b.perm
			}
		}
		if e.FileBacked() || strings.HasPrefix(e.Name, "/") {
			e.Name = strings.ReplaceAll(e.Name, "\n", `\012`) // as maps escapes it
		}
		out = append(out, e)
		addr = r.End
	}
}
