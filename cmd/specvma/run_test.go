package main

import (
	"os"
	"path/filepath"
	"specvma/procfs"
	"strings"
	"testing"
)

func writeScript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.vma")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = dispatch(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunCommand(t *testing.T) {
	p := writeScript(t, `# two pages, then split them
mmap 0x200000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE
mprotect 0x200000001000 0x1000 r--
munmap 0x200000000001 0x1000
maps
`)
	code, out, errs := runCmd("run", p)
	want := "= 0x200000000000\n= 0\n= -EINVAL\n" +
		"200000000000-200000001000 rw-p 00000000 00:00 0 \n" +
		"200000001000-200000002000 r--p 00000000 00:00 0 \n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", code, out, errs, want)
	}
}

func TestRunCommandBadScript(t *testing.T) {
	p := writeScript(t, "mmap 0x200000000000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS\nmaps\n\nmunmap 0x200000000000 lots\nmaps\n")
	code, out, errs := runCmd("run", p)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if out != "" {
		t.Errorf("printed before the error: %q", out)
	}
	if want := p + `:4: munmap: LEN: invalid number "lots"` + "\n"; errs != want {
		t.Errorf("stderr %q, want %q", errs, want)
	}

	p = writeScript(t, "maps\nfrobnicate\n")
	if code, out, errs := runCmd("run", p); code != 2 || out != "" || errs != p+":2: unknown command \"frobnicate\"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestRunCommandProbe(t *testing.T) {
	// The model has the uprobe layer: probe commands run.
	p := writeScript(t, "maps\nprobe p:g/e /bin/true:0x0\nbreakpoints\n")
	code, out, errs := runCmd("run", p)
	if code != 0 || out != "= 0\n" || errs != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestRunCommandStdin(t *testing.T) {
	old := runStdin
	defer func() { runStdin = old }()
	runStdin = strings.NewReader("munmap 0x200000000000 0x1000\nmunmap 0x200000000000 0\n")
	code, out, errs := runCmd("run", "-")
	if code != 0 || out != "= 0\n= -EINVAL\n" || errs != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	runStdin = strings.NewReader("maps\nmaps please\n")
	code, out, errs = runCmd("run", "-")
	if code != 2 || out != "" || errs != "<stdin>:2: maps: unknown maps reader \"please\": want locked, snapshot or vmalock\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestRunCommandUsage(t *testing.T) {
	if code, _, errs := runCmd("run"); code != 2 || !strings.Contains(errs, "usage: specvma run") {
		t.Errorf("no file: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCmd("run", "a.vma", "b.vma"); code != 2 || !strings.Contains(errs, "usage: specvma run") {
		t.Errorf("two files: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCmd("run", "-h"); code != 0 || !strings.Contains(errs, "usage: specvma run") {
		t.Errorf("-h: exit %d, stderr %q", code, errs)
	}
	missing := filepath.Join(t.TempDir(), "missing.vma")
	if code, out, errs := runCmd("run", missing); code != 1 || out != "" || !strings.Contains(errs, "missing.vma") {
		t.Errorf("missing file: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ := runCmd("help"); code != 0 || !strings.Contains(out, "run ") {
		t.Errorf("help does not list run: %q", out)
	}
}

func TestRunCommandNoAnonNames(t *testing.T) {
	p := writeScript(t, "mmap 0x200000000000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS\nanon_name 0x200000000000 0x1000 x\n")
	if code, out, _ := runCmd("run", "-host=false", p); code != 0 || out != "= 0x200000000000\n= 0\n" {
		t.Errorf("-host=false: exit %d, stdout %q", code, out)
	}
	if code, out, _ := runCmd("run", "-host=false", "-no-anon-names", p); code != 0 || out != "= 0x200000000000\n= -EINVAL\n" {
		t.Errorf("-no-anon-names: exit %d, stdout %q", code, out)
	}
	if code, out, _ := runCmd("run", "-host=false", "-set", "anon_names=0", p); code != 0 || out != "= 0x200000000000\n= -EINVAL\n" {
		t.Errorf("-set anon_names=0: exit %d, stdout %q", code, out)
	}
	// By default the model is configured as the running kernel is.
	cfg, _ := procfs.HostConfig()
	want := "= 0x200000000000\n= 0\n"
	if cfg.NoAnonNames {
		want = "= 0x200000000000\n= -EINVAL\n"
	}
	if code, out, _ := runCmd("run", p); code != 0 || out != want {
		t.Errorf("default (host): exit %d, stdout %q, want %q", code, out, want)
	}
	if code, _, errs := runCmd("run", "-set", "no_such_key=1", p); code != 2 || !strings.Contains(errs, "unknown key") {
		t.Errorf("-set no_such_key: exit %d, stderr %q", code, errs)
	}
}

// TestRunConfigCommand: the script's config command configures the
// address spaces created after it, and refuses once one is in use.
func TestRunConfigCommand(t *testing.T) {
	p := writeScript(t, "config privileged 1\nconfig mmap_min_addr 0x10000\nmmap 0x1000 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED\n")
	if code, out, _ := runCmd("run", "-host=false", p); code != 0 || out != "= 0\n= 0\n= 0x1000\n" {
		t.Errorf("privileged: exit %d, stdout %q", code, out)
	}
	p = writeScript(t, "config privileged 0\nmmap 0x1000 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED\nconfig privileged 1\n")
	if code, out, errs := runCmd("run", "-host=false", p); code != 2 || out != "= 0\n= -EPERM\n" || !strings.Contains(errs, ":3: config") {
		t.Errorf("config after a call: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestRunEcho(t *testing.T) {
	p := writeScript(t, `mmap 0x200000000000 8192 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE # two pages
mprotect 0x200000001000 0x1000 r--
process other
maps
process main
maps
`)
	code, out, errs := runCmd("run", "-echo", p)
	want := "mmap 0x200000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE = 0x200000000000\n" +
		"mprotect 0x200000001000 0x1000 r-- = 0\n" +
		"process other\n" +
		"maps\n" +
		"process main\n" +
		"maps\n" +
		"200000000000-200000001000 rw-p 00000000 00:00 0 \n" +
		"200000001000-200000002000 r--p 00000000 00:00 0 \n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", code, out, errs, want)
	}
}
