// Package procfs renders, parses and loads /proc/PID/maps, reads a model
// address space's maps file the way the kernel's readers do, and answers
// the PROCMAP_QUERY ioctl.
//
// Render and Maps print an address space exactly as Linux prints
// /proc/PID/maps (fs/proc/task_mmu.c, Linux 6.x): the same columns, widths,
// padding and names, byte for byte, so that the model's output can be
// compared with the running kernel's with a plain string comparison.
//
// Parse and ParseLine read any maps text the kernel prints back into
// Entries, keeping each name verbatim: paths with spaces, the " (deleted)"
// suffix, [anon:NAME] and friends, unnamed lines and the [vsyscall] line.
// Format prints Entries back; for kernel output Format(Parse(text)) is text.
//
// LoadFrom builds a model address space from parsed entries and Load does
// the same for a live process: the result renders to the source text
// byte for byte, or loading fails and says which line could not be
// reproduced. The maps text does not show most vm_flags, so a VMA loaded
// from it has only those its line implies; ParseSmaps reads
// /proc/PID/smaps instead, whose VmFlags line gives each VMA its flags
// (smaps.go), and LoadLive with LoadOptions.Smaps loads those: a model
// that knows VM_DONTCOPY, VM_WIPEONFORK, VM_LOCKED and VM_ACCOUNT forks,
// merges and locks as the process would.
//
// LoadLive reads a live process that may be changing or exiting: a torn
// reading (lines that overlap or go backwards) is read again, and an exit
// during the reading is ErrExited, never a short result. It reads the text,
// or walks the process with PROCMAP_QUERY (Query), and can keep only the
// executable file-backed mappings (ExecOnly), which the query walk asks
// the kernel to skip to and the text loader filters as it parses.
// LiveEntries returns the same mappings as entries, without building a
// model: what a profiler or symbolizer wants. The text loader reads into
// a reused buffer and parses it in place (one allocation for the entries,
// and one per line only for a mapping's name).
//
// # Maps readers (reader.go)
//
// OpenMaps opens a model address space's maps file with one of three
// readers. Like seq_file, each read that finds nothing left over produces
// one page: it resumes at the end of the last VMA the previous page
// printed and adds whole lines while they fit in PageSize bytes.
//
//   - locked: the mmap read lock held for each page (Linux before 6.17).
//   - snapshot: the RCU design proposed in 2025 and not merged: each VMA is
//     copied without a lock, its File pinned with a try-get, and the copy
//     kept only if the mm sequence count still has the value recorded when
//     the page began; otherwise the mmap read lock is taken just to record
//     the current value, and the VMA is looked up again.
//   - vmalock: per-VMA read locks one VMA at a time (mm.LockNextVMA, the
//     lock_next_vma of Linux 6.17), with its fallback to the mmap lock.
//
// The contract every reader keeps, against writers that run concurrently:
// each line is one VMA's state at one moment (lines are never torn); the
// walk only moves forward, to the end of the VMA last printed, so a VMA
// changed during the reading may be printed twice, first in its old form
// and then in its new one; and no gap is reported where memory is mapped
// both before and after one store to the tree (a split, a merge, a
// MAP_FIXED replacement and an munmap each publish one version); nothing
// else. With locked, tearing happens only between pages; with the other
// two, between any two lines.
//
// A call made of several stores is another matter, and the readers differ:
//   - locked holds the mmap read lock for each page, and snapshot checks
//     every line (and the end of the walk) against the mm sequence count,
//     which a writer moves when it takes the lock: both see each call
//     whole, as a state between two calls.
//   - vmalock, and PROCMAP_QUERY whatever the reader, take one VMA at a
//     time from the newest tree version, as Linux's lock_next_vma does, so
//     they may see a call between two of its stores. A moving mremap with
//     MREMAP_FIXED onto a mapping unmaps the destination (one store),
//     stores the moved VMA there (a second) and removes the source (a
//     third): a read between the first two finds the destination unmapped,
//     a gap (ENOENT from PROCMAP_QUERY) where memory is mapped before and
//     after the call; between the second and third, the moved memory is
//     in the tree twice, so a walk may print it at both addresses, or,
//     reading a destination below the source before the second store and
//     the source after the third, at neither. An mprotect across several
//     VMAs may read partly done.
//
// mapsrace's TestLiveMremapFixedGap shows the destination's gap on the
// running kernel (Linux 6.18's maps text and PROCMAP_QUERY alike), and
// TestModelMremapFixedGap shows it in the model for vmalock and
// PROCMAP_QUERY, never for locked or snapshot.
//
// The layout (brk and the stack start, which decide [heap] and [stack]) is
// read once, when the file is opened. The package mapsrace runs the
// kernel's race selftest against every reader and against the live kernel.
//
// # PROCMAP_QUERY (query.go)
//
// MapsFile.Query answers the ioctl with its argument checks (E2BIG,
// EINVAL), its filters (covering-or-next, file-backed, readable, writable,
// executable, shared), every returned field, the name (d_path's text for
// files), the build ID of ELF files (read from the file's path on the host)
// and ENAMETOOLONG for buffers too small, each candidate VMA read-locked
// with mm.LockNextVMA. QueryLive issues the real ioctl; the tests compare
// the two on live processes, query for query.
//
// # Safety steps
//
// The lockless walks themselves are mm's (LockNextVMA, SnapshotNextVMA;
// their steps are in mm's table, including the gap re-lookup that keeps
// PROCMAP_QUERY from answering ENOENT for an address mapped before and
// after one store). What the readers here add is one ordering, tagged like
// mm's steps and removed in turn by internal/safety:
//
//	step               protects against                                     test
//	maps-copy-locked   printing a VMA after dropping its read lock: by      TestMapsCopiesUnderLock
//	                   then a writer may have freed and reused it
//	query-copy-locked  the same for the VMA a query returns                 TestQueryCopiesUnderLock
//
// HostConfig reads the running kernel's and process's configuration
// (vm sysctls, memory, capabilities, rlimits, kernel options) into an
// mm.Config, so that a model behaves as this machine does.
package procfs
