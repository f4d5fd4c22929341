//go:build linux

package kerneltest

import (
	"runtime"
	"sync"
	"syscall"
	"time"
)

// warmRuntime grows the Go runtime's heap and its pool of threads before a
// sequence lowers RLIMIT_DATA. Heap arenas and thread stacks are private
// writable mappings, so one the runtime made while the limit is in force
// would count against it and kill the child ("runtime: cannot allocate
// memory", "pthread_create failed": 6 runs in 45 under -race before this).
// Freed heap pages stay mapped and are reused, and idle threads are kept,
// so what is mapped here is already in the VmData the limit is raised by.
func warmRuntime() {
	// Large objects have a span each: 4096 of them leave the heap grown by
	// 132 MiB and the allocator's span records (persistentalloc'd, never
	// unmapped) pooled for reuse.
	ballast := make([][]byte, 4096)
	for i := range ballast {
		ballast[i] = make([]byte, 33<<10)
	}
	runtime.KeepAlive(ballast)
	ballast = nil
	runtime.GC()
	runtime.GC()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { // a blocking system call hands its processor to a new thread
			defer wg.Done()
			ts := syscall.NsecToTimespec(int64(20 * time.Millisecond))
			syscall.Nanosleep(&ts, nil)
		}()
	}
	wg.Wait()
}
