package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"specvma/mm"
	"specvma/procfs"
	"specvma/vfs"
)

// The live workload asks a question the model exists to answer in
// practice: for a real process, what does an address map? A profiler or a
// symbolizer has three ways to find out, and the workload times each on
// one batch of addresses of a process it starts itself:
//
//   - model: load /proc/PID/maps once into an mm.AddressSpace, then
//     resolve each address with mm.Resolve (strategy mmseq), in process;
//   - procmap_query: one PROCMAP_QUERY ioctl per address on an open
//     /proc/PID/maps (Linux 6.11+), the kernel walking its own VMA tree;
//   - maps-text: read and scan the whole /proc/PID/maps text per address,
//     as many tools do.
//
// All three must give the same answer for every address: the file's path,
// device, inode and offset, "no file" for a VMA without one, or
// "unmapped".

// LiveOptions configures RunLive.
type LiveOptions struct {
	// Lookups, when positive, caps the timed lookups of each method; the
	// batch is always repeated whole, so at least one full pass is timed.
	Lookups int
	// Duration caps the time each method is measured for; at least one
	// full pass is timed. With neither Lookups nor Duration set, each
	// method runs for one second.
	Duration time.Duration
	// Target is the executable to start; "" starts sleep. The process
	// must stay alive, and keep its mappings, for the whole run; it is
	// killed at the end.
	Target string
	// Args are Target's arguments. For the default target they default to
	// a sleep longer than the run.
	Args []string
}

// LiveMethod is one way of resolving the batch, measured.
type LiveMethod struct {
	Name        string  `json:"method"`
	Available   bool    `json:"available"`
	NsPerLookup float64 `json:"ns_per_lookup"`
	Lookups     int     `json:"lookups"`
	Agree       bool    `json:"agree"` // every answer equals every other available method's
	Note        string  `json:"note,omitempty"`
}

// LiveResult is a run of the live workload.
type LiveResult struct {
	PID        int          `json:"pid"`
	Target     string       `json:"target"`
	VMAs       int          `json:"vmas"`
	Addresses  int          `json:"addresses"`
	Methods    []LiveMethod `json:"methods"`
	Mismatches []string     `json:"mismatches,omitempty"`
}

// The method names, in the order RunLive measures them.
const (
	LiveModel        = "model"
	LiveProcmapQuery = "procmap_query"
	LiveMapsText     = "maps-text"
)

// maxMismatches bounds the mismatch lines a result lists.
const maxMismatches = 20

// WriteTable prints the result as a small aligned table.
func (r LiveResult) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "live: pid %d (%s), %d VMAs, %d addresses\n", r.PID, r.Target, r.VMAs, r.Addresses)
	fmt.Fprintf(w, "%-14s %12s %9s %-5s %s\n", "method", "ns/lookup", "lookups", "agree", "note")
	for _, m := range r.Methods {
		ns, n, agree := "-", "-", "-"
		if m.Available {
			ns = fmt.Sprintf("%.1f", m.NsPerLookup)
			n = si(float64(m.Lookups))
			agree = "no"
			if m.Agree {
				agree = "yes"
			}
		}
		fmt.Fprintf(w, "%-14s %12s %9s %-5s %s\n", m.Name, ns, n, agree, m.Note)
	}
	for _, s := range r.Mismatches {
		fmt.Fprintf(w, "mismatch: %s\n", s)
	}
}

// liveKind is the class of an answer.
type liveKind uint8

const (
	liveUnmapped liveKind = iota // no VMA covers the address
	liveNoFile                   // a VMA without a file (anonymous, [heap], [vdso], ...)
	liveFile                     // a file mapping
)

// liveAnswer is what one method says an address maps.
type liveAnswer struct {
	kind liveKind
	path string
	dev  vfs.Dev
	ino  uint64
	off  uint64
}

func (a liveAnswer) String() string {
	switch a.kind {
	case liveUnmapped:
		return "unmapped"
	case liveNoFile:
		return "no file"
	}
	return fmt.Sprintf("%s %02x:%02x %d +%#x", a.path, a.dev.Major, a.dev.Minor, a.ino, a.off)
}

// liveBatch builds the addresses to resolve from the target's maps
// entries: the first, a middle and the last byte of every VMA, and the
// same three of every hole between them, plus the page at 0 and an address
// above the user address space. The x86-64 [vsyscall] gate is left out:
// it is no VMA of the process, so PROCMAP_QUERY never finds it, while the
// maps text prints it.
func liveBatch(entries []procfs.Entry) []uint64 {
	var addrs []uint64
	three := func(start, end uint64) {
		addrs = append(addrs, start, start+(end-start)/2, end-1)
	}
	var prev uint64
	for _, e := range entries {
		if e.IsGate() {
			continue
		}
		if e.Start > prev {
			three(prev, e.Start)
		}
		three(e.Start, e.End)
		prev = e.End
	}
	addrs = append(addrs, prev, 1<<63) // just past the last VMA; a kernel address
	return addrs
}

// liveWant is the answer the maps text gives for addr, from entries
// already parsed.
func liveWant(entries []procfs.Entry, addr uint64) liveAnswer {
	for _, e := range entries {
		if addr >= e.Start && addr < e.End && !e.IsGate() {
			return entryAnswer(e, addr)
		}
	}
	return liveAnswer{}
}

