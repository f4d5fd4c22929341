package scenario

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"specvma/mm"
)

// mapsLine matches a /proc/PID/maps line: range, perms, offset, dev, inode
// and the optional path.
var mapsLine = regexp.MustCompile(`^([0-9a-f]+-[0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) ([0-9]+) ?(.*)$`)

// normalizeMaps replaces the device and inode of every file-backed maps
// line (those vary with the machine, and shmem inode numbers with the run)
// by DEV and INO, padding the path to column 73 as the kernel does.
func normalizeMaps(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		m := mapsLine.FindStringSubmatch(l)
		if m == nil || m[5] == "0" {
			continue
		}
		h := m[1] + " " + m[2] + " " + m[3] + " DEV INO "
		if len(h) < 72 {
			h += strings.Repeat(" ", 72-len(h))
		}
		lines[i] = h + " " + strings.TrimLeft(m[6], " ")
	}
	return strings.Join(lines, "\n")
}

func TestNormalizeMaps(t *testing.T) {
	in := "= 0\n" +
		"200000000000-200000001000 rw-p 00000000 00:00 0 \n" +
		"200000050000-200000051000 r--p 00001000 fe:00 737                        /etc/passwd\n" +
		"200000006000-200000007000 rw-s 00000000 00:01 1026                       /dev/zero (deleted)\n"
	want := "= 0\n" +
		"200000000000-200000001000 rw-p 00000000 00:00 0 \n" +
		"200000050000-200000051000 r--p 00001000 DEV INO                          /etc/passwd\n" +
		"200000006000-200000007000 rw-s 00000000 DEV INO                          /dev/zero (deleted)\n"
	if got := normalizeMaps(in); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestExamples runs every examples/*.vma through the model and compares
// the output with examples/NAME.out. The .out files were recorded on
// Linux 6.18 (x86-64, 4-level paging) except where a script says otherwise:
// that kernel lacks CONFIG_ANON_VMA_NAME, so the anon_name results are
// written from Linux's source, and processes.out (several address spaces)
// is written by hand.
func TestExamples(t *testing.T) {
	scripts, err := filepath.Glob("../examples/*.vma")
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 5 {
		t.Fatalf("only %d examples", len(scripts))
	}
	readme, err := os.ReadFile("../examples/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".vma")
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(readme), filepath.Base(path)) {
				t.Errorf("examples/README.md does not list %s", filepath.Base(path))
			}
			want, err := os.ReadFile(strings.TrimSuffix(path, ".vma") + ".out")
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var out strings.Builder
			if err := Run(filepath.Base(path), f, NewModel(mm.Config{}), &out); err != nil {
				t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
			}
			if got := normalizeMaps(out.String()); got != string(want) {
				t.Errorf("output differs from %s.out\n%s", name, lineDiff(got, string(want)))
			}
		})
	}
}

// lineDiff shows the first lines where got and want differ, with context.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	n := max(len(g), len(w))
	shown := 0
	for i := 0; i < n && shown < 12; i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl + "\n")
			shown++
		}
	}
	return b.String()
}
