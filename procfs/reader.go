package procfs

import (
	"errors"
	"io"

	"specvma/mm"
)

// Reading a model address space's maps file page by page, as seq_file
// does, with one of three locking designs (see the package doc).

// Reader picks how a MapsFile reads the address space.
type Reader int

// The maps readers.
const (
	// ReadLocked holds the mmap read lock for each output page (Linux
	// before 6.17).
	ReadLocked Reader = iota
	// ReadSnapshot copies each VMA without a lock and validates the copy
	// with the mm sequence count (the RCU snapshot proposal).
	ReadSnapshot
	// ReadVMALock read-locks one VMA at a time (lock_next_vma; Linux 6.17).
	ReadVMALock
	numReaders
)

var readerNames = [...]string{"locked", "snapshot", "vmalock"}

func (r Reader) String() string { return readerNames[r] }

// Readers lists every maps reader.
func Readers() []Reader { return []Reader{ReadLocked, ReadSnapshot, ReadVMALock} }

// ParseReader turns a reader's name back into a Reader.
func ParseReader(name string) (Reader, bool) {
	for i, n := range readerNames {
		if n == name {
			return Reader(i), true
		}
	}
	return 0, false
}

// PageSize is the size of the buffer seq_file fills per read: whole lines
// only, as many as fit.
const PageSize = 4096

// ReadStats says what a MapsFile's reads did.
type ReadStats struct {
	Pages     uint64       // pages produced
	PageLocks uint64       // mmap read lock holds taken for whole pages (locked)
	Walk      mm.WalkStats // retries and fallbacks of the lockless walks
}

// MapsFile is an open /proc/PID/maps of a model address space. Each Read
// that finds no bytes left over produces one page: it resumes the walk at
// the end of the last VMA the previous page printed (m_start with
// last_pos), adds whole lines while they fit in PageSize bytes, and stops.
// A reader of the file sees tearing only where Linux allows it: between
// pages for ReadLocked, between VMAs for the other two. A MapsFile is not
// safe for concurrent use.
type MapsFile struct {
	as      *mm.AddressSpace
	reader  Reader
	layout  mm.Layout
	lastPos uint64 // where the next page's walk starts
	state   int    // walking VMAs, gate next, done
	page    []byte // bytes produced but not yet returned
	line    []byte
	Stats   ReadStats
}

const (
	stateVMAs = iota
	stateGate
	stateDone
)

// OpenMaps opens as's maps file for reading with reader r. The layout
// (brk and stack start, which decide the [heap] and [stack] names) is read
// once, here.
func OpenMaps(as *mm.AddressSpace, r Reader) *MapsFile {
	return &MapsFile{as: as, reader: r, layout: as.Layout(), page: make([]byte, 0, PageSize)}
}

// Rewind goes back to the start of the file (lseek to 0).
func (f *MapsFile) Rewind() {
	f.lastPos, f.state, f.page = 0, stateVMAs, f.page[:0]
}

// Read implements io.Reader with seq_file's semantics.
func (f *MapsFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(f.page) == 0 {
		if f.state == stateDone {
			return 0, io.EOF
		}
		f.fill(len(p))
		if len(f.page) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, f.page)
	f.page = f.page[:copy(f.page, f.page[n:])]
	return n, nil
}

// ReadPage returns the next page, or io.EOF after the last.
func (f *MapsFile) ReadPage() ([]byte, error) {
	buf := make([]byte, PageSize)
	n, err := f.Read(buf)
	return buf[:n], err
}

// errPageFull stops a page's walk at a line that does not fit.
var errPageFull = errors.New("page full")

// fill produces one page into f.page: whole lines while they fit in
// PageSize bytes and the page is shorter than want (seq_read_iter).
func (f *MapsFile) fill(want int) {
	f.Stats.Pages++
	emit := func(line []byte) error {
		if len(f.page) > 0 && (len(f.page)+len(line) > PageSize || len(f.page) >= want) {
			return errPageFull
		}
		f.page = append(f.page, line...) // a first line longer than a page still goes out whole
		return nil
	}
	if f.state == stateVMAs {
		if f.walk(emit) != nil {
			return
		}
		f.state = stateGate
	}
	if f.state == stateGate {
		if f.layout.Gate {
			if emit(appendGate(f.line[:0])) != nil {
				return
			}
		}
		f.state = stateDone
	}
}

// walk emits VMAs from lastPos on until emit refuses one or none is left.
func (f *MapsFile) walk(emit func([]byte) error) error {
	as := f.as
	switch f.reader {
	case ReadLocked:
		as.ReadLock()
		defer as.ReadUnlock()
		f.Stats.PageLocks++
		for {
			in, ok := as.NextVMALocked(f.lastPos)
			if !ok {
				return nil
			}
			if err := f.show(&in, emit); err != nil {
				return err
			}
		}
	case ReadSnapshot:
		seq := as.SnapshotBegin()
		for {
			in, ok := as.SnapshotNextVMA(f.lastPos, &seq, &f.Stats.Walk)
			if !ok {
				return nil
			}
			err := f.show(&in, emit)
			mm.ReleaseSnapshot(&in)
			if err != nil {
				return err
			}
		}
	default:
		for {
			v := as.LockNextVMA(f.lastPos, &f.Stats.Walk)
			if v == nil {
				return nil
			}
			in := v.LockedInfo() // safety:maps-copy-locked
			v.EndRead()          // safety:maps-copy-locked
			if err := f.show(&in, emit); err != nil {
				return err
			}
		}
	}
}

// show renders one VMA and, if the page took it, advances lastPos to its
// end (proc_get_vma sets the position to vm_end).
func (f *MapsFile) show(in *mm.Info, emit func([]byte) error) error {
	f.line = AppendVMA(f.line[:0], in, &f.layout)
	if err := emit(f.line); err != nil {
		return err
	}
	f.lastPos = in.End
	return nil
}

// ReadAll reads as's whole maps text with reader r, page by page, and
// returns it with what the reads did.
func ReadAll(as *mm.AddressSpace, r Reader) ([]byte, ReadStats) {
	f := OpenMaps(as, r)
	var out []byte
	for {
		pg, err := f.ReadPage()
		out = append(out, pg...)
		if err != nil {
			return out, f.Stats
		}
	}
}
