// Package uprobetest checks the specvma uprobe model against live kernel
// uprobes, through tracefs.
//
// # Method
//
// A test builds a small C program with gcc (Build) and starts copies of it
// (Start). Each target maps its own executable again on request, in the
// ways a uprobe cares about: private and executable, private read-only,
// private and writable, shared; some before the probes are registered and
// some after; and it calls the probed functions through each executable
// mapping, at the function's file offset within that mapping.
//
// The kernel side (Tracer) writes the probes to uprobe_events in a group
// of the test's own, enables them in a tracefs instance of its own (so
// its buffer holds only its events) and reads back the hits: each names
// the event, the thread and the address of the probed instruction in the
// target. Which addresses carry a breakpoint is read directly too (Sites):
// the kernel writes int3 into a private copy of the page, which
// /proc/PID/mem shows in every mapping, executable or not.
//
// The model side loads each target with procfs.Load, attaches it to a
// uprobes.System and adds the same probe lines (procfs.Load, uprobes.Instrument). The
// tests then require that
//   - the model's breakpoints (System.EventBreakpoints) are exactly the
//     addresses where the kernel wrote one, for the same events;
//   - every hit the kernel reports resolves in the model (Task.HitNames,
//     then Task.ReturnNames for return probes) to the same event, and the
//     model fires nothing the kernel did not;
//   - the SDT semaphore the kernel maintained equals System.RefCtr;
//   - a process that forks inside a probed function (the target's rfork
//     command, TestTaskFork) fires the return probe in the parent and in
//     the child, as the model's tasks do after Task.Fork, and the child has
//     the parent's [uprobes] area, as the model's child has;
//   - a forked child (the target's fork command; TestFork) has the
//     breakpoints and the SDT semaphore value of uprobes.System.Fork's
//     child of the parent's model (loaded from smaps, so that it knows the
//     parent's MADV_DONTFORK mapping), fires the same events, and loses its
//     breakpoints with the parent's when the event is disabled;
//   - the file identities agree: the (device, inode) of the maps lines,
//     from which the model's VMAs are built, and the one AddEvent reads
//     with stat when it opens the probe's path.
//
// Tests clean up after themselves even when they fail (t.Cleanup): the
// events are disabled, the instance is removed and each event the test
// created is deleted; nothing else in tracefs is touched. They skip with a
// message where tracefs uprobes cannot be used (not Linux on x86-64, not
// root, no uprobe_events) or gcc is missing.
package uprobetest
