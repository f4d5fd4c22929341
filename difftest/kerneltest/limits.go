package kerneltest

// limitKeys are the config keys a Kernel with ApplyLimits makes true of
// its process (resource limits, CAP_IPC_LOCK); a sequence that sets them
// runs its kernel side in a process of its own (needsIsolation).
var limitKeys = []string{"memlock_rlimit", "data_rlimit", "ipc_lock"}
