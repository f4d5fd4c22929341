/*
 * The merged mm-wide speculation (mm_lock_seq as a seqcount), as an
 * operational weak-memory model for SPIN, checking the litmus explorer's
 * verdicts on testdata/protocol/mm-seqcount*.litmus. Same memory model as
 * vma.pml. Knobs, from the environment: ROUNDS, BEGINRMB and RETRYRMB (0/1).
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

byte ROUNDS;
bool BEGINRMB, RETRYRMB;

#define SEQ	0
#define FILE	1
#define PGOFF	2

byte mem[3];
byte buf[3];
bool pend[3];

inline store(l, val) {
	pend[l] == 0;
	atomic { buf[l] = val; pend[l] = 1 }
}

inline drain() {
	(pend[0] + pend[1] + pend[2]) == 0
}

proctype flusher() {
end:	do
	:: atomic { pend[0] -> mem[0] = buf[0]; pend[0] = 0 }
	:: atomic { pend[1] -> mem[1] = buf[1]; pend[1] = 0 }
	:: atomic { pend[2] -> mem[2] = buf[2]; pend[2] = 0 }
	od
}

proctype writer() {
	byte k = 0;
	do
	:: k < ROUNDS ->
		store(SEQ, 2 * k + 1);	/* mmap_write_lock(): count odd */
		drain();		/* smp_wmb() */
		store(FILE, k + 1);
		store(PGOFF, k + 1);
		drain();		/* smp_wmb() */
		store(SEQ, 2 * k + 2);	/* mmap_write_unlock(): count even */
		k++
	:: else -> break
	od
}

proctype reader() {
	byte s, f, p, s2;
	bool d1, d2, d3, d4;
	do
	:: atomic { !d1 -> s = mem[SEQ]; d1 = 1 }
	:: atomic { !d2 && (!BEGINRMB || d1) -> f = mem[FILE]; d2 = 1 }
	:: atomic { !d3 && (!BEGINRMB || d1) -> p = mem[PGOFF]; d3 = 1 }
	:: atomic { !d4 && d1 && (!RETRYRMB || (d2 && d3)) -> s2 = mem[SEQ]; d4 = 1 }
	:: d1 && d2 && d3 && d4 -> break
	od;
	assert(!((s & 1) == 0 && s2 == s && f != p))
}

init {
	c_code {
		now.ROUNDS = knob("ROUNDS");
		now.BEGINRMB = knob("BEGINRMB"); now.RETRYRMB = knob("RETRYRMB");
	};
	atomic { run flusher(); run writer(); run reader() }
}
