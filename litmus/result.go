package litmus

import (
	"fmt"
	"sort"
	"strings"
)

// observedLocs lists the locations a final state shows: those the
// condition and the locations clause name, registers first (by process,
// then name), then shared variables by name.
func observedLocs(pg *Program) []CondLoc {
	seen := map[CondLoc]bool{}
	var out []CondLoc
	addLoc := func(l CondLoc) {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	var walk func(p *Prop)
	walk = func(p *Prop) {
		if p == nil {
			return
		}
		if p.Atom != nil {
			addLoc(p.Atom.Loc)
		}
		walk(p.L)
		walk(p.R)
	}
	walk(pg.Test.Cond.Prop)
	for _, l := range pg.Test.Observe {
		addLoc(l)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Proc < 0) != (b.Proc < 0) {
			return a.Proc >= 0
		}
		if a.Proc != b.Proc {
			return a.Proc < b.Proc
		}
		return a.Name < b.Name
	})
	return out
}

func (l CondLoc) String() string {
	if l.Proc >= 0 {
		return fmt.Sprintf("%d:%s", l.Proc, l.Name)
	}
	return l.Name
}

// valueText prints a value: an address as its variable's name.
func valueText(pg *Program, v int64) string {
	if isAddr(v, len(pg.Vars)) {
		return pg.Vars[v-addrBase]
	}
	return fmt.Sprint(v)
}

func stateText(pg *Program, locs []CondLoc, vals []int64) string {
	var b strings.Builder
	for i, l := range locs {
		fmt.Fprintf(&b, "%s=%s; ", l, valueText(pg, vals[i]))
	}
	return strings.TrimSuffix(b.String(), " ")
}

func evalProp(pg *Program, p *Prop, locs []CondLoc, vals []int64) bool {
	switch p.Op {
	case "true":
		return true
	case "not":
		return !evalProp(pg, p.L, locs, vals)
	case "and":
		return evalProp(pg, p.L, locs, vals) && evalProp(pg, p.R, locs, vals)
	case "or":
		return evalProp(pg, p.L, locs, vals) || evalProp(pg, p.R, locs, vals)
	}
	a := p.Atom
	want := a.Num
	if a.Var != "" {
		want = addrBase + int64(pg.varIndex(a.Var))
	}
	for i, l := range locs {
		if l == a.Loc {
			return (vals[i] == want) != a.Neq
		}
	}
	return false
}

func sortStates(m map[string]*State) []State {
	out := make([]State, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Values, out[j].Values
		for k := range a {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
	return out
}

// Verdict is herd's observation: Never, Sometimes or Always, counted over
// the allowed executions satisfying the condition's proposition.
func (r *Result) Verdict() string {
	switch {
	case r.Positive == 0:
		return "Never"
	case r.Negative == 0:
		return "Always"
	}
	return "Sometimes"
}

// Ok is herd's validation line: whether the condition holds. exists: some
// allowed execution satisfies the proposition; ~exists: none does; forall:
// all do.
func (r *Result) Ok() bool {
	switch r.Test.Cond.Kind {
	case "~exists":
		return r.Positive == 0
	case "forall":
		return r.Negative == 0
	}
	return r.Positive > 0
}

func propText(p *Prop, top bool) string {
	switch p.Op {
	case "true":
		return "true"
	case "not":
		return "~" + propText(p.L, false)
	case "and", "or":
		op := " /\\ "
		if p.Op == "or" {
			op = " \\/ "
		}
		s := propText(p.L, false) + op + propText(p.R, false)
		if top {
			return s
		}
		return "(" + s + ")"
	}
	a := p.Atom
	v := fmt.Sprint(a.Num)
	if a.Var != "" {
		v = a.Var
	}
	op := "="
	if a.Neq {
		op = "!="
	}
	return a.Loc.String() + op + v
}

// CondText prints the condition as herd does.
func (c *Cond) String() string { return c.Kind + " (" + propText(c.Prop, true) + ")" }

// record counts one allowed execution whose final state is vals, in the
// result and in states (keyed by the values). It stops the search when
// firstPositive asks for the first execution meeting the proposition, and
// reports whether this execution should be the witness: the first one
// that meets an exists condition, or misses a forall.
func record(pg *Program, res *Result, states map[string]*State, vals []int64, firstPositive bool) bool {
	holds := evalProp(pg, pg.Test.Cond.Prop, res.observed, vals)
	key := fmt.Sprint(vals)
	st := states[key]
	if st == nil {
		st = &State{Values: vals, Holds: holds, Text: stateText(pg, res.observed, vals)}
		states[key] = st
	}
	st.Count++
	if holds {
		res.Positive++
	} else {
		res.Negative++
	}
	if holds && firstPositive {
		res.Stopped = true
	}
	return holds == (pg.Test.Cond.Kind != "forall") && res.Witness == nil
}
