package litmus

// SRCU read-side critical sections (linux-kernel.bell's srcu-rscs): a
// srcu_read_lock(s) is matched with the srcu_read_unlock(s, idx) whose
// index carries its value, not by nesting: the index may pass through
// registers (a data dependency) and through memory, stored by one CPU and
// read by another, so a section may begin on one CPU and end on another.
//
//	srcu-rscs = ([Srcu-lock] ; (data ; [~Srcu-unlock] ; rf)* ; data ; [Srcu-unlock]) & loc
//
// It depends on the candidate (rf), so it is computed per candidate. A
// lock or unlock that matches nothing opens or closes no section (herd
// flags the test as unbalanced).

// srcuRscs returns the matched (lock, unlock) access pairs.
func srcuRscs(g *graph) [][2]int {
	pairs, _, _ := srcuFlow(g)
	return pairs
}

// srcuFlow returns the matched pairs, the carry relation
// (data ; [~Srcu-unlock] ; rf)* and its part from each srcu_read_lock, to
// the reads that hold the lock's value (the lock itself included).
func srcuFlow(g *graph) (pairs [][2]int, pass, carry *rel) {
	if g.sl.empty() {
		return nil, nil, nil
	}
	notSU := newSet(g.n)
	for i := 0; i < g.n; i++ {
		if !g.su.has(i) {
			notSU.add(i)
		}
	}
	pass = star(seq(g.data.restrict(nil, notSU), g.rfR))
	carry = pass.restrict(g.sl, nil)
	m := and(seq(carry, g.data).restrict(nil, g.su), g.loc)
	m.each(func(i, j int) { pairs = append(pairs, [2]int{i, j}) })
	return pairs, pass, carry
}
