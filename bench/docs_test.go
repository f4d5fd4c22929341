package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// jsonKeys lists the JSON key paths of t, as docs/bench-json.md writes
// them: "results[].hits_per_sec", "live.methods[].agree".
func jsonKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			out = append(out, jsonKeys(f.Type, prefix)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + name
		out = append(out, path)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, jsonKeys(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, jsonKeys(ft.Elem(), path+"[].")...)
		}
	}
	return out
}

// TestJSONDoc checks docs/bench-json.md against the code: the keys its
// tables document are exactly the keys a Report has, and its example
// decodes into a Report with no unknown key and encodes back the same.
func TestJSONDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/bench-json.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_0-9.\\[\\]]+)` \\|").FindAllSubmatch(b, -1) {
		documented = append(documented, string(m[1]))
	}
	keys := jsonKeys(reflect.TypeFor[Report](), "")
	for _, k := range keys {
		if !slices.Contains(documented, k) {
			t.Errorf("docs/bench-json.md does not document key %s", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(keys, k) {
			t.Errorf("docs/bench-json.md documents %s, which a Report does not have", k)
		}
	}
	_, rest, ok := bytes.Cut(b, []byte("```json\n"))
	example, _, ok2 := bytes.Cut(rest, []byte("```"))
	if !ok || !ok2 {
		t.Fatal("docs/bench-json.md has no json example")
	}
	dec := json.NewDecoder(bytes.NewReader(example))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("example: %v", err)
	}
	if len(rep.Results) == 0 || len(rep.Targets) == 0 || rep.Results[0].Strategy != MMSeq {
		t.Fatalf("example decoded to %+v", rep)
	}
	again, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	if json.Unmarshal(example, &x) != nil || json.Unmarshal(again, &y) != nil || !reflect.DeepEqual(x, y) {
		t.Errorf("example does not survive a round trip:\n%s\nbecame\n%s", example, again)
	}
}
