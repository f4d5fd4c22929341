//go:build linux

package bench

import (
	"bufio"
	"flag"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"specvma/procfs"
)

// -loadexec.vmas sets how many VMAs the child of BenchmarkLoadExecOnly
// maps. Above vm.max_map_count (65530 by default) the child fails: raise
// it first (sysctl vm.max_map_count=262144). The documented run:
//
//	sysctl vm.max_map_count=262144
//	go test ./bench -run '^$' -bench LoadExecOnly -loadexec.vmas 120000
var loadExecVMAs = flag.Int("loadexec.vmas", 20000, "VMAs in BenchmarkLoadExecOnly's child")

// BenchmarkLoadExecOnly loads only the executable file-backed mappings of a
// live process with many VMAs (a C child: its anonymous VMAs, and its
// program, libc and ld.so) as entries (procfs.LiveEntries, what a profiler
// wants): by parsing /proc/PID/maps text, and by walking it with
// PROCMAP_QUERY, which skips everything else in the kernel. Both must give
// the same entries.
func BenchmarkLoadExecOnly(b *testing.B) {
	bin, err := buildMonitorChild(b.TempDir())
	if err != nil {
		b.Skip(err)
	}
	cmd := exec.Command(bin, "1", "1", strconv.Itoa(*loadExecVMAs))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		b.Fatalf("child did not map %d VMAs (vm.max_map_count?): %q %v", *loadExecVMAs, l, err)
	}
	pid := cmd.Process.Pid
	var want []procfs.Entry
	for _, mode := range []struct {
		name  string
		query bool
	}{{"text", false}, {"query", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				got, st, err := procfs.LiveEntries(pid, procfs.LoadOptions{Query: mode.query, ExecOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				if want == nil {
					want = got
				} else if !slices.Equal(got, want) {
					b.Fatalf("%s loaded\n%v\nwant\n%v", mode.name, got, want)
				}
				b.ReportMetric(float64(st.Entries), "mappings")
			}
		})
	}
}
