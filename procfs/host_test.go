package procfs

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestHostConfigReadsProc checks HostConfig against the same files read
// here independently.
func TestHostConfigReadsProc(t *testing.T) {
	cfg, ok := HostConfig()
	if runtime.GOOS != "linux" {
		if ok {
			t.Fatal("HostConfig claims a host configuration off Linux")
		}
		t.Skip("HostConfig reads Linux's /proc")
	}
	if !ok {
		t.Fatal("HostConfig failed on Linux")
	}
	want := func(file string) uint64 {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Skipf("%s: %v", file, err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if m := want("/proc/sys/vm/mmap_min_addr"); cfg.MmapMinAddr != m || cfg.NoMmapMinAddr != (m == 0) {
		t.Errorf("MmapMinAddr %#x (none %v), /proc says %#x", cfg.MmapMinAddr, cfg.NoMmapMinAddr, m)
	}
	if m := want("/proc/sys/vm/overcommit_memory"); uint64(cfg.Overcommit) != m {
		t.Errorf("Overcommit %d, /proc says %d", cfg.Overcommit, m)
	}
	if m := want("/proc/sys/vm/max_map_count"); uint64(cfg.MaxMapCount) != m {
		t.Errorf("MaxMapCount %d, /proc says %d", cfg.MaxMapCount, m)
	}
	if cfg.TotalRAM == 0 || cfg.CommitLimit == 0 {
		t.Errorf("TotalRAM %d, CommitLimit %d: meminfo not read", cfg.TotalRAM, cfg.CommitLimit)
	}
}
