package litmus

import (
	"bytes"
	"strings"
	"testing"
)

// The three condition kinds, !=, ~ and \/, and the Ok line herd prints for
// each, on message passing without barriers.
func TestConditions(t *testing.T) {
	body := goodMP[:strings.Index(goodMP, "exists")]
	cases := []struct {
		cond, model string
		verdict     string
		ok          bool
		first       string
	}{
		{`exists (1:r0=1 /\ 1:r1=0)`, "lkmm", "Sometimes", true, "Allowed"},
		{`exists (1:r0!=0 /\ ~1:r1=1)`, "lkmm", "Sometimes", true, "Allowed"},
		{`~exists (1:r0=1 /\ 1:r1=0)`, "lkmm", "Sometimes", false, "Allowed"},
		{`~exists (1:r0=1 /\ 1:r1=0)`, "sc", "Never", true, "Allowed"},
		{`forall (1:r0=0 \/ 1:r1=1)`, "sc", "Always", true, "Required"},
		{`forall (1:r0=0 \/ 1:r1=1)`, "armv8", "Sometimes", false, "Required"},
		{`exists (x=1 /\ y=1)`, "lkmm", "Always", true, "Allowed"},
	}
	for _, c := range cases {
		tst, err := Parse("c.litmus", body+c.cond+"\n")
		if err != nil {
			t.Fatal(err)
		}
		pg, err := Compile(tst, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Explore(pg, Options{Model: models[c.model]})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		WriteHerd(&out, r)
		if r.Verdict() != c.verdict || r.Ok() != c.ok || !strings.HasPrefix(out.String(), "Test MP "+c.first) {
			t.Errorf("%s under %s: %s ok=%v\n%s", c.cond, c.model, r.Verdict(), r.Ok(), out.String())
		}
		if !strings.Contains(out.String(), "Condition "+c.cond+"\n") {
			t.Errorf("condition printed differently:\n%s", out.String())
		}
	}
}
