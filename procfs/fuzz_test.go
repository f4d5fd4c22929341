package procfs

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sampleEntries returns n lines of sampleMaps from its middle.
func sampleEntries(n int) []Entry {
	entries, err := ParseString(sampleMaps)
	if err != nil {
		panic(err)
	}
	return entries[10 : 10+n]
}

// FuzzParse feeds Parse arbitrary text. It must never panic; Parse
// (streamed) and ParseString (in memory) must agree; an error must
// be a *SyntaxError naming a line of the text; parsed entries must print
// (Format) to text that parses back to the same entries; and LoadFrom must
// either fail naming a line or build a model that prints that same text.
func FuzzParse(f *testing.F) {
	// Small seeds: the fuzzer minimises every interesting input, which is
	// slow for a long text.
	for line := range strings.Lines(sampleMaps) {
		f.Add(line)
	}
	f.Add(Format(sampleEntries(5)))
	f.Add("")
	f.Add("\n")
	f.Add("00400000-00401000 r--p 00000000 00:00 0 ")
	f.Add("00400000-00401000 r--p 00000000 00:00 0 \n00400000-00401000 r--p 00000000 00:00 0 \n")
	f.Add("400000-401000 r-xp 1000 8:1 1234 /usr/bin/true")
	f.Add("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n")
	f.Add("00400000-00401000 rw-p 00000000 00:00 0                                  [anon:x]\n" +
		"7ffe63286000-7ffe632a7000 rw-p 00000000 00:00 0                          [stack]\n")
	f.Add("00400000-00401000 rw-s 00000000 00:01 12                                 /dev/zero (deleted)")
	f.Add("0-1 rwxs ffffffffffffffff ffffffff:ffffffff 18446744073709551615 \x00\xff")
	f.Fuzz(func(t *testing.T, text string) {
		entries, err := ParseString(text)
		if streamed, err2 := Parse(strings.NewReader(text)); fmt.Sprint(err2) != fmt.Sprint(err) || !slices.Equal(streamed, entries) {
			t.Fatalf("Parse (streamed): %v, %v; ParseString: %v, %v", streamed, err2, entries, err)
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
			if se.Line < 1 || se.Line > strings.Count(text, "\n")+1 {
				t.Fatalf("error %q names line %d of a %d-line text", err, se.Line, strings.Count(text, "\n")+1)
			}
			return
		}
		out := Format(entries)
		again, err := ParseString(out)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%q", err, out)
		}
		if len(entries) != len(again) || (len(entries) > 0 && !reflect.DeepEqual(entries, again)) {
			t.Fatalf("entries changed through Format:\n%+v\n%+v", entries, again)
		}
		as, err := LoadFrom(entries)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || le.Line < 1 || le.Line > len(entries)+1 {
				t.Fatalf("LoadFrom error %q does not name a line", err)
			}
			return
		}
		if got := Maps(as); got != out {
			t.Fatalf("model prints\n%q\nfor\n%q", got, out)
		}
		release(as)
	})
}
