package scenario

import (
	"fmt"
	"slices"
	"strings"

	"specvma/mm"
)

// Configurer is implemented by a Backend whose address spaces can be
// configured by the script's config command (privilege and kernel
// options: see ConfigKeys). The model applies the setting to the address
// spaces it creates afterwards; the kernel backend can only confirm that
// the running kernel is configured so.
type Configurer interface {
	Configure(key string, value uint64) error
}

// configKey is one setting of the config command: how it reads and sets
// an mm.Config.
type configKey struct {
	get func(*mm.Config) uint64
	set func(*mm.Config, uint64)
	max uint64 // largest value allowed
}

func boolOf(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

var configKeys = map[string]configKey{
	// CAP_SYS_RAWIO: may map below mmap_min_addr.
	"privileged": {func(c *mm.Config) uint64 { return boolOf(c.Privileged) },
		func(c *mm.Config, v uint64) { c.Privileged = v != 0 }, 1},
	// CONFIG_ANON_VMA_NAME.
	"anon_names": {func(c *mm.Config) uint64 { return boolOf(!c.NoAnonNames) },
		func(c *mm.Config, v uint64) { c.NoAnonNames = v == 0 }, 1},
	// CAP_IPC_LOCK: mlock ignores memlock_rlimit.
	"ipc_lock": {func(c *mm.Config) uint64 { return boolOf(c.IPCLock) },
		func(c *mm.Config, v uint64) { c.IPCLock = v != 0 }, 1},
	"memlock_rlimit": {func(c *mm.Config) uint64 { return c.MemlockRlimit },
		func(c *mm.Config, v uint64) { c.MemlockRlimit, c.NoMemlock = v, v == 0 }, ^uint64(0)},
	// CONFIG_KSM: MADV_MERGEABLE and MADV_UNMERGEABLE.
	"ksm": {func(c *mm.Config) uint64 { return boolOf(!c.NoKSM) },
		func(c *mm.Config, v uint64) { c.NoKSM = v == 0 }, 1},
	"mmap_min_addr": {func(c *mm.Config) uint64 { return c.MmapMinAddr },
		func(c *mm.Config, v uint64) { c.MmapMinAddr, c.NoMmapMinAddr = v, v == 0 }, mm.TaskSize},
	"lsm_mmap_min_addr": {func(c *mm.Config) uint64 { return c.LSMMmapMinAddr },
		func(c *mm.Config, v uint64) { c.LSMMmapMinAddr = v }, mm.TaskSize},
	"max_map_count": {func(c *mm.Config) uint64 { return uint64(c.MaxMapCount) },
		func(c *mm.Config, v uint64) { c.MaxMapCount = int(v) }, 1 << 31},
	"overcommit_memory": {func(c *mm.Config) uint64 { return uint64(c.Overcommit) },
		func(c *mm.Config, v uint64) { c.Overcommit = int(v) }, 2},
	"total_ram": {func(c *mm.Config) uint64 { return c.TotalRAM },
		func(c *mm.Config, v uint64) { c.TotalRAM = v }, ^uint64(0)},
	"total_swap": {func(c *mm.Config) uint64 { return c.TotalSwap },
		func(c *mm.Config, v uint64) { c.TotalSwap = v }, ^uint64(0)},
	"commit_limit": {func(c *mm.Config) uint64 { return c.CommitLimit },
		func(c *mm.Config, v uint64) { c.CommitLimit = v }, ^uint64(0)},
	// RLIMIT_DATA: how much private writable memory (and heap) may be mapped.
	"data_rlimit": {func(c *mm.Config) uint64 { return c.DataRlimit },
		func(c *mm.Config, v uint64) { c.DataRlimit = v }, ^uint64(0)},
	// RLIMIT_AS: how much address space all mappings together may span.
	"as_rlimit": {func(c *mm.Config) uint64 { return c.ASRlimit },
		func(c *mm.Config, v uint64) { c.ASRlimit = v }, ^uint64(0)},
	// Free huge pages nobody reserved: HugePages_Free - HugePages_Rsvd.
	"hugepages": {func(c *mm.Config) uint64 { return c.HugePages },
		func(c *mm.Config, v uint64) { c.HugePages = v }, 1 << 40},
	// Committed_AS: what the rest of the machine has committed (mode 2).
	"committed_as": {func(c *mm.Config) uint64 { return c.CommittedAS },
		func(c *mm.Config, v uint64) { c.CommittedAS = v }, ^uint64(0)},
	"stack_rlimit": {func(c *mm.Config) uint64 { return c.StackRlimit },
		func(c *mm.Config, v uint64) { c.StackRlimit = v }, ^uint64(0)},
}

// ConfigKeys returns the keys the config command accepts, sorted.
func ConfigKeys() []string {
	keys := make([]string, 0, len(configKeys))
	for k := range configKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ConfigValue returns the value of key in cfg; ok is false for an
// unknown key.
func ConfigValue(cfg mm.Config, key string) (v uint64, ok bool) {
	k, ok := configKeys[key]
	if !ok {
		return 0, false
	}
	return k.get(&cfg), true
}

// SetConfig sets key to value in cfg, or says why it cannot.
func SetConfig(cfg *mm.Config, key string, value uint64) error {
	k, ok := configKeys[key]
	if !ok {
		return fmt.Errorf("unknown key %q (want one of %s)", key, strings.Join(ConfigKeys(), ", "))
	}
	if value > k.max {
		return fmt.Errorf("%s: %#x is out of range (at most %#x)", key, value, k.max)
	}
	k.set(cfg, value)
	return nil
}
