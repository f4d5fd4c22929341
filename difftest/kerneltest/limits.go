package kerneltest

// limitKeys are the config keys a Kernel with ApplyLimits makes true of
// its process (resource limits, CAP_IPC_LOCK); a sequence that sets them
// runs its kernel side in a process of its own (needsIsolation), or in the
// agents of Processes (rlimitKeys; as_rlimit and data_rlimit always:
// needsProcesses).
var limitKeys = []string{"memlock_rlimit", "data_rlimit", "as_rlimit", "ipc_lock"}

// rlimitKeys maps the resource-limit keys to the resource and to the
// /proc/PID/status field of what the process uses already, which the
// limit is raised by so that the script's own mappings get the value the
// script gives ("" for none).
var rlimitKeys = map[string]struct {
	res    int
	status string
}{
	"memlock_rlimit": {8, ""},       // RLIMIT_MEMLOCK
	"data_rlimit":    {2, "VmData"}, // RLIMIT_DATA
	"as_rlimit":      {9, "VmSize"}, // RLIMIT_AS
}
