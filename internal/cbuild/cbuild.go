// Package cbuild compiles the small C programs that specvma starts as live
// processes (the uprobe target of the differential tests, the bench's
// monitor child): C so that no language runtime of their own shows in
// their address spaces or timings.
package cbuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNoCompiler is returned when gcc is not on PATH.
var ErrNoCompiler = errors.New("no gcc to build the C program")

// Build writes source to dir/name.c, compiles it with gcc and the given
// flags into dir/name, and returns the executable's path. A compiler
// failure returns gcc's output in the error.
func Build(dir, name, source string, flags ...string) (string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", ErrNoCompiler
	}
	src, bin := filepath.Join(dir, name+".c"), filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		return "", err
	}
	args := append(append([]string{}, flags...), "-o", bin, src)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc: %v\n%s", err, out)
	}
	return bin, nil
}
