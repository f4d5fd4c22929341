// Package kerneltest checks the specvma model against the running Linux
// kernel, which is the oracle for everything observable: a call's result
// and errno, and the /proc/PID/maps text that shows which VMAs were split,
// merged, moved or left alone.
//
// # Method
//
// A sequence is a scenario script (testdata/*.vma, plus a few generated in
// the tests). It runs twice with scenario.Run: once on the kernel backend
// (NewKernel), which performs every call for real in the test process
// itself, and once on a fresh model (scenario.NewModel) configured as this
// kernel and process are (procfs.HostConfig: vm.mmap_min_addr and the LSM
// hint floor, CAP_SYS_RAWIO, the overcommit mode with memory and swap,
// CONFIG_ANON_VMA_NAME). The two outputs are compared line by line.
// TestLowAddresses claims a second window, the bottom 64 KiB, where
// mmap_min_addr and privilege decide (it skips when that cannot be claimed).
//
// The kernel backend owns a window of the test process's address space
// (DefaultWindow: 1 TiB at 0x500000000000). NewKernel proves the window is
// free by mapping all of it with MAP_FIXED_NOREPLACE, then unmaps it, so a
// script starts from an empty window; Release unmaps it again after the
// sequence, whatever happened. Sequences place every mapping inside the
// window with a hint or MAP_FIXED, so the kernel and the model, whose
// address space is otherwise empty, see the same addresses. The backend's
// maps are the window's lines of /proc/self/maps, as the kernel printed
// them. Calls are raw system calls (no libc, no Go wrappers that check
// arguments), so any flags and addresses reach the kernel and the errno
// comes back unchanged; a call that could reach memory outside the window,
// where the Go runtime lives, is refused unless the kernel must reject it
// from its arguments alone. A touch is a one-byte load or store through a
// pointer with runtime/debug.SetPanicOnFault set, so SIGSEGV and SIGBUS
// come back as a panic that becomes EFAULT.
//
// Before comparing, both outputs are normalised, only where the two cannot
// agree by construction (Window.Normalize): maps lines outside the window
// are dropped, addresses the kernel chose outside the window (an mremap
// that moves without MREMAP_FIXED) read "<outside window>", and the inode
// numbers of shared memory (/dev/zero (deleted) on device 00:01) are
// renumbered in order of first appearance. Files come from a temporary
// directory; the same files serve both runs, so their device and inode
// numbers agree.
//
// Sequences with more than one process (a process line, "process NAME
// fork" included) run their kernel side on Processes instead: each script
// process is a real process, a small C program (agent/agent.c) that makes
// the calls sent to it over a Unix socket and forks with fork(2) when the
// script forks; each one's maps are its /proc/PID/maps cut to the window.
// The fork sequences (fork_*.vma) compare parent and child after the fork
// and after the calls that merge in one and not the other.
//
// Sequences that seal memory (mseal) cannot give their window back: their
// kernel side runs in a child process, the test binary run again as
// TestKernelChild, which takes the sealed memory with it when it exits. So
// do sequences that set RLIMIT_MEMLOCK or drop CAP_IPC_LOCK (config
// memlock_rlimit, ipc_lock 0): the child applies them to itself
// (setrlimit; capset on the one thread that runs the sequence).
// Sequences that set RLIMIT_AS or RLIMIT_DATA (config as_rlimit,
// data_rlimit) run on Processes, in the C agents, each of which sets the
// limit on itself as its own size (VmSize, VmData) plus the value: the Go
// runtime maps memory whenever it grows (heap, span records, thread
// stacks), which under the limit would kill a Go child, while an agent
// allocates nothing.
// mlockall is made only in its MCL_ONFAULT forms, and Release undoes it.
//
// Huge pages: a test whose sequences map them (a hugetlbfs file, $HUGE, or
// MAP_HUGETLB) takes a lock shared by all test processes
// (/tmp/specvma-hugetlb.lock), sets vm.nr_hugepages so that exactly 8 huge
// pages are free and unreserved, and mounts hugetlbfs on a temporary
// directory; before each kernel run and each model run the file is
// emptied and the pool topped up, and the model starts with the free
// unreserved pages the kernel run started with. Without root or hugetlbfs
// those sequences skip. MAP_HUGETLB inode numbers are renumbered huge1,
// huge2, ... like shared memory's.
//
// TestRandomDiff generates sequences from seeds: anonymous memory, regular
// files (also through a symbolic link and non-canonical paths), /dev/zero,
// /dev/null and a FIFO, an 8 MiB file for THP placement, lengths larger
// than the machine's memory and past the address limit, hinted file
// mappings, madvise, mlock, mlock2, munlock, mlockall and munlockall,
// MAP_LOCKED, PROCMAP_QUERY, huge pages (MAP_HUGETLB and $HUGE at 2 MiB
// boundaries over the same pages, with mremaps between them), in one seed
// of 32 mseal, in one seed of 16 RLIMIT_AS (8 to 47 pages), and in one
// seed of 8 fork (up to three children, calls
// moving between them, on written private memory in an 8-page corner; no
// huge pages there). Calls that would fault memory in are given small
// lengths only. TestBrk adds random sequences around the test process's
// real heap (brk with mappings, unmaps and protection changes next to it),
// one per ten of -random. TestBrkFork does the same with forks, on
// Processes whose window is the main agent's heap (UseHeapWindow): the
// agents allocate nothing, so their break is the script's, and a forked
// agent inherits it.
//
// A mismatch is reported with the script, the kernel's output and the
// model's side by side, each differing line marked. With -update the test
// also writes what the kernel did to testdata/NAME.kernel.out, for
// reviewers to read; -kernelonly runs the kernel side alone and logs it.
//
// Anonymous VMA names cannot be checked this way here: the kernel these
// tests were written on is built without CONFIG_ANON_VMA_NAME (the prctl
// fails with EINVAL, which one sequence checks against a model configured
// the same way). TestAnonNames instead checks the model, with names
// enabled, against the behaviour Linux documents.
//
// Where the OS is not Linux the tests skip with a message; so they do on
// other architectures than x86-64, whose page size and address limit the
// model and the sequences assume.
package kerneltest
