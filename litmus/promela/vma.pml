/*
 * The per-VMA speculation from the uprobes review thread, as an
 * operational weak-memory model for SPIN: an independent check of the
 * litmus explorer's verdicts on testdata/protocol/vma-spec*.litmus.
 *
 * Memory is one flat array (multi-copy atomic). The writer's stores go to
 * per-location pending slots that a flusher commits in any order, so
 * stores may reach memory out of program order. smp_wmb() makes the writer
 * wait until every earlier store has been committed; a release store is
 * committed only after the stores pending when it was issued, while later
 * stores may overtake it. The reader's five
 * loads run in any order allowed by their must-precede constraints:
 * acquire loads before all later loads, smp_rmb() between the field loads
 * and the recheck, and the two loads of vm_lock_seq in program order
 * (coherence).
 *
 * Knobs, read from the environment when the verifier starts, so one
 * compiled verifier checks every variant: ROUNDS, MASK (2^B-1, or 255),
 * WMB, RMB, ACQV, ACQM (0/1), MMFIRST (1: load mm_lock_seq first).
 *	spin -a vma.pml && gcc -DSAFETY -o pan pan.c &&
 *	ROUNDS=1 MASK=255 WMB=0 RMB=1 ACQV=1 ACQM=1 MMFIRST=0 ./pan
 */

c_decl {
	int knob(const char *name) {
		char *v = getenv(name);
		if (v == NULL) {
			fprintf(stderr, "pan: set %s in the environment\n", name);
			exit(2);
		}
		return atoi(v);
	}
}

byte ROUNDS, MASK;
bool WMB, RMB, ACQV, ACQM, MMFIRST;

#define VMLS	0	/* vm_lock_seq */
#define MMLS	1	/* mm_lock_seq */
#define FILE	2	/* vm_file */
#define PGOFF	3	/* vm_pgoff */
#define LOCK	4	/* the VMA lock word, released by up_write() */
#define NLOC	5

byte mem[NLOC];
byte buf[NLOC];
bool pend[NLOC];
byte waitfor[NLOC];	/* a pending release: the earlier stores it waits for */

inline store(l, val) {
	pend[l] == 0;
	atomic { buf[l] = val; waitfor[l] = 0; pend[l] = 1 }
}

inline release(l, val) {
	pend[l] == 0;
	atomic { buf[l] = val; waitfor[l] = pend[0] + 2*pend[1] + 4*pend[2] + 8*pend[3] + 16*pend[4]; pend[l] = 1 }
}

inline drain() {
	(pend[0] + pend[1] + pend[2] + pend[3] + pend[4]) == 0
}

inline commit(j) {
	atomic { pend[j] && waitfor[j] == 0 -> mem[j] = buf[j]; pend[j] = 0;
		waitfor[0] = waitfor[0] & ~(1 << j); waitfor[1] = waitfor[1] & ~(1 << j);
		waitfor[2] = waitfor[2] & ~(1 << j); waitfor[3] = waitfor[3] & ~(1 << j);
		waitfor[4] = waitfor[4] & ~(1 << j) }
}

proctype flusher() {
end:	do
	:: commit(0)
	:: commit(1)
	:: commit(2)
	:: commit(3)
	:: commit(4)
	od
}

proctype writer() {
	byte k = 0;
	do
	:: k < ROUNDS ->
		if
		:: k > 0 -> drain()	/* mmap_write_unlock(); mmap_write_lock() */
		:: else -> skip
		fi;
		store(VMLS, k & MASK);
		if
		:: WMB -> drain()
		:: else -> skip
		fi;
		release(LOCK, 0);	/* up_write() */
		store(FILE, k + 1);
		store(PGOFF, k + 1);
		release(MMLS, (k + 1) & MASK);	/* mmap_write_unlock() */
		k++
	:: else -> break
	od
}

proctype reader() {
	byte v, m, f, p, v2;
	bool d1, d2, d3, d4, d5;	/* which loads have run */
	/* program order: L1 vm_lock_seq, L2 mm_lock_seq (swapped with
	   MMFIRST), L3 vm_file, L4 vm_pgoff, smp_rmb, L5 vm_lock_seq again */
	do
	:: atomic { !d1 && (!MMFIRST || !ACQM || d2) -> v = mem[VMLS]; d1 = 1 }
	:: atomic { !d2 && (MMFIRST || !ACQV || d1) -> m = mem[MMLS]; d2 = 1 }
	:: atomic { !d3 && (!ACQV || d1) && (!ACQM || d2) -> f = mem[FILE]; d3 = 1 }
	:: atomic { !d4 && (!ACQV || d1) && (!ACQM || d2) -> p = mem[PGOFF]; d4 = 1 }
	:: atomic { !d5 && d1 && (!ACQM || d2) && (!RMB || (d2 && d3 && d4)) -> v2 = mem[VMLS]; d5 = 1 }
	:: d1 && d2 && d3 && d4 && d5 -> break
	od;
	/* a validated snapshot is never torn */
	assert(!(v != m && v2 == v && f != p))
}

init {
	c_code {
		now.ROUNDS = knob("ROUNDS"); now.MASK = knob("MASK");
		now.WMB = knob("WMB"); now.RMB = knob("RMB");
		now.ACQV = knob("ACQV"); now.ACQM = knob("ACQM");
		now.MMFIRST = knob("MMFIRST");
	};
	mem[VMLS] = MASK;	/* unlocked: no mm sequence has this value yet */
	mem[MMLS] = 0;
	atomic { run flusher(); run writer(); run reader() }
}
