package procfs

import (
	"bufio"
	"compress/gzip"
	"os"
	"strconv"
	"strings"

	"specvma/mm"
)

// HostConfig returns the configuration under which the model behaves as
// the running kernel does for this process: vm.mmap_min_addr,
// vm.max_map_count and vm.overcommit_memory from /proc/sys/vm,
// CONFIG_LSM_MMAP_MIN_ADDR from /proc/config.gz, memory,
// swap and the commit limit from /proc/meminfo, CAP_SYS_RAWIO and
// CAP_IPC_LOCK from the process's effective capabilities, RLIMIT_STACK
// and RLIMIT_MEMLOCK, RLIMIT_DATA and RLIMIT_AS (as the room the process's
// own mappings leave under them), KSM (/sys/kernel/mm/ksm), and whether the kernel
// has CONFIG_ANON_VMA_NAME (a trial PR_SET_VMA_ANON_NAME on a page of its
// own), the free unreserved huge pages (HugePages_Free - HugePages_Rsvd)
// and the device of MAP_HUGETLB memory (a trial MAP_NORESERVE mapping,
// which needs no free huge page). What cannot be read keeps the model's default; on systems other
// than Linux that is everything, and ok is false.
func HostConfig() (cfg mm.Config, ok bool) {
	if !hostIsLinux {
		return cfg, false
	}
	if v, ok := readSysctl("vm/mmap_min_addr"); ok {
		if v == 0 {
			cfg.NoMmapMinAddr = true
		}
		cfg.MmapMinAddr = v
	}
	cfg.LSMMmapMinAddr = kernelConfigNumber("CONFIG_LSM_MMAP_MIN_ADDR")
	if v, ok := readSysctl("vm/max_map_count"); ok {
		cfg.MaxMapCount = int(v)
	}
	if v, ok := readSysctl("vm/overcommit_memory"); ok {
		cfg.Overcommit = int(v)
	}
	mi := meminfo()
	cfg.TotalRAM, cfg.TotalSwap, cfg.CommitLimit = mi["MemTotal"], mi["SwapTotal"], mi["CommitLimit"]
	cfg.CommittedAS = mi["Committed_AS"]
	cfg.Privileged = hasCapability(capSysRawIO)
	cfg.IPCLock = hasCapability(capIPCLock)
	if lim, ok := memlockRlimit(); ok {
		cfg.MemlockRlimit, cfg.NoMemlock = lim, lim == 0
	}
	if _, err := os.Stat("/sys/kernel/mm/ksm"); err != nil {
		cfg.NoKSM = true
	}
	cfg.StackRlimit = stackRlimit()
	// RLIMIT_DATA, less what the process's data mappings use already
	// (VmData): the room a model that sees none of them has left.
	status := meminfoOf("/proc/self/status")
	if lim, ok := dataRlimit(); ok {
		cfg.DataRlimit = lim - min(lim-mm.PageSize, status["VmData"])
	}
	// RLIMIT_AS likewise, less what the process spans already (VmSize).
	if lim, ok := asRlimit(); ok {
		cfg.ASRlimit = lim - min(lim-mm.PageSize, status["VmSize"])
	}
	if free, rsvd := hugePages(); free >= rsvd {
		cfg.HugePages = free - rsvd
	}
	cfg.HugeAnonDev = hugeAnonDev()
	cfg.NoAnonNames = !anonNamesSupported()
	return cfg, true
}

// kernelConfigNumber returns a numeric option of the running kernel's
// build configuration (/proc/config.gz, CONFIG_IKCONFIG_PROC), or 0 when
// it is unset or cannot be read.
func kernelConfigNumber(name string) uint64 {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return 0
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+"="); ok {
			n, err := strconv.ParseUint(v, 0, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// Capability bits in the capability sets.
const (
	capIPCLock  = 14 // CAP_IPC_LOCK
	capSysRawIO = 17 // CAP_SYS_RAWIO
)

func readSysctl(name string) (uint64, bool) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// meminfo returns /proc/meminfo's "kB" fields in bytes.
func meminfo() map[string]uint64 { return meminfoOf("/proc/meminfo") }

// meminfoOf returns the "kB" fields of a /proc file (meminfo, status) in
// bytes.
func meminfoOf(path string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if v, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
			out[key] = v << 10
		}
	}
	return out
}

// hugePages returns HugePages_Free and HugePages_Rsvd of /proc/meminfo
// (counts of default-size huge pages, not kB).
func hugePages() (free, rsvd uint64) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		key, rest, _ := strings.Cut(line, ":")
		v, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "HugePages_Free":
			free = v
		case "HugePages_Rsvd":
			rsvd = v
		}
	}
	return free, rsvd
}

// hasCapability reports whether bit cap is in this process's effective set
// (CapEff in /proc/self/status).
func hasCapability(cap uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			set, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && set&(1<<cap) != 0
		}
	}
	return false
}
