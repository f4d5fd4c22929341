package kerneltest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"specvma/scenario"
)

// fixture holds the files the sequences map, created fresh for a test run,
// and the placeholders that name them in scripts.
type fixture struct {
	vars [][2]string // placeholder, value; longest placeholder first

	// Huge pages, set up on first use (useHuge) for the whole test.
	t        *testing.T
	hugeDone bool
	hugeFile string // the hugetlbfs file ($HUGE); "" when unavailable
	hugeWhy  string // why huge pages are unavailable
}

// newFixture creates the temporary files:
//
//	$FILE1, $FILE2  64 KiB files (sixteen pages)
//	$SMALL          a 100-byte file (its second page is beyond EOF)
//	$EXE            the test binary, which cannot be opened for writing
//	                while it runs (ETXTBSY), so it opens read-only
//	$LINK           a symbolic link to $FILE1
//	$SUBLINK        a symbolic link to the directory $DIR/sub/inner (so
//	                $SUBLINK/.. is $DIR/sub, which holds a file1 of its own)
//	$FIFO           a named pipe
//	$BIG            an 8 MiB sparse file (room for whole 2 MiB-aligned
//	                stretches: THP placement)
//	$DIR            the temporary directory itself
//	$HUGE           an empty file on hugetlbfs, mounted for the test on
//	                first use (useHuge), emptied before every run
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	mk := func(name string, size int) string {
		p := filepath.Join(dir, name)
		data := bytes.Repeat([]byte{0xa5}, size)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	file1 := mk("file1", 64<<10)
	if err := os.MkdirAll(filepath.Join(dir, "sub", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	mk(filepath.Join("sub", "file1"), 8<<10)
	link, sublink, fifo := filepath.Join(dir, "link"), filepath.Join(dir, "sublink"), filepath.Join(dir, "fifo")
	big := filepath.Join(dir, "big")
	for _, err := range []error{
		os.WriteFile(big, nil, 0o644),
		os.Truncate(big, 8<<20),
		os.Symlink(file1, link),
		os.Symlink(filepath.Join(dir, "sub", "inner"), sublink),
		mkfifo(fifo),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{t: t, vars: [][2]string{
		{"$SUBLINK", sublink},
		{"$LINK", link},
		{"$FIFO", fifo},
		{"$BIG", big},
		{"$FILE1", file1},
		{"$FILE2", mk("file2", 64<<10)},
		{"$SMALL", mk("small", 100)},
		{"$EXE", exe},
		{"$DIR", dir},
	}}
}

// usesHuge reports whether a script maps huge pages.
func usesHuge(script string) bool {
	return strings.Contains(script, "$HUGE") || strings.Contains(script, "MAP_HUGETLB")
}

// useHuge sets huge pages up for the rest of the test (setupHuge: the
// machine's pool topped up, hugetlbfs mounted, $HUGE defined) and reports
// whether they are available, and if not why.
func (f *fixture) useHuge() (bool, string) {
	if !f.hugeDone {
		f.hugeDone = true
		f.hugeFile, f.hugeWhy = setupHuge(f.t)
		if f.hugeFile != "" {
			f.vars = append([][2]string{{"$HUGE", f.hugeFile}}, f.vars...)
		}
	}
	return f.hugeFile != "", f.hugeWhy
}

// resetHuge empties $HUGE and tops the pool up again, so that a kernel
// run and a model run of one script start from the same huge page state;
// it returns the free unreserved huge pages the model is to start with.
func (f *fixture) resetHuge(t *testing.T) uint64 {
	t.Helper()
	if f.hugeFile == "" {
		return 0
	}
	resetHugeFile(t, f.hugeFile)
	return hugeAvailable()
}

// expand substitutes the placeholders in a script.
func (f *fixture) expand(s string) string {
	for _, v := range f.vars {
		s = strings.ReplaceAll(s, v[0], v[1])
	}
	return s
}

// unexpand puts the placeholders back into output (for golden files):
// longer values first, so $DIR does not eat the files inside it.
func (f *fixture) unexpand(s string) string {
	for _, v := range f.vars {
		s = strings.ReplaceAll(s, v[1], v[0])
	}
	return s
}

// sequence is one differential test: a script with placeholders.
type sequence struct {
	name string
	text string
}

// loadSequences reads testdata/*.vma and appends the generated sequences.
func loadSequences(t *testing.T) []sequence {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.vma"))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []sequence
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, sequence{strings.TrimSuffix(filepath.Base(f), ".vma"), string(b)})
	}
	return append(seqs, generatedSequences()...)
}

// The generated sequences: every kind of mapping split at each boundary by
// mprotect (and put back) and by munmap, and merged left, right and on both
// sides.
var mappingKinds = []struct {
	name, flags string
	file        bool
}{
	{"anon_private", "MAP_PRIVATE|MAP_ANONYMOUS", false},
	{"anon_shared", "MAP_SHARED|MAP_ANONYMOUS", false},
	{"file_private", "MAP_PRIVATE", true},
	{"file_shared", "MAP_SHARED", true},
}

var genBase = DefaultWindow.Base

func generatedSequences() []sequence {
	var seqs []sequence
	for _, k := range mappingKinds {
		// mmap at page pg (of the window) for n pages; file offsets follow
		// the address, so neighbours are contiguous in the file too.
		mmap := func(b *strings.Builder, pg, n int, prot string) {
			fmt.Fprintf(b, "mmap %#x %#x %s %s", genBase+uint64(pg)<<12, n<<12, prot, k.flags)
			if k.file {
				fmt.Fprintf(b, " f %#x", (pg%16)<<12)
			}
			b.WriteByte('\n')
		}
		header := func(b *strings.Builder, what string) {
			fmt.Fprintf(b, "# Generated: %s %s.\n", strings.ReplaceAll(k.name, "_", " "), what)
			if k.file {
				b.WriteString("open f $FILE1\n")
			}
		}

		var b strings.Builder
		header(&b, "memory split by mprotect at the start, in the middle and at the end, each put back")
		mmap(&b, 0, 8, "rw-")
		fmt.Fprintf(&b, "touch %#x write\n", genBase+0x1000)
		for _, r := range [][2]int{{0, 1}, {3, 2}, {7, 1}, {0, 8}} {
			fmt.Fprintf(&b, "mprotect %#x %#x r--\nmaps\n", genBase+uint64(r[0])<<12, r[1]<<12)
			fmt.Fprintf(&b, "mprotect %#x %#x rw-\nmaps\n", genBase+uint64(r[0])<<12, r[1]<<12)
		}
		seqs = append(seqs, sequence{"gen_" + k.name + "_mprotect_split", b.String()})

		b.Reset()
		header(&b, "memory split by munmap in the middle, at the start and at the end")
		mmap(&b, 0, 8, "rw-")
		fmt.Fprintf(&b, "touch %#x write\n", genBase+0x6000)
		for _, r := range [][2]int{{3, 2}, {0, 1}, {7, 1}, {1, 1}, {6, 1}} {
			fmt.Fprintf(&b, "munmap %#x %#x\nmaps\n", genBase+uint64(r[0])<<12, r[1]<<12)
		}
		seqs = append(seqs, sequence{"gen_" + k.name + "_munmap_split", b.String()})

		b.Reset()
		header(&b, "memory merged with the VMA before, the VMA after, and both")
		mmap(&b, 0, 2, "rw-")
		mmap(&b, 2, 2, "rw-")
		b.WriteString("maps\n")
		mmap(&b, 0x12, 2, "rw-")
		mmap(&b, 0x10, 2, "rw-")
		b.WriteString("maps\n")
		mmap(&b, 0x20, 2, "r--")
		mmap(&b, 0x24, 2, "r--")
		mmap(&b, 0x22, 2, "r--")
		b.WriteString("maps\n")
		mmap(&b, 0x30, 1, "rw-")
		mmap(&b, 0x32, 1, "rw-")
		mmap(&b, 0x31, 1, "r--")
		fmt.Fprintf(&b, "mprotect %#x 0x1000 rw-\nmaps\n", genBase+0x31000)
		seqs = append(seqs, sequence{"gen_" + k.name + "_merge", b.String()})
	}
	return seqs
}

// transcript pairs a script's commands with their output lines (as
// scenario.Run prints them: one line per command, any number for maps,
// none for process), for reading. Commands after a stopped run get none.
type step struct {
	cmd string
	out []string
}

func transcript(name, script, out string) []step {
	s, err := scenario.ParseString(name, script)
	if err != nil {
		return []step{{cmd: "(script does not parse: " + err.Error() + ")", out: lines(out)}}
	}
	src := strings.Split(script, "\n")
	ls := lines(out)
	var steps []step
	for _, c := range s.Commands {
		st := step{cmd: strings.TrimSpace(stripComment(src[c.Line-1]))}
		switch {
		case c.Op == scenario.OpProcess && !c.Fork: // prints nothing
		case c.Op == scenario.OpMaps || c.Op == scenario.OpBreakpoints:
			for len(ls) > 0 && !strings.HasPrefix(ls[0], "= ") && !strings.HasPrefix(ls[0], "error: ") {
				st.out, ls = append(st.out, ls[0]), ls[1:]
			}
		default:
			if len(ls) > 0 && !strings.HasPrefix(ls[0], "error: ") {
				st.out, ls = append(st.out, ls[0]), ls[1:]
			}
		}
		steps = append(steps, st)
	}
	if len(ls) > 0 {
		steps = append(steps, step{cmd: "(after the script)", out: ls})
	}
	return steps
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// formatTranscript renders a transcript as a golden file: each command,
// then its output indented.
func formatTranscript(steps []step) string {
	var b strings.Builder
	for _, st := range steps {
		b.WriteString(st.cmd)
		b.WriteByte('\n')
		for _, l := range st.out {
			b.WriteString("    ")
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// sideBySide renders a script's kernel and model outputs next to each
// other, a "!" marking each command whose output differs.
func sideBySide(ks, ms []step) string {
	width := func(steps []step) int {
		w := len("kernel")
		for _, st := range steps {
			for _, l := range st.out {
				w = max(w, len(l))
			}
		}
		return w
	}
	kw := width(ks)
	var b strings.Builder
	fmt.Fprintf(&b, "  %-*s | %s\n", kw, "kernel", "model")
	for i := range max(len(ks), len(ms)) {
		var k, m step
		if i < len(ks) {
			k = ks[i]
		}
		if i < len(ms) {
			m = ms[i]
		}
		cmd := k.cmd
		if cmd == "" {
			cmd = m.cmd
		}
		mark := " "
		if strings.Join(k.out, "\n") != strings.Join(m.out, "\n") || k.cmd != m.cmd {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, cmd)
		for j := range max(len(k.out), len(m.out)) {
			var kl, ml string
			if j < len(k.out) {
				kl = k.out[j]
			}
			if j < len(m.out) {
				ml = m.out[j]
			}
			lm := " "
			if kl != ml {
				lm = "!"
			}
			fmt.Fprintf(&b, "%s   %-*s | %s\n", lm, kw, kl, ml)
		}
	}
	return b.String()
}
