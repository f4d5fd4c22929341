package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// layers is the package diagram of main.go's doc comment and the README:
// a package may import only packages of a lower layer.
var layers = map[string]int{
	"errno": 0, "internal/rcu": 0, "internal/slab": 0, "internal/mmhook": 0, "internal/testsupport": 0, "internal/safety": 0, "internal/cbuild": 0,
	"vfs":     1,
	"mm":      2,
	"uprobes": 3, "procfs": 3,
	"bench": 4, "scenario": 4, "litmus": 4, "procfs/mapsrace": 4,
	"cmd/specvma": 5, "difftest/kerneltest": 5, "difftest/uprobetest": 5,
}

// TestImportLayers parses every Go file of the module and checks that each
// import of a specvma package points to a lower layer. Tests may also
// import internal/testsupport and, as external test packages, their own
// package; the command's tests may import the differential harnesses,
// which stand beside it.
func TestImportLayers(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		from, ok := layers[pkg]
		if !ok {
			t.Errorf("%s: package %s is in no layer: add it to the diagram (main.go, README, this test)", path, pkg)
			return nil
		}
		seen[pkg] = true
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		test := strings.HasSuffix(path, "_test.go")
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			dep, ok := strings.CutPrefix(p, "specvma/")
			if !ok {
				continue
			}
			to, known := layers[dep]
			switch {
			case !known:
				t.Errorf("%s imports %s, which is in no layer", path, p)
			case to < from:
			case test && dep == pkg: // an external test package (package x_test)
			case test && dep == "internal/testsupport":
			case test && pkg == "cmd/specvma" && strings.HasPrefix(dep, "difftest/"):
			default:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", path, from, p, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range layers {
		if !seen[pkg] {
			t.Errorf("layer list names %s, which has no Go files", pkg)
		}
	}
}
