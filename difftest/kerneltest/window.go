package kerneltest

import (
	"fmt"
	"strconv"
	"strings"
)

// Window is the address range the differential tests own: every mapping a
// sequence makes lies in [Base, Base+Size), and only that range of
// /proc/self/maps is compared.
type Window struct {
	Base, Size uint64
}

// DefaultWindow is 1 TiB at 80 TiB (0x500000000000): large enough for
// mappings bigger than the machine's memory (commit accounting), cheap
// because it is claimed with one PROT_NONE MAP_NORESERVE mapping. Nothing in a Go
// test process lives there: the Go heap stays below 1<<46 (Go 1.26 picks
// a random base there; with -race it sits at 0x00c000000000 and the race
// detector's shadow and metadata occupy 0x200000000000-0x400000000000),
// and the kernel puts unhinted mappings (the runtime's other memory, the
// loader, shared libraries) top-down from just below the stack, near
// 0x7f0000000000. The sequences in testdata use its addresses.
var DefaultWindow = Window{Base: 0x500000000000, Size: 1 << 40}

// End is the first address past the window.
func (w Window) End() uint64 { return w.Base + w.Size }

// Contains reports whether [addr, addr+length) lies inside the window.
func (w Window) Contains(addr, length uint64) bool {
	return addr >= w.Base && addr <= w.End() && length <= w.End()-addr
}

// Overlaps reports whether [start, end) shares an address with the window.
func (w Window) Overlaps(start, end uint64) bool {
	return start < w.End() && end > w.Base
}

func (w Window) String() string {
	return fmt.Sprintf("[%#x, %#x)", w.Base, w.End())
}

// FilterMaps keeps the lines of a /proc/PID/maps text whose range overlaps
// the window, unchanged, each ending in a newline. Lines that do not parse
// are kept too, so that garbage is never hidden from a comparison.
func (w Window) FilterMaps(maps string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(maps, "\n") {
		if line == "" {
			continue
		}
		start, end, ok := mapsRange(line)
		if ok && !w.Overlaps(start, end) {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// mapsRange parses the "start-end" field that begins a maps line.
func mapsRange(line string) (start, end uint64, ok bool) {
	field, _, _ := strings.Cut(line, " ")
	s, e, found := strings.Cut(field, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(s, 16, 64)
	end, err2 := strconv.ParseUint(e, 16, 64)
	return start, end, err1 == nil && err2 == nil
}
