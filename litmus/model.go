package litmus

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Model is a memory model. An axiomatic one (sc, tso, armv8-ax, lkmm)
// decides which candidate executions are allowed and is run by the
// candidate explorer (explore.go); an operational one (armv8) is a
// transition system the state-space explorer runs (op_explore.go).
type Model interface {
	Name() string
	// Describe says in one line what the model is.
	Describe() string
}

// axiomatic is a model given by axioms over candidate executions.
type axiomatic interface {
	Model
	// Check returns "" if the candidate is allowed, else the name of the
	// axiom it breaks. On a partial candidate (see graph) a non-empty
	// answer means no completion is allowed either.
	Check(g *graph) string
	// Preserved is the program order the model keeps between accesses of
	// one process (its ppo, with fences and annotations): a po edge outside
	// it is a reordering the model allows.
	Preserved(g *graph) *rel
}

var models = map[string]Model{}

func registerModel(m Model) { models[m.Name()] = m }

// ModelByName returns the named model.
func ModelByName(name string) (Model, error) {
	if m, ok := models[name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("unknown model %q (have %s)", name, strings.Join(ModelNames(), ", "))
}

// graceModel is a model that can express RCU grace periods and SRCU: only
// the LKMM. A grace period (synchronize_rcu, synchronize_srcu) is a
// guarantee of the RCU implementation (it waits for every read-side
// critical section that began before it), not of any instruction, and an
// SRCU read-side critical section is defined by the SRCU implementation's
// counters, which no hardware model here runs; so the hardware models
// refuse a test that uses either. rcu_read_lock and rcu_read_unlock alone
// order nothing in hardware (non-preemptible RCU) and are accepted by
// every model.
type graceModel interface{ graces() }

// expressible returns an error naming the first primitive of pg the model
// cannot express.
func expressible(pg *Program, m Model) error {
	if _, ok := m.(graceModel); ok {
		return nil
	}
	for _, pc := range pg.Procs {
		for _, in := range pc.Code {
			why := ""
			switch {
			case in.op == opFence && in.fence == FenceSyncRcu, in.srcu == srcuSync:
				why = "a grace period is a guarantee of the RCU implementation, not of the hardware"
			case in.srcu != srcuNone, in.op == opFence && in.fence == FenceAfterSrcuUnlock:
				why = "SRCU read-side critical sections are defined by the SRCU implementation, not by an instruction"
			default:
				continue
			}
			name, _, _ := strings.Cut(in.Text, "(")
			return &Error{pg.Test.File, in.Line, fmt.Sprintf("the %s model cannot express %s(): %s (use -model lkmm)", m.Name(), name, why)}
		}
	}
	return nil
}

// ModelNames lists the models, sorted.
func ModelNames() []string { return slices.Sorted(maps.Keys(models)) }
