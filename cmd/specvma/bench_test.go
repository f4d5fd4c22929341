package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "out.json")
	var out, errb bytes.Buffer
	code := dispatch([]string{"bench", "-workload", "uprobe-nop", "-strategy", "mmseq,unsync", "-churn", "none",
		"-tasks", "1", "-vmas", "16", "-duration", "5ms", "-count", "1", "-json", js, "-plot", filepath.Join(dir, "p")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"mmseq", "unsync", "Targets", "charts:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(js); err != nil {
		t.Error(err)
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-tasks", "0"},
		{"bench", "-tasks", "x"},
		{"bench", "-strategy", "nope"},
		{"bench", "-vmas", "1"},
		{"bench", "-count", "0"},
	} {
		var out, errb bytes.Buffer
		if code := dispatch(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch([]string{"bench", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "uretprobe-nop") {
		t.Errorf("bench -h: exit %d, %q", code, errb.String())
	}
}
