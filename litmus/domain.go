package litmus

import "fmt"

// Value domains: which values each process may write to each location.
// The explorer needs them for a read that takes its value from a process
// it has not run yet. A set-valued abstract run of every process (reads
// return any value the location may hold, both arms of every branch are
// taken) is repeated until nothing new appears; the bound on rounds is the
// number of store instructions plus two, which covers every chain of
// values an execution without out-of-thin-air cycles can build.

const maxDomain = 256

type vset map[int64]struct{}

func (s vset) add(v int64) bool {
	if _, ok := s[v]; ok {
		return false
	}
	s[v] = struct{}{}
	return true
}

// writeDomains returns dom[p][loc]: the values process p may write to loc.
func writeDomains(pg *Program) ([][]vset, error) {
	nv := len(pg.Vars)
	dom := make([]vset, nv)
	for l := range dom {
		dom[l] = vset{pg.Init[l]: {}}
	}
	wd := make([][]vset, len(pg.Procs))
	stores := 0
	for p, pc := range pg.Procs {
		wd[p] = make([]vset, nv)
		for l := range wd[p] {
			wd[p][l] = vset{}
		}
		for _, in := range pc.Code {
			if in.op == opStore || in.op == opRMW {
				stores++
			}
		}
	}
	for round := 0; round < stores+2; round++ {
		changed := false
		for p, pc := range pg.Procs {
			if err := absRun(pg, pc, dom, wd[p]); err != nil {
				return nil, err
			}
		}
		for p := range wd {
			for l, s := range wd[p] {
				for v := range s {
					if dom[l].add(v) {
						changed = true
					}
				}
				if len(dom[l]) > maxDomain {
					return nil, &Error{pg.Test.File, 0, fmt.Sprintf("location %s may hold more than %d values: beyond the explorer's limits", pg.Vars[l], maxDomain)}
				}
			}
		}
		if !changed {
			break
		}
	}
	return wd, nil
}

// absRun runs one process over value sets, adding what it may write to wd.
func absRun(pg *Program, pc *ProcCode, dom []vset, wd []vset) error {
	nv := len(pg.Vars)
	states := make([][]vset, len(pc.Code)+1)
	init := make([]vset, len(pc.Regs))
	for i, v := range pc.RegInit {
		init[i] = vset{v: {}}
	}
	states[0] = init
	merge := func(at int, st []vset) {
		if states[at] == nil {
			cp := make([]vset, len(st))
			for i, s := range st {
				cp[i] = vset{}
				for v := range s {
					cp[i][v] = struct{}{}
				}
			}
			states[at] = cp
			return
		}
		for i, s := range st {
			for v := range s {
				states[at][i].add(v)
			}
		}
	}
	for at := 0; at < len(pc.Code); at++ {
		st := states[at]
		if st == nil {
			continue
		}
		in := &pc.Code[at]
		locs := func() []int {
			var out []int
			for a := range absEval(in.addr, st) {
				if isAddr(a, nv) {
					out = append(out, int(a-addrBase))
				}
			}
			return out
		}
		next := st
		switch in.op {
		case opSet:
			next = withReg(st, in.dst, absEval(in.val, st))
		case opLoad:
			res := vset{}
			for _, l := range locs() {
				for v := range dom[l] {
					res.add(v)
				}
			}
			next = withReg(st, in.dst, res)
		case opStore:
			vals := absEval(in.val, st)
			for _, l := range locs() {
				for v := range vals {
					wd[l].add(v)
				}
			}
		case opRMW:
			vals := absEval(in.val, st)
			var vals2 vset
			if in.val2 != nil {
				vals2 = absEval(in.val2, st)
			}
			res := vset{}
			for _, l := range locs() {
				for old := range dom[l] {
					for v := range vals {
						nw, ret, writes := rmwApply(in, old, v, vals2Any(vals2))
						res.add(ret)
						switch in.rmw {
						case rmwCmpxchg:
							for v2 := range vals2 {
								wd[l].add(v2)
							}
						default:
							if writes {
								wd[l].add(nw)
							}
						}
					}
				}
			}
			if len(res) > maxDomain {
				return &Error{pg.Test.File, in.Line, fmt.Sprintf("P%d: more than %d possible values: beyond the explorer's limits", pc.ID, maxDomain)}
			}
			next = withReg(st, in.dst, res)
		case opBranch:
			merge(in.target, st)
		case opJump:
			merge(in.target, st)
			continue
		}
		merge(at+1, next)
	}
	return nil
}

func vals2Any(s vset) int64 {
	for v := range s {
		return v
	}
	return 0
}

func withReg(st []vset, slot int, s vset) []vset {
	out := append([]vset(nil), st...)
	out[slot] = s
	return out
}

// absEval evaluates an expression over register value sets.
func absEval(e *cexpr, st []vset) vset {
	switch e.op {
	case "const":
		return vset{e.num: {}}
	case "reg":
		return st[e.slot]
	}
	x := absEval(e.x, st)
	out := vset{}
	if e.y == nil {
		for a := range x {
			v, _ := arith(e.op[1:], true, a, 0)
			out.add(v)
		}
		return out
	}
	y := absEval(e.y, st)
	for a := range x {
		for b := range y {
			v, _ := arith(e.op, false, a, b)
			out.add(v)
			if len(out) > maxDomain {
				return out
			}
		}
	}
	return out
}

// rmwApply computes a read-modify-write: from the old value and the
// operands, the value written, the value returned, and whether it writes
// at all (a failed cmpxchg does not).
func rmwApply(in *Instr, old, v, v2 int64) (nw, ret int64, writes bool) {
	switch in.rmw {
	case rmwXchg:
		return v, old, true
	case rmwAdd:
		nw = old + v
		if in.retNew {
			return nw, nw, true
		}
		return nw, old, true
	default:
		if old == v {
			return v2, old, true
		}
		return old, old, false
	}
}
