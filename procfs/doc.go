// Package procfs renders, parses and loads /proc/PID/maps.
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
// reproduced.
package procfs
