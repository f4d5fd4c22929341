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
//	model_*.go              the axioms of sc, tso (x86), armv8-ax (multi-copy
//	                        atomic, Pulte et al.) and lkmm (linux-kernel.cat's core);
//	                        model_armv8.go: the ordering rules of the operational armv8
//	op_paths.go, op_explore.go  the operational explorer: guessed paths, machine
//	                        states, transitions, memoised depth-first search;
//	                        op_visited.go its visited set
//	result.go, herd.go      final states, Never/Sometimes/Always, herd7 output
//	witness.go, op_witness.go  one execution meeting the condition, in words
//
// Two explorers. armv8 is operational: op_explore.go runs a transition
// system in which each process performs its memory accesses out of
// program order, as far as dependencies, barriers, acquire/release and
// per-location coherence allow, over one multi-copy-atomic memory (a load
// may also take the value of its own CPU's pending store); branches are
// guessed and checked when they resolve; every distinct machine state is
// expanded once (the visited set, op_visited.go: compact keys from which
// the rest of a state follows, stored in chunks behind an open-addressing
// table), and the final states are collected.
// model_armv8.go states the rules; the -witness output is the sequence of
// performed accesses with the earlier ones each went ahead of. The other
// models are axiomatic and checked on the same candidates; armv8-ax is
// the axiomatic ARMv8 model, kept as a cross-check: on every calibration
// and protocol test both allow exactly the same executions (a test). A candidate
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
// Options.FirstPositive stops either explorer at the first execution that
// meets the condition's proposition: -sweep uses it to find the fewest
// rounds at which an outcome appears, a reachability question that needs
// no counts.
//
// Spinlocks compile to an acquire cmpxchg from 0 to 1 that must succeed
// (spin_lock), a release store of 0 (spin_unlock) and a cmpxchg that may
// fail (spin_trylock); spin_is_locked is a marked (READ_ONCE) read of the lock word
// (lock.cat's RL or RU, by the value read). So every model expresses them;
// lkmm adds lock.cat's rules (model_lkmm.go). RCU read-side critical sections and grace periods
// are fence events; lkmm implements the RCU axiom (model_lkmm_rcu.go) over
// the accesses and those fence events together, as the cat does. SRCU's
// srcu_read_lock and srcu_read_unlock are a marked read and write of the
// srcu_struct, matched into sections per execution by the index's data
// flow (model_lkmm_srcu.go); synchronize_srcu is a grace-period fence event
// located at its srcu_struct, paired only with sections of that
// srcu_struct. The hardware models refuse grace periods and SRCU
// (model.go, expressible), since neither is an instruction.
//
// Out of scope, rejected with a message rather than answered wrongly:
// plain (unmarked) accesses, structs other than struct srcu_struct, loops
// without constant bounds. docs/litmus.md lists the
// supported subset.
package litmus
