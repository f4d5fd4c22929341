package uprobetest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"specvma/procfs"
)

// breakpointInsn is x86's int3, the instruction uprobes write.
const breakpointInsn = 0xcc

// Site is an address where a process maps a probed file offset.
type Site struct {
	Addr, Off  uint64
	Entry      procfs.Entry // the maps line
	Breakpoint bool         // the process sees int3 there and the file does not
}

// Sites lists every address where process pid maps one of offs of the file
// at path (by the maps lines that name path), and whether the kernel has
// written a breakpoint there. It reads the process's memory through
// /proc/PID/mem, which sees what the process would execute, breakpoints
// included, in every mapping, executable or not.
func Sites(pid int, path string, offs []uint64) ([]Site, error) {
	file, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text, err := procfs.ReadMaps(pid)
	if err != nil {
		return nil, err
	}
	entries, err := procfs.Parse(bytes.NewReader(text))
	if err != nil {
		return nil, err
	}
	mem, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	var out []Site
	for _, e := range entries {
		if !e.FileBacked() || e.Path() != path {
			continue
		}
		for _, off := range offs {
			if off < e.Offset || off-e.Offset >= e.End-e.Start || off >= uint64(len(file)) {
				continue
			}
			s := Site{Addr: e.Start + off - e.Offset, Off: off, Entry: e}
			var b [1]byte
			if _, err := mem.ReadAt(b[:], int64(s.Addr)); err != nil {
				return nil, fmt.Errorf("reading %#x of process %d (%s): %w", s.Addr, pid, e, err)
			}
			s.Breakpoint = b[0] == breakpointInsn && file[off] != breakpointInsn
			out = append(out, s)
		}
	}
	return out, nil
}
