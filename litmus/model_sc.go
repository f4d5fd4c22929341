package litmus

// sc is sequential consistency: one interleaving of all accesses, each
// read seeing the latest write (Lamport). Axiom: acyclic po ∪ rf ∪ co ∪ fr,
// and no write between the halves of an RMW.
type scModel struct{}

func init() { registerModel(scModel{}) }

func (scModel) Name() string { return "sc" }

func (scModel) Describe() string { return "sequential consistency: acyclic(po | rf | co | fr)" }

func (scModel) Check(g *graph) string {
	if !g.atomicityOK() {
		return "atomic"
	}
	if !acyclic(union(g.po, g.com())) {
		return "sc"
	}
	return ""
}

func (scModel) Preserved(g *graph) *rel { return g.po }
