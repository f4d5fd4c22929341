package procfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"specvma/mm"
)

// /proc/PID/smaps: the maps lines, each followed by fields about the VMA,
// the last of which, VmFlags, spells its vm_flags as two-letter mnemonics
// (show_smap_vma_flags). Loading from smaps (LoadOptions.Smaps) gives the
// model the flags the maps text cannot show: MADV_DONTFORK's VM_DONTCOPY,
// MADV_WIPEONFORK's VM_WIPEONFORK, VM_LOCKED, VM_ACCOUNT, VM_DONTDUMP and
// the others below, which change what fork, merges and mlock do.

// vmFlagMnemonics are the VmFlags mnemonics of the flags the model knows.
// VM_HUGETLB ("ht") is left out: a loaded hugetlb mapping has none of the
// pool state the model keeps for its own (hugetlb.go). Mnemonics not here
// (VM_SYNC's "sf", the userfaultfd and architecture flags, "??" for a bit
// without a name) are skipped.
var vmFlagMnemonics = map[string]mm.VMFlags{
	"rd": mm.VMRead, "wr": mm.VMWrite, "ex": mm.VMExec, "sh": mm.VMShared,
	"mr": mm.VMMayRead, "mw": mm.VMMayWrite, "me": mm.VMMayExec, "ms": mm.VMMayShare,
	"gd": mm.VMGrowsDown, "pf": mm.VMPFNMap, "lo": mm.VMLocked, "io": mm.VMIO,
	"sr": mm.VMSeqRead, "rr": mm.VMRandRead, "dc": mm.VMDontCopy, "de": mm.VMDontExpand,
	"lf": mm.VMLockOnFault, "ac": mm.VMAccount, "nr": mm.VMNoReserve, "wf": mm.VMWipeOnFork,
	"dd": mm.VMDontDump, "sd": mm.VMSoftDirty, "mm": mm.VMMixedMap, "hg": mm.VMHugePage,
	"nh": mm.VMNoHugePage, "mg": mm.VMMergeable, "sl": mm.VMSealed,
}

// SmapsPath returns the smaps file of process pid; pid 0 is the caller.
func SmapsPath(pid int) string {
	if pid == 0 {
		return "/proc/self/smaps"
	}
	return "/proc/" + strconv.Itoa(pid) + "/smaps"
}

// ReadSmaps returns the text of /proc/PID/smaps (pid 0: the caller), read
// as ReadMaps reads maps; a process that exits while it is read is
// ErrExited.
func ReadSmaps(pid int) ([]byte, error) {
	if pid < 0 {
		return nil, errNoPID
	}
	f, err := os.Open(SmapsPath(pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	text, err := readMapsFile(f, pid, nil)
	if err != nil {
		return nil, err
	}
	// The smaps file has no PROCMAP_QUERY to ask whether the text ended
	// because the process went: ask its maps file.
	m, err := os.Open(MapsPath(pid))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if err := checkAlive(m); err != nil {
		return nil, fmt.Errorf("%s: %w", SmapsPath(pid), err)
	}
	return text, nil
}

// ParseSmaps reads a whole smaps text: one Entry per maps line, with
// Flags set from its VmFlags line (HasFlags). The other fields are not
// kept. Errors are *SyntaxError: a field before the first maps line, a
// VmFlags mnemonic that is not two letters, or a bad maps line.
func ParseSmaps(r io.Reader) ([]Entry, error) {
	var out []Entry
	err := eachLine(r, func(line string) string {
		// Field names start with a capital letter; maps lines with a
		// lower-case hex digit or a digit.
		if line == "" || line[0] < 'A' || line[0] > 'Z' {
			e, msg := parseLine(line)
			if msg == "" {
				out = append(out, e)
			}
			return msg
		}
		if len(out) == 0 {
			return "a field before the first mapping"
		}
		rest, ok := strings.CutPrefix(line, "VmFlags:")
		if !ok {
			return ""
		}
		f, msg := parseVmFlags(rest)
		out[len(out)-1].Flags, out[len(out)-1].HasFlags = f, msg == ""
		return msg
	})
	return out, err
}

// parseVmFlags turns the mnemonics of a VmFlags line into vm_flags.
func parseVmFlags(s string) (mm.VMFlags, string) {
	var f mm.VMFlags
	for _, m := range strings.Fields(s) {
		if len(m) != 2 {
			return 0, "VmFlags: bad mnemonic " + strconv.Quote(m)
		}
		f |= vmFlagMnemonics[m]
	}
	return f, ""
}

// readSmapsEntries reads pid's smaps once (LoadOptions.Smaps), and the
// text it parsed; with execOnly only the executable file mappings are kept.
func readSmapsEntries(pid int, execOnly bool) ([]Entry, []byte, error) {
	text, err := ReadSmaps(pid)
	if err != nil {
		return nil, nil, err
	}
	entries, err := ParseSmaps(bytes.NewReader(text))
	if err != nil {
		return nil, text, fmt.Errorf("%s: %w", SmapsPath(pid), err)
	}
	if execOnly {
		entries = slices.DeleteFunc(entries, func(e Entry) bool { return !isExecFile(e) })
	}
	return entries, text, nil
}
