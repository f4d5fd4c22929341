package litmus

import "fmt"

// The operational witness: the sequence of performed accesses that led to
// the final state, each with the earlier accesses of its process it went
// ahead of (the reordering), the branches it ran ahead of (speculation),
// and for a load the write it read.

func (x *opExplorer) writeText(s *opState, w int64) string {
	if w == 0 {
		return ""
	}
	p, i := splitWID(w)
	in := x.paths[p][s.th[p].path].insts[i].in
	return fmt.Sprintf("P%d's %s (%s)", p, in.Text, in.Where)
}

func (x *opExplorer) witness(s *opState, vals []int64) *Witness {
	w := &Witness{}
	add := func(format string, args ...any) { w.Lines = append(w.Lines, fmt.Sprintf(format, args...)) }
	add("Witness under %s: final state %s", x.m.Name(), stateText(x.pg, x.observed, vals))
	add("Steps (each access takes effect on the one shared memory when it is performed):")
	reordered := false
	for k, st := range x.steps {
		t := &s.th[st.proc]
		path := x.paths[st.proc][t.path]
		o := &path.insts[st.inst]
		l, _ := x.loc(s, st.proc, st.inst)
		v := x.pg.Vars[l]
		var what string
		switch {
		case o.isWrite():
			what = fmt.Sprintf("writes %s=%s", v, valueText(x.pg, t.val[st.inst]))
		case st.fwd:
			what = fmt.Sprintf("reads %s=%s from its own %s, before that store is performed", v, readValue(x, s, st), x.writeText(s, st.from))
		case st.from == 0:
			what = fmt.Sprintf("reads %s=%s from the initial value", v, readValue(x, s, st))
		default:
			what = fmt.Sprintf("reads %s=%s from %s", v, readValue(x, s, st), x.writeText(s, st.from))
		}
		add("  %2d. P%d: %s (%s) %s", k+1, st.proc, o.in.Text, o.in.Where, what)
		for _, i := range st.pending {
			e := &path.insts[i]
			reordered = true
			add("      performed before the earlier %s %s (%s): %s does not order this %s->%s pair",
				kindWord(e), e.in.Text, e.in.Where, x.m.Name(), kindWord(e), kindWord(o))
		}
		for _, i := range st.unresolved {
			reordered = true
			add("      speculatively, before the branch at %s is resolved", path.insts[i].in.Where)
		}
	}
	if !reordered {
		add("No reordering needed: every process performed its accesses in program order.")
	}
	return w
}

// readValue is the value a load read (for an RMW, not its result).
func readValue(x *opExplorer, s *opState, st opStep) string {
	if st.from == 0 {
		l, _ := x.loc(s, st.proc, st.inst)
		return valueText(x.pg, x.pg.Init[l])
	}
	p, i := splitWID(st.from)
	return valueText(x.pg, s.th[p].val[i])
}

func kindWord(o *opInst) string {
	if o.isWrite() {
		return "store"
	}
	return "load"
}
