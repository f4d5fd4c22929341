package litmus

import "fmt"

// Paths for the operational explorer. A process's code has forward jumps
// only, so each run of it follows one path: the instructions it executes,
// in program order. An out-of-order CPU fetches down a predicted path and
// executes what it has fetched in any order its rules allow, before the
// branches are resolved; the explorer does the same by guessing every
// data-dependent branch (and whether each cmpxchg succeeds) up front,
// one path per combination of guesses, and killing a run whose guess
// turns out wrong when the branch (or the cmpxchg's read) executes. A
// wrongly guessed path leaves nothing behind: stores wait for every
// earlier branch, so none was performed on it.

// instKind is what one instance on a path does.
type instKind uint8

const (
	iSet      instKind = iota // register computation (local)
	iBranch                   // a conditional: checks its guess (local)
	iFence                    // a barrier: orders others, never executes
	iLoad                     // a load
	iStore                    // a store
	iRMWRead                  // the read of a read-modify-write (also a failed cmpxchg)
	iRMWWrite                 // the write of a read-modify-write
)

// opInst is one instruction instance on a path.
type opInst struct {
	in    *Instr
	kind  instKind
	fence FenceKind // iFence
	guess bool      // iBranch: the condition is non-zero; iRMWRead of a cmpxchg: it succeeds
	// src maps each register slot the instance's expressions read to the
	// instance on the path that last wrote it before (-1: its initial value).
	src      map[int]int
	addrDeps []int // instances the address needs (accesses)
	valDeps  []int // instances the stored value or RMW operands need
	pair     int   // the other half of a read-modify-write, or -1
	cloc     int   // an access's location when its address is a constant, else -1
	acq, rel bool  // acquire read, release write
	wait     set   // instances that must be done before this one executes (the model's order and the dependencies)
}

func (o *opInst) isRead() bool   { return o.kind == iLoad || o.kind == iRMWRead }
func (o *opInst) isWrite() bool  { return o.kind == iStore || o.kind == iRMWWrite }
func (o *opInst) isAccess() bool { return o.isRead() || o.isWrite() }
func (o *opInst) local() bool    { return o.kind == iSet || o.kind == iBranch }

// opPath is one guessed path through a process.
type opPath struct {
	proc  int
	insts []opInst
	final []int // per register slot: the instance that last wrote it, or -1
}

// maxPaths bounds the guessed paths of one process.
const maxPaths = 4096

