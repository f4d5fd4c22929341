package litmus

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// The LKMM's flags (model_lkmm_flags.go): each misuse raises its flag,
// correct tests raise none, and herd's output has a Flag line for each
// between the counts and the condition.
func TestLKMMFlags(t *testing.T) {
	proc := func(params, body string) string { return "P0(" + params + ")\n{\n" + body + "}\n" }
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unbalanced srcu lock", proc("int *x, struct srcu_struct *s", "\tint i;\n\tint r;\n\ti = srcu_read_lock(s);\n\tr = READ_ONCE(*x);\n"), []string{"unbalanced-srcu-lock"}},
		{"other srcu_struct", proc("struct srcu_struct *s, struct srcu_struct *t", "\tint i;\n\ti = srcu_read_lock(s);\n\tsrcu_read_unlock(t, i);\n"), []string{"unbalanced-srcu-lock", "unbalanced-srcu-unlock"}},
		{"two unlocks", proc("struct srcu_struct *s", "\tint i;\n\ti = srcu_read_lock(s);\n\tsrcu_read_unlock(s, i);\n\tsrcu_read_unlock(s, i);\n"), []string{"multiple-srcu-matches"}},
		{"computed index", proc("struct srcu_struct *s", "\tint i;\n\ti = srcu_read_lock(s);\n\tsrcu_read_unlock(s, i + 1);\n"), []string{"bad-srcu-value-match"}},
		{"index in a condition", proc("int *x, struct srcu_struct *s", "\tint i;\n\ti = srcu_read_lock(s);\n\tif (i == 0)\n\t\tWRITE_ONCE(*x, 1);\n\tsrcu_read_unlock(s, i);\n"), []string{"illegal-srcu-cookie-ctrl"}},
		{"srcu grace period in an RCU section", proc("struct srcu_struct *s", "\trcu_read_lock();\n\tsynchronize_srcu(s);\n\trcu_read_unlock();\n"), []string{"invalid-sleep"}},
		{"rcu unlock alone", proc("int *x", "\tWRITE_ONCE(*x, 1);\n\trcu_read_unlock();\n"), []string{"unbalanced-rcu-unlock"}},
		{"rcu lock alone", proc("int *x", "\trcu_read_lock();\n\tWRITE_ONCE(*x, 1);\n"), []string{"unbalanced-rcu-lock"}},
		{"index read but not passed on", proc("int *c, struct srcu_struct *s", "\tint i;\n\ti = srcu_read_lock(s);\n\tWRITE_ONCE(*c, i);\n\tsrcu_read_unlock(s, i);\n") +
			"P1(int *c)\n{\n\tint r;\n\tr = READ_ONCE(*c);\n}\n", []string{"suspicious-srcu-cookie-use"}},
		// The second lock may read the first unlock's write: the index
		// must not flow through an unlock into the next section.
		{"back-to-back sections", proc("struct srcu_struct *s", "\tint i;\n\tint j;\n\ti = srcu_read_lock(s);\n\tsrcu_read_unlock(s, i);\n\tj = srcu_read_lock(s);\n\tsrcu_read_unlock(s, j);\n"), nil},
		{"sections done right", proc("int *x, struct srcu_struct *s", "\tint i;\n\tint r;\n\trcu_read_lock();\n\ti = srcu_read_lock(s);\n\tr = READ_ONCE(*x);\n\tsrcu_read_unlock(s, i);\n\trcu_read_unlock();\n\tsynchronize_srcu(s);\n"), nil},
	}
	for _, c := range cases {
		src := "C flags\n{ c = 5; }\n" + c.src + "exists (c=5)\n"
		r, err := Explore(compileSrc(t, "flags.litmus", src), Options{Model: models["lkmm"]})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(r.Flags, c.want) {
			t.Errorf("%s: flags %v, want %v", c.name, r.Flags, c.want)
		}
		var out bytes.Buffer
		WriteHerd(&out, r)
		for _, f := range c.want {
			if !strings.Contains(out.String(), "Negative: ") || !strings.Contains(out.String(), "\nFlag "+f+"\n") ||
				strings.Index(out.String(), "Flag "+f) > strings.Index(out.String(), "Condition") {
				t.Errorf("%s: no Flag %s line before the condition:\n%s", c.name, f, out.String())
			}
		}
	}
	// No calibration test is flagged but the handoff: in its executions
	// where P2 reads c's initial value, P0's lock and P2's unlock are no
	// section.
	flagged := map[string][]string{"SRCU+sync+read-handoff": {"unbalanced-srcu-lock", "unbalanced-srcu-unlock"}}
	for _, c := range calibration {
		r, err := Explore(loadTest(t, "testdata/kernel/"+c.file+".litmus", nil), Options{Model: models["lkmm"]})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Flags, flagged[c.file]) {
			t.Errorf("%s: flags %v, want %v", c.file, r.Flags, flagged[c.file])
		}
	}
}
