package litmus

import (
	"fmt"
	"io"
)

// WriteHerd prints a result in herd7's format: the test line, the final
// states, Ok or No, the witness counts, the model's flags, the condition,
// the observation line and the time. herd's Hash line is left out (it hashes herd's own
// normal form of the test).
func WriteHerd(w io.Writer, r *Result) {
	kind := "Allowed"
	if r.Test.Cond.Kind == "forall" {
		kind = "Required"
	}
	fmt.Fprintf(w, "Test %s %s\n", r.Test.Name, kind)
	fmt.Fprintf(w, "States %d\n", len(r.States))
	for _, s := range r.States {
		fmt.Fprintln(w, s.Text)
	}
	if r.Ok() {
		fmt.Fprintln(w, "Ok")
	} else {
		fmt.Fprintln(w, "No")
	}
	fmt.Fprintln(w, "Witnesses")
	fmt.Fprintf(w, "Positive: %d Negative: %d\n", r.Positive, r.Negative)
	for _, f := range r.Flags {
		fmt.Fprintf(w, "Flag %s\n", f)
	}
	fmt.Fprintf(w, "Condition %s\n", r.Test.Cond)
	fmt.Fprintf(w, "Observation %s %s %d %d\n", r.Test.Name, r.Verdict(), r.Positive, r.Negative)
	fmt.Fprintf(w, "Time %s %.2f\n", r.Test.Name, r.Elapsed.Seconds())
}
