// Package litmus is a memory-model explorer for litmus tests written in the
// Linux kernel's C litmus format (the format of tools/memory-model): it
// reads a test, enumerates its candidate executions and keeps those a
// memory model allows, then reports the final states as herd7 does.
//
// The pipeline, one concern per file:
//
//	lex.go, parse.go        text -> syntax tree (ast.go); errors are FILE:LINE: message
//	compile.go, primitives.go  syntax tree -> per-process code (ir.go): kernel
//	                        primitives become loads, stores, RMWs and fences;
//	                        for loops with constant bounds (-D NAME=V) unroll
//	domain.go               the values each process may write to each location
//	explore.go              depth-first construction of candidate executions
//	exec.go, rel.go         events, rf/co/fr and the derived relations as bit matrices
//	model_*.go              the axioms of sc, tso (x86), armv8 (multi-copy
//	                        atomic, Pulte et al.) and lkmm (linux-kernel.cat's core)
//	result.go, herd.go      final states, Never/Sometimes/Always, herd7 output
//	witness.go              one execution meeting the condition, in words
//
// Every model is axiomatic and checked on the same candidates. A candidate
// fixes, for each read, the write it reads from (rf), and for each location
// a coherence order of its writes (co). The explorer runs the processes in
// order; at each read it branches over the writes generated so far and the
// values a later process may write (the source is picked once that process
// has run). After each branch the model checks the partial candidate: its
// relations hold a subset of the edges of every completion and the axioms
// are acyclicity and emptiness conditions, so a partial candidate that
// fails can be dropped with all its completions. Complete candidates get
// every coherence order that keeps each process's own writes in program
// order and are checked in full.
//
// Dependencies are tracked through registers: an access whose address uses
// a loaded value has an address dependency on that load, a store whose
// value does has a data dependency, and every access after a conditional
// whose condition does has a control dependency, as herd computes them.
//
// testdata/kernel holds our own copies of the kernel's calibration tests,
// testdata/protocol the review thread's protocols (per-VMA speculation and
// its variants, the merged seqcount, the maps walk's gap check) with the
// writer's rounds as a for loop bounded by -D ROUNDS; promela/ holds
// independent SPIN models of the per-VMA and seqcount protocols, which the
// tests run when spin is installed.
//
// Out of scope, rejected with a message rather than answered wrongly:
// plain (unmarked) accesses, locks, RCU grace periods and SRCU, loops
// without constant bounds. rcu_read_lock/unlock are accepted and order
// nothing, which is exact when the test has no grace period. docs/litmus.md
// lists the supported subset.
package litmus
