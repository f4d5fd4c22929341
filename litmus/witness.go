package litmus

import (
	"fmt"
	"io"
	"strings"
)

// Witness is one allowed execution that meets the condition, in words:
// what each process did (which write each read took its value from), the
// coherence order where there was a choice, and the program-order pairs
// the model let go out of order to make the outcome possible.
type Witness struct {
	Lines []string
}

// Write prints the witness.
func (w *Witness) Write(out io.Writer) {
	for _, l := range w.Lines {
		fmt.Fprintln(out, l)
	}
}

func (x *explorer) evText(e *Event) string {
	if e.isInit() {
		return fmt.Sprintf("the initial value %s=%s", x.pg.Vars[e.Loc], valueText(x.pg, e.Val))
	}
	return fmt.Sprintf("P%d's %s (%s)", e.Proc, e.Ins.Text, e.Ins.Where)
}

func accessKind(e *Event) string {
	if e.Write {
		return "store"
	}
	return "load"
}

func (x *explorer) witness(g *graph, co [][]int, vals []int64) *Witness {
	w := &Witness{}
	add := func(format string, args ...any) { w.Lines = append(w.Lines, fmt.Sprintf(format, args...)) }
	add("Witness under %s: final state %s", x.opt.Model.Name(), stateText(x.pg, x.observed, vals))
	for p := range x.pg.Procs {
		add("P%d:", p)
		for i := range g.ev {
			e := &g.ev[i]
			if e.Proc != p {
				continue
			}
			for _, f := range g.fences {
				if f.proc == p && f.pos == e.Po && f.ins.op == opFence {
					name := f.kind.String() + "()"
					if f.ins.addr != nil { // synchronize_srcu(s): name its srcu_struct
						name = f.ins.Text
					}
					add("  %-40s %s", name, f.ins.Where)
				}
			}
			v := x.pg.Vars[e.Loc]
			if e.Write {
				add("  %-40s %s: writes %s=%s", e.Ins.Text, e.Ins.Where, v, valueText(x.pg, e.Val))
			} else {
				add("  %-40s %s: reads %s=%s from %s", e.Ins.Text, e.Ins.Where, v, valueText(x.pg, e.Val), x.evText(&g.ev[g.rf[i]]))
			}
		}
	}
	for l, ws := range co {
		if len(ws) <= 2 {
			continue
		}
		var parts []string
		for _, id := range ws {
			e := &g.ev[id]
			if e.isInit() {
				parts = append(parts, "init "+valueText(x.pg, e.Val))
			} else {
				parts = append(parts, fmt.Sprintf("P%d %s: %s", e.Proc, e.Ins.Where, valueText(x.pg, e.Val)))
			}
		}
		add("Coherence order of %s: %s", x.pg.Vars[l], strings.Join(parts, " -> "))
	}
	cyc := shortestCycle(union(g.po, g.com()))
	if cyc == nil {
		add("No reordering needed: the execution is sequentially consistent.")
		return w
	}
	kept := x.ax.Preserved(g)
	var reord []string
	for k := range cyc {
		a, b := cyc[k], cyc[(k+1)%len(cyc)]
		if !g.po.has(a, b) {
			continue
		}
		ea, eb := &g.ev[a], &g.ev[b]
		if kept.has(a, b) {
			continue
		}
		reord = append(reord, fmt.Sprintf("  P%d: %s %s (%s) may take effect after the later %s %s (%s): %s does not order this %s->%s pair",
			ea.Proc, accessKind(ea), ea.Ins.Text, ea.Ins.Where, accessKind(eb), eb.Ins.Text, eb.Ins.Where,
			x.opt.Model.Name(), accessKind(ea), accessKind(eb)))
	}
	if len(reord) == 0 {
		add("Not sequentially consistent, with every program-order pair on the cycle kept in order: %s allows it through a read of a process's own write before other CPUs see it, or non-multicopy-atomic propagation.", x.opt.Model.Name())
		return w
	}
	add("Reordering that allows it (a cycle in program order and communication otherwise):")
	w.Lines = append(w.Lines, reord...)
	return w
}
