package safety

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var tagRE = regexp.MustCompile(`//.*\bsafety:([a-z0-9-]+)`)

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// sourceTags maps each tag found in the module's non-test Go files to the
// files that carry it.
func sourceTags(t *testing.T, root string) map[string][]string {
	t.Helper()
	tags := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || path == filepath.Join(root, "internal", "safety")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range tagRE.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(tags[m[1]], rel) {
				tags[m[1]] = append(tags[m[1]], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

// mutate returns src with step s removed: each edit's Old must occur on
// exactly one of the lines tagged with s.Tag, once.
func mutate(src string, s step) (string, error) {
	lines := strings.Split(src, "\n")
	var tagged []int
	for i, l := range lines {
		if m := tagRE.FindStringSubmatch(l); m != nil && m[1] == s.Tag {
			tagged = append(tagged, i)
		}
	}
	if len(tagged) == 0 {
		return "", fmt.Errorf("no line tagged safety:%s", s.Tag)
	}
	out := slices.Clone(lines)
	for _, e := range s.Edits {
		at := -1
		for _, i := range tagged {
			if n := strings.Count(lines[i], e.Old); n > 1 || n == 1 && at >= 0 {
				return "", fmt.Errorf("%q occurs more than once on the lines tagged safety:%s", e.Old, s.Tag)
			} else if n == 1 {
				at = i
			}
		}
		if at < 0 {
			return "", fmt.Errorf("%q is on no line tagged safety:%s", e.Old, s.Tag)
		}
		if out[at] != lines[at] {
			return "", fmt.Errorf("two edits on one line for safety:%s", s.Tag)
		}
		code, comment, _ := strings.Cut(lines[at], "//")
		if !strings.Contains(code, e.Old) {
			return "", fmt.Errorf("%q is in a comment on the line tagged safety:%s", e.Old, s.Tag)
		}
		out[at] = strings.Replace(code, e.Old, e.New, 1) + "//" + comment
	}
	return strings.Join(out, "\n"), nil
}

// TestTagsMatchTable: every tag in the source has a step here, every step
// applies to its file, and the package doc's table names the step and its
// first test on one line.
func TestTagsMatchTable(t *testing.T) {
	root := moduleRoot(t)
	tags := sourceTags(t, root)
	seen := map[string]bool{}
	for _, s := range steps {
		if seen[s.Tag] {
			t.Errorf("step %s listed twice", s.Tag)
		}
		seen[s.Tag] = true
		files := tags[s.Tag]
		if len(files) != 1 || files[0] != s.File {
			t.Errorf("step %s: tagged in %v, table says %s", s.Tag, files, s.File)
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, s.File))
		if err != nil {
			t.Fatal(err)
		}
		mut, err := mutate(string(src), s)
		if err != nil {
			t.Errorf("step %s: %v", s.Tag, err)
		} else if mut == string(src) {
			t.Errorf("step %s: the edits change nothing", s.Tag)
		}
		doc, err := os.ReadFile(filepath.Join(root, filepath.Dir(s.File), "doc.go"))
		if err != nil {
			t.Fatal(err)
		}
		row := regexp.MustCompile(`(?m)^//\s+` + regexp.QuoteMeta(s.Tag) + `\s.*\b` + s.Tests[0] + `\b`)
		if !row.Match(doc) {
			t.Errorf("step %s: no row in %s/doc.go naming it and %s", s.Tag, filepath.Dir(s.File), s.Tests[0])
		}
	}
	for tag, files := range tags {
		if !seen[tag] {
			t.Errorf("safety:%s (in %v) has no step in the table", tag, files)
		}
	}
}

// goTest runs the named tests of pkg with an optional overlay and returns
// whether they passed and the output's tail.
func goTest(t *testing.T, root, pkg string, tests []string, overlay string) (bool, string) {
	t.Helper()
	args := []string{"test", "-count=1", "-timeout=120s", "-run", "^(" + strings.Join(tests, "|") + ")$"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.Command("go", append(args, "./"+pkg+"/")...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	s := string(out)
	if strings.Contains(s, "[build failed]") || strings.Contains(s, "[setup failed]") {
		t.Fatalf("%s does not build:\n%s", pkg, s)
	}
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return err == nil, s
}

// why picks the first line of a failing test's output that says why.
func why(out string) string {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "panic:") || strings.Contains(l, "_test.go:") {
			if len(l) > 160 {
				l = l[:160] + "..."
			}
			return l
		}
	}
	return "(no message)"
}

// TestMutants removes each step in turn and requires its tests to fail
// (SPECVMA_MUTANTS=1, or a comma-separated list of tags).
func TestMutants(t *testing.T) {
	want := os.Getenv("SPECVMA_MUTANTS")
	if want == "" {
		t.Skip("set SPECVMA_MUTANTS=1 (or tag,tag,...) to run the mutation harness")
	}
	root := moduleRoot(t)
	var run []step
	for _, s := range steps {
		if want == "1" || slices.Contains(strings.Split(want, ","), s.Tag) {
			run = append(run, s)
		}
	}
	// The unmodified code passes every named test.
	byPkg := map[string][]string{}
	for _, s := range run {
		for pkg, tests := range s.testsByPkg() {
			for _, name := range tests {
				if !slices.Contains(byPkg[pkg], name) {
					byPkg[pkg] = append(byPkg[pkg], name)
				}
			}
		}
	}
	for pkg, tests := range byPkg {
		if ok, out := goTest(t, root, pkg, tests, ""); !ok {
			t.Fatalf("unmodified %s fails its step tests:\n%s", pkg, out)
		}
	}
	caught := 0
	for _, s := range run {
		start := time.Now()
		src, err := os.ReadFile(filepath.Join(root, s.File))
		if err != nil {
			t.Fatal(err)
		}
		mut, err := mutate(string(src), s)
		if err != nil {
			t.Errorf("%s: %v", s.Tag, err)
			continue
		}
		dir := t.TempDir()
		copyPath := filepath.Join(dir, filepath.Base(s.File))
		if err := os.WriteFile(copyPath, []byte(mut), 0o644); err != nil {
			t.Fatal(err)
		}
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(root, s.File): copyPath}})
		ovPath := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
			t.Fatal(err)
		}
		// Every package's named tests must fail.
		var whys []string
		for pkg, tests := range s.testsByPkg() {
			ok, out := goTest(t, root, pkg, tests, ovPath)
			if ok {
				t.Errorf("step %s removed: %s %v still pass: the removal is not caught\n%s", s.Tag, pkg, tests, out)
				whys = nil
				break
			}
			whys = append(whys, why(out))
		}
		if whys == nil {
			continue
		}
		caught++
		t.Logf("step %-24s removed: %v fail (%.1fs): %s", s.Tag, s.Tests, time.Since(start).Seconds(), strings.Join(whys, " | "))
	}
	t.Logf("%d of %d removals caught", caught, len(run))
}

// testsByPkg groups s's tests by package directory (see step).
func (s step) testsByPkg() map[string][]string {
	m := map[string][]string{}
	for _, name := range s.Tests {
		pkg := filepath.Dir(s.File)
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			pkg, name = name[:i], name[i+1:]
		}
		m[pkg] = append(m[pkg], name)
	}
	return m
}
