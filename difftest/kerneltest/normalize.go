package kerneltest

import (
	"strconv"
	"strings"
)

// mapsNameColumn is where /proc/PID/maps starts a name: the kernel pads the
// header (range, perms, offset, device, inode) to 25 + 6*sizeof(void *) - 1
// columns and adds one space.
const mapsNameColumn = 25 + 6*8 - 1 + 1

// shmemName is how maps names the shmem file behind shared anonymous memory.
const shmemName = "/dev/zero (deleted)"

// hugeAnonName is how maps names the hugetlbfs file behind MAP_HUGETLB
// anonymous memory.
const hugeAnonName = "/anon_hugepage (deleted)"

// mapsLine is a parsed /proc/PID/maps line.
type mapsLine struct {
	start, end                uint64
	rng, perms, off, dev, ino string
	name                      string // "" when the line has none
}

// parseMapsLine splits a maps line into its fields; ok is false for a line
// that is not one (a call's "= ..." result, for instance).
func parseMapsLine(line string) (l mapsLine, ok bool) {
	rest := line
	var f [5]string
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return l, false
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	start, end, ok := mapsRange(f[0])
	if !ok || len(f[1]) != 4 || !strings.Contains(f[3], ":") {
		return l, false
	}
	if _, err := strconv.ParseUint(f[4], 10, 64); err != nil {
		return l, false
	}
	return mapsLine{
		start: start, end: end,
		rng: f[0], perms: f[1], off: f[2], dev: f[3], ino: f[4],
		name: strings.TrimLeft(rest, " "),
	}, true
}

// String renders the line with the kernel's column layout.
func (l mapsLine) String() string {
	h := l.rng + " " + l.perms + " " + l.off + " " + l.dev + " " + l.ino
	if l.name == "" {
		return h + " "
	}
	if len(h) < mapsNameColumn-1 {
		h += strings.Repeat(" ", mapsNameColumn-1-len(h))
	}
	return h + " " + l.name
}

// Normalize rewrites a script's output (from scenario.Run) so that a run on
// the kernel and a run on the model can be compared line by line. It
// changes only what cannot be the same on both and says nothing about
// the model's correctness:
//
//   - maps lines for ranges outside the window are dropped (the kernel
//     backend shows only the window; the model shows everything);
//   - a call's address result outside the window ("= 0x7f...", where the
//     kernel chose the address) becomes "= <outside window>", and a
//     query's answer about a VMA outside it "= -ENOENT" (what the kernel
//     backend answers);
//   - shared-memory inode numbers (device 00:01, named /dev/zero (deleted)
//     or [anon_shmem:NAME]) are renumbered shm1, shm2, ... in order of
//     first appearance, so two mappings of one shmem object still show one
//     number and two objects still show two; so are those of MAP_HUGETLB
//     anonymous memory (/anon_hugepage (deleted)), as huge1, huge2, ...
func (w Window) Normalize(out string) string {
	var b strings.Builder
	shm, huge := map[string]string{}, map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		if out == "" {
			break
		}
		if q := strings.Fields(line); len(q) > 6 && q[0] == "=" && strings.HasPrefix(q[6], "pagesize=") {
			// A query's answer: one about a VMA outside the window is
			// ENOENT, as the kernel backend answers it; the inode is
			// renumbered as in maps.
			if start, end, ok := mapsRange(q[1]); ok && !w.Overlaps(start, end) {
				b.WriteString("= -ENOENT\n")
				continue
			}
			var ids map[string]string
			prefix := ""
			switch {
			case strings.Contains(line, ` name="`+hugeAnonName+`"`):
				ids, prefix = huge, "huge"
			case q[4] == "00:01" && (strings.Contains(line, ` name="`+shmemName+`"`) || strings.Contains(line, ` name="[anon_shmem:`)):
				ids, prefix = shm, "shm"
			}
			if ids != nil {
				n := renumber(ids, prefix, q[5])
				line = strings.Replace(line, " "+q[4]+" "+q[5]+" ", " "+q[4]+" "+n+" ", 1)
			}
		} else if v, ok := strings.CutPrefix(line, "= 0x"); ok {
			if a, err := strconv.ParseUint(v, 16, 64); err == nil && !w.Contains(a, 1) {
				line = "= <outside window>"
			}
		} else if l, ok := parseMapsLine(line); ok {
			if !w.Overlaps(l.start, l.end) {
				continue
			}
			if l.dev == "00:01" && (l.name == shmemName || strings.HasPrefix(l.name, "[anon_shmem:")) {
				l.ino = renumber(shm, "shm", l.ino)
				line = l.String()
			} else if l.name == hugeAnonName {
				l.ino = renumber(huge, "huge", l.ino)
				line = l.String()
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// renumber names inode ino by its order of first appearance in ids:
// PREFIX1, PREFIX2, ...
func renumber(ids map[string]string, prefix, ino string) string {
	n, seen := ids[ino]
	if !seen {
		n = prefix + strconv.Itoa(len(ids)+1)
		ids[ino] = n
	}
	return n
}
