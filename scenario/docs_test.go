package scenario

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"specvma/mm"
)

// docExample is a script in docs/scenario.md and what it must print.
type docExample struct {
	line          int // where the script's fence opens
	script        string
	echo          bool
	output, error string
	isError       bool
}

// docExamples reads the fenced blocks of a markdown file: each ```vma
// block (```vma echo for a transcript) is paired with the ```output or
// ```error block right after it.
func docExamples(t *testing.T, path string) []docExample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	type block struct {
		info, body string
		line       int
	}
	var blocks []block
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		bl := block{info: strings.TrimPrefix(lines[i], "```"), line: i + 1}
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			bl.body += lines[i] + "\n"
		}
		blocks = append(blocks, bl)
	}
	var out []docExample
	for i, bl := range blocks {
		if bl.info != "vma" && bl.info != "vma echo" {
			continue
		}
		if i+1 >= len(blocks) || (blocks[i+1].info != "output" && blocks[i+1].info != "error") {
			t.Errorf("%s:%d: a vma block must be followed by an output or error block", path, bl.line)
			continue
		}
		ex := docExample{line: bl.line, script: bl.body, echo: bl.info == "vma echo"}
		if next := blocks[i+1]; next.info == "error" {
			ex.isError, ex.error = true, strings.TrimSuffix(next.body, "\n")
		} else {
			ex.output = next.body
		}
		out = append(out, ex)
	}
	return out
}

// TestDocExamples runs every script in docs/scenario.md and the README
// through the model and compares what it prints, or the error it stops
// with, with the block below it, so that the docs cannot drift from the
// code.
func TestDocExamples(t *testing.T) {
	for doc, least := range map[string]int{"../docs/scenario.md": 10, "../README.md": 1} {
		exs := docExamples(t, doc)
		if len(exs) < least {
			t.Fatalf("%s: only %d examples", doc, len(exs))
		}
		checkDocExamples(t, doc, exs)
	}
}

func checkDocExamples(t *testing.T, doc string, exs []docExample) {
	for _, ex := range exs {
		s, err := ParseString("example.vma", ex.script)
		var out strings.Builder
		if err == nil {
			s.Echo = ex.echo
			err = s.Run(NewModel(mm.Config{}), &out)
		}
		switch {
		case ex.isError && err == nil:
			t.Errorf("%s:%d: ran without error, want %q", doc, ex.line, ex.error)
		case ex.isError && err.Error() != ex.error:
			t.Errorf("%s:%d: error\n  %v\nwant\n  %s", doc, ex.line, err, ex.error)
		case ex.isError && out.Len() > 0:
			t.Errorf("%s:%d: printed %q before the parse error", doc, ex.line, out.String())
		case !ex.isError && err != nil:
			t.Errorf("%s:%d: %v", doc, ex.line, err)
		case !ex.isError:
			if got := normalizeMaps(out.String()); got != ex.output {
				t.Errorf("%s:%d: output differs\n%s", doc, ex.line, lineDiff(got, ex.output))
			}
		}
	}
}

// TestDocCoversCommands checks that docs/scenario.md has a section for
// every command the parser knows. A new command needs one: "### KEYWORD
// ARGS", saying what it does and what it prints.
func TestDocCoversCommands(t *testing.T) {
	b, err := os.ReadFile("../docs/scenario.md")
	if err != nil {
		t.Fatal(err)
	}
	for op, name := range opNames {
		re := regexp.MustCompile(`(?m)^### ` + regexp.QuoteMeta(name) + `( |$)`)
		if !re.Match(b) {
			t.Errorf("docs/scenario.md has no section \"### %s ...\" for command %v", name, op)
		}
	}
}
