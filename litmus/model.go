package litmus

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Model is a memory model: it decides which candidate executions are
// allowed. Every model here is axiomatic, checked on the same candidates.
type Model interface {
	Name() string
	// Check returns "" if the candidate is allowed, else the name of the
	// axiom it breaks. On a partial candidate (see graph) a non-empty
	// answer means no completion is allowed either.
	Check(g *graph) string
	// Preserved is the program order the model keeps between accesses of
	// one process (its ppo, with fences and annotations): a po edge outside
	// it is a reordering the model allows.
	Preserved(g *graph) *rel
	// Describe says in one line what the model is.
	Describe() string
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
