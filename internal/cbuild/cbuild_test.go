package cbuild

import (
	"os/exec"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	dir := t.TempDir()
	bin, err := Build(dir, "hello", "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n", "-O1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("ran %s: %q, %v", bin, out, err)
	}
	if _, err := Build(dir, "bad", "int main(void) { return x; }\n"); err == nil || !strings.Contains(err.Error(), "gcc:") {
		t.Fatalf("a compile error gave %v, want gcc's output", err)
	}
}
