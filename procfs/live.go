package procfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"specvma/mm"
)

// MapsPath returns the maps file of process pid; pid 0 is the caller.
func MapsPath(pid int) string {
	if pid == 0 {
		return "/proc/self/maps"
	}
	return "/proc/" + strconv.Itoa(pid) + "/maps"
}

// ReadMaps returns the text of /proc/PID/maps (pid 0: the calling
// process). The file is read with one large buffer, so that the kernel
// produces it in as few reads, and as few mmap lock holds, as it can; a
// process that changes its mappings meanwhile may still show a torn text,
// as with any reader of the file.
func ReadMaps(pid int) ([]byte, error) {
	return readMapsInto(pid, make([]byte, 0, 256<<10))
}

// readMapsInto is ReadMaps reading into buf (from its start), growing it
// as it must; the text it returns is buf or its larger replacement.
func readMapsInto(pid int, buf []byte) ([]byte, error) {
	if pid < 0 {
		return nil, errNoPID
	}
	f, err := os.Open(MapsPath(pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readMapsFile(f, pid, buf[:0])
}

// readMapsFile reads an open maps file to its end, appending to buf.
func readMapsFile(f *os.File, pid int, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) { // double: append grows large slices by a quarter, copying each time
			buf = append(make([]byte, 0, max(2*cap(buf), 64<<10)), buf...)
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF || (err == nil && n == 0) {
			// A process that exits mid-read ends its text early without
			// an error: ask whether its address space is still there.
			if err := checkAlive(f); err != nil {
				return nil, fmt.Errorf("%s: %w", MapsPath(pid), err)
			}
			return buf, nil
		}
		if errors.Is(err, syscall.ESRCH) { // the task went between two reads
			return nil, fmt.Errorf("%s: %w", MapsPath(pid), ErrExited)
		}
		if err != nil {
			return nil, err
		}
	}
}

// Load reads /proc/PID/maps of a live process (pid 0: the caller) and
// builds the address space that prints the same text (see LoadFrom). Where
// it can stat a mapped file that is still linked, the inode gets the file's
// size. A torn reading is read again and a process that exits during the
// reading is an error (LoadLive).
func Load(pid int) (*mm.AddressSpace, error) {
	as, _, err := LoadLive(pid, LoadOptions{})
	return as, err
}

// LoadText is Load, also returning the text of the reading it loaded: a
// torn reading is read again, as LoadLive does.
func LoadText(pid int) (*mm.AddressSpace, []byte, error) {
	as, _, text, err := loadLive(pid, LoadOptions{keepText: true})
	return as, text, err
}
