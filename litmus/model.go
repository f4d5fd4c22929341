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

// ModelNames lists the models, sorted.
func ModelNames() []string { return slices.Sorted(maps.Keys(models)) }