// entryAnswer is the answer of a maps line that covers addr.
func entryAnswer(e procfs.Entry, addr uint64) liveAnswer {
	if !e.FileBacked() {
		return liveAnswer{kind: liveNoFile}
	}
	return liveAnswer{kind: liveFile, path: e.Path(), dev: e.Dev, ino: e.Inode, off: e.Offset + (addr - e.Start)}
}

// modelLookup resolves addr in the loaded model: mm.Resolve with the
// merged lockless strategy, and for a miss a locked lookup to tell an
// anonymous VMA from a hole.
func modelLookup(as *mm.AddressSpace, addr uint64) liveAnswer {
	a, ok, _ := mm.Resolve(as, addr, mm.MMSeq, func(m mm.Mapping) (liveAnswer, bool) {
		if m.File == nil || m.Inode == nil {
			return liveAnswer{}, false
		}
		id := m.Inode.ID()
		return liveAnswer{kind: liveFile, path: m.File.Path(), dev: id.Dev, ino: id.Ino, off: m.Offset}, true
	})
	if ok {
		return a
	}
	if _, mapped := as.Lookup(addr); mapped {
		return liveAnswer{kind: liveNoFile}
	}
	return liveAnswer{}
}

// mapsTextReader answers from the maps text, reading all of it for every
// lookup into a buffer it keeps.
type mapsTextReader struct {
	path string
	buf  []byte
}

func (r *mapsTextReader) read() error {
	f, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, 0)[:len(r.buf)]
		}
		n, err := f.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+n]
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *mapsTextReader) lookup(addr uint64) (liveAnswer, error) {
	if err := r.read(); err != nil {
		return liveAnswer{}, err
	}
	return scanMaps(r.buf, addr)
}

// scanMaps finds the line of text covering addr: each line's range is
// read in place, and only the line found is parsed whole.
func scanMaps(text []byte, addr uint64) (liveAnswer, error) {
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		start, end, ok := lineRange(line)
		if !ok {
			return liveAnswer{}, fmt.Errorf("maps: bad line %q", line)
		}
		if addr < start || addr >= end {
			continue
		}
		e, err := procfs.ParseLine(string(line))
		if err != nil {
			return liveAnswer{}, err
		}
		if e.IsGate() {
			break
		}
		return entryAnswer(e, addr), nil
	}
	return liveAnswer{}, nil
}

// lineRange reads the "start-end " prefix of a maps line.
func lineRange(line []byte) (start, end uint64, ok bool) {
	start, line, ok = hexPrefix(line, '-')
	if !ok {
		return 0, 0, false
	}
	end, _, ok = hexPrefix(line, ' ')
	return start, end, ok
}

func hexPrefix(b []byte, stop byte) (v uint64, rest []byte, ok bool) {
	for i, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c == stop && i > 0 && i <= 16:
			return v, b[i+1:], true
		default:
			return 0, nil, false
		}
		v = v<<4 | uint64(d)
	}
	return 0, nil, false
}

// liveMeasure times lookup over the batch, repeating it whole until the
// budget is spent (see LiveOptions), after one untimed warm-up pass. out
// holds the answers of the last pass.
func liveMeasure(addrs []uint64, out []liveAnswer, lookup func(uint64) (liveAnswer, error),
	d time.Duration, maxLookups int) (n int, elapsed time.Duration, err error) {
	for i, a := range addrs {
		if out[i], err = lookup(a); err != nil {
			return 0, 0, err
		}
	}
	t0 := time.Now()
	for {
		for i, a := range addrs {
			if out[i], err = lookup(a); err != nil {
				return 0, 0, err
			}
		}
		n += len(addrs)
		elapsed = time.Since(t0)
		if (maxLookups > 0 && n >= maxLookups) || (d > 0 && elapsed >= d) {
			return n, elapsed, nil
		}
	}
}

// liveCompare sets each available method's Agree and returns the
// addresses where the answers differ, one line each, at most max.
func liveCompare(addrs []uint64, methods []LiveMethod, answers [][]liveAnswer, max int) []string {
	var bad []string
	agree := make([]bool, len(methods))
	for i := range methods {
		agree[i] = methods[i].Available
	}
	for k, addr := range addrs {
		ref := -1
		same := true
		for i := range methods {
			if !methods[i].Available {
				continue
			}
			if ref < 0 {
				ref = i
			} else if answers[i][k] != answers[ref][k] {
				same = false
			}
		}
		if same {
			continue
		}
		// A method disagrees here if some other method answers otherwise.
		parts := make([]string, 0, len(methods))
		for i := range methods {
			if !methods[i].Available {
				continue
			}
			for j := range methods {
				if j != i && methods[j].Available && answers[j][k] != answers[i][k] {
					agree[i] = false
					break
				}
			}
			parts = append(parts, methods[i].Name+"="+answers[i][k].String())
		}
		if len(bad) < max {
			bad = append(bad, fmt.Sprintf("%#x: %s", addr, strings.Join(parts, ", ")))
		}
	}
	for i := range methods {
		methods[i].Agree = agree[i]
	}
	return bad
}

// nsPer is the cost of one lookup.
func nsPer(elapsed time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(elapsed.Nanoseconds()) / float64(n)
}
