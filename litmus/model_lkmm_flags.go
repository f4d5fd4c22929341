package litmus

import "slices"

// The LKMM's flags (linux-kernel.bell): conditions herd reports with a
// "Flag NAME" line when an allowed execution meets them. They do not
// forbid anything; they say the test misuses RCU or SRCU. The ones for
// the primitives here:
//
//	unbalanced-rcu-lock, unbalanced-rcu-unlock   an rcu_read_lock() or
//	    rcu_read_unlock() that nesting matches with nothing
//	unbalanced-srcu-lock, unbalanced-srcu-unlock  a srcu_read_lock() or
//	    srcu_read_unlock() in no section (its index flows to no unlock of
//	    the same srcu_struct, or comes from no lock)
//	multiple-srcu-matches       one srcu_read_lock()'s index unlocks twice
//	bad-srcu-value-match        a matched unlock passes another value than
//	    the lock returned (the index was computed on, not passed)
//	invalid-sleep               synchronize_srcu() inside an RCU read-side
//	    critical section
//	illegal-srcu-cookie-ctrl, illegal-srcu-cookie-addr  an index used in a
//	    condition or an address
//	suspicious-srcu-cookie-use  an index passed through memory and read by
//	    a load that does not pass it on to an unlock

// flagger is a model with flags.
type flagger interface {
	flags(g *graph) []string
}

func (lkmmModel) flags(g *graph) []string {
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	// RCU sections, matched innermost first per process.
	stack := map[int][]int{} // per process: the open locks' fence indexes
	var sections [][3]int    // proc, lock position, unlock position
	for i, f := range g.fences {
		switch f.kind {
		case FenceRcuLock:
			stack[f.proc] = append(stack[f.proc], i)
		case FenceRcuUnlock:
			st := stack[f.proc]
			if len(st) == 0 {
				add("unbalanced-rcu-unlock")
				continue
			}
			sections = append(sections, [3]int{f.proc, st[len(st)-1], i})
			stack[f.proc] = st[:len(st)-1]
		}
	}
	for _, st := range stack {
		if len(st) > 0 {
			add("unbalanced-rcu-lock")
		}
	}
	for i, f := range g.fences {
		if f.kind != FenceSyncSrcu {
			continue
		}
		for _, s := range sections {
			// g.fences is in program order per process.
			if s[0] == f.proc && s[1] < i && i < s[2] {
				add("invalid-sleep")
			}
		}
	}
	pairs, pass, carry := srcuFlow(g)
	if carry == nil {
		return out
	}
	locks, unlocks := map[int]int{}, map[int]bool{}
	for _, pr := range pairs {
		locks[pr[0]]++
		unlocks[pr[1]] = true
		if g.ev[pr[0]].Val != g.ev[pr[1]].Val {
			add("bad-srcu-value-match")
		}
	}
	g.sl.each(func(i int) {
		switch {
		case locks[i] == 0:
			add("unbalanced-srcu-lock")
		case locks[i] > 1:
			add("multiple-srcu-matches")
		}
	})
	g.su.each(func(i int) {
		if !unlocks[i] {
			add("unbalanced-srcu-unlock")
		}
	})
	if !seq(carry, g.ctrl).isEmpty() {
		add("illegal-srcu-cookie-ctrl")
	}
	if !seq(carry, g.addr).isEmpty() {
		add("illegal-srcu-cookie-addr")
	}
	// [Srcu-lock] ; pass-cookie ; rf ; [~domain(pass-cookie ; [Srcu-unlock])]
	toUnlock := seq(pass, g.data).restrict(nil, g.su)
	seq(seq(carry, g.data), g.rfR).each(func(_, r int) {
		if row := toUnlock.row(r); set(row).empty() {
			add("suspicious-srcu-cookie-use")
		}
	})
	slices.Sort(out)
	return out
}