// buildPaths enumerates the paths of process p.
func buildPaths(pg *Program, p int) ([]*opPath, error) {
	pc := pg.Procs[p]
	var out []*opPath
	var walk func(at int, insts []opInst, last []int) error
	walk = func(at int, insts []opInst, last []int) error {
		for at < len(pc.Code) {
			in := &pc.Code[at]
			srcs := func(es ...*cexpr) map[int]int {
				m := map[int]int{}
				for _, e := range es {
					exprSlots(e, func(s int) { m[s] = last[s] })
				}
				return m
			}
			deps := func(m map[int]int, es ...*cexpr) []int {
				var d []int
				for _, e := range es {
					exprSlots(e, func(s int) {
						if i := m[s]; i >= 0 {
							d = append(d, i)
						}
					})
				}
				return d
			}
			switch in.op {
			case opJump:
				at = in.target
				continue
			case opSet:
				m := srcs(in.val)
				insts = append(insts, opInst{in: in, kind: iSet, src: m, valDeps: deps(m, in.val), pair: -1})
				last = withLast(last, in.dst, len(insts)-1)
			case opFence:
				insts = append(insts, opInst{in: in, kind: iFence, fence: in.fence, pair: -1})
			case opBranch:
				m := srcs(in.val)
				d := deps(m, in.val)
				if len(d) == 0 {
					// Known when fetched: no guess.
					v := evalWith(in.val, func(s int) int64 { return pc.RegInit[s] })
					if v == 0 {
						at = in.target
					} else {
						at++
					}
					continue
				}
				for _, g := range []bool{true, false} {
					b := append(append([]opInst(nil), insts...), opInst{in: in, kind: iBranch, guess: g, src: m, valDeps: d, pair: -1})
					next := at + 1
					if !g {
						next = in.target
					}
					if err := walk(next, b, last); err != nil {
						return err
					}
				}
				return nil
			case opLoad:
				m := srcs(in.addr)
				insts = append(insts, opInst{in: in, kind: iLoad, src: m, addrDeps: deps(m, in.addr), pair: -1, acq: in.readAnn == AnnAcquire})
				last = withLast(last, in.dst, len(insts)-1)
			case opStore:
				m := srcs(in.addr, in.val)
				insts = append(insts, opInst{in: in, kind: iStore, src: m, addrDeps: deps(m, in.addr), valDeps: deps(m, in.val), pair: -1, rel: in.writeAnn == AnnRelease})
			case opRMW:
				es := []*cexpr{in.val}
				if in.val2 != nil {
					es = append(es, in.val2)
				}
				m := srcs(append(es, in.addr)...)
				guesses := []bool{true}
				if in.rmw == rmwCmpxchg && !in.mustWrite {
					guesses = []bool{true, false}
				}
				for _, g := range guesses {
					b := append([]opInst(nil), insts...)
					full := in.fullFence && g
					if full {
						b = append(b, opInst{in: in, kind: iFence, fence: FenceMb, pair: -1})
					}
					r := opInst{in: in, kind: iRMWRead, guess: g, src: m, addrDeps: deps(m, in.addr), valDeps: deps(m, es...), pair: -1, acq: in.readAnn == AnnAcquire}
					b = append(b, r)
					ri := len(b) - 1
					if g {
						// The value written: an exchange writes its operand and a
						// successful cmpxchg its new value, known before the read
						// is; an add needs the value read.
						var vd []int
						switch in.rmw {
						case rmwXchg:
							vd = deps(m, in.val)
						case rmwCmpxchg:
							vd = deps(m, in.val2)
						default:
							vd = append(deps(m, in.val), ri)
						}
						b = append(b, opInst{in: in, kind: iRMWWrite, src: m, addrDeps: r.addrDeps, valDeps: vd, pair: ri, rel: in.writeAnn == AnnRelease})
						b[ri].pair = len(b) - 1
					}
					if full {
						b = append(b, opInst{in: in, kind: iFence, fence: FenceMb, pair: -1})
					}
					if err := walk(at+1, b, withLast(last, in.dst, ri)); err != nil {
						return err
					}
				}
				return nil
			}
			at++
		}
		if len(out) >= maxPaths {
			return &Error{pg.Test.File, 0, fmt.Sprintf("P%d has more than %d paths through its branches: beyond the operational explorer's limits", p, maxPaths)}
		}
		for i := range insts {
			o := &insts[i]
			o.cloc = -1
			if o.isAccess() && len(o.addrDeps) == 0 {
				if a := evalWith(o.in.addr, func(s int) int64 { return pc.RegInit[s] }); isAddr(a, len(pg.Vars)) {
					o.cloc = int(a - addrBase)
				}
			}
		}
		out = append(out, &opPath{proc: p, insts: insts, final: last})
		return nil
	}
	last := make([]int, len(pc.Regs))
	for i := range last {
		last[i] = -1
	}
	if err := walk(0, nil, last); err != nil {
		return nil, err
	}
	return out, nil
}

func withLast(last []int, slot, inst int) []int {
	out := append([]int(nil), last...)
	out[slot] = inst
	return out
}

// exprSlots calls f for every register slot e reads.
func exprSlots(e *cexpr, f func(int)) {
	if e == nil {
		return
	}
	if e.op == "reg" {
		f(e.slot)
		return
	}
	exprSlots(e.x, f)
	exprSlots(e.y, f)
}

// evalWith evaluates e with register values from reg.
func evalWith(e *cexpr, reg func(int) int64) int64 {
	switch e.op {
	case "const":
		return e.num
	case "reg":
		return reg(e.slot)
	}
	a := evalWith(e.x, reg)
	if e.y == nil {
		v, _ := arith(e.op[1:], true, a, 0)
		return v
	}
	v, _ := arith(e.op, false, a, evalWith(e.y, reg))
	return v
}
