package scenario

import (
	"specvma/mm"
	"strings"
	"testing"
)

// TestParseMapsReaderAndQuery: the maps reader and query arguments parse,
// print back in canonical form, and bad ones are refused with the line.
func TestParseMapsReaderAndQuery(t *testing.T) {
	for _, tc := range []struct{ in, canon string }{
		{"maps vmalock", "maps vmalock"},
		{"maps snapshot", "maps snapshot"},
		{"query 0x1000 0", "query 0x1000 0x0"},
		{"query 4096 PROCMAP_QUERY_COVERING_OR_NEXT_VMA|PROCMAP_QUERY_FILE_BACKED_VMA",
			"query 0x1000 PROCMAP_QUERY_COVERING_OR_NEXT_VMA|PROCMAP_QUERY_FILE_BACKED_VMA"},
		{"query 0x1000 0x40", "query 0x1000 0x40"},
	} {
		s, err := ParseString("t.vma", tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := s.Commands[0].String(); got != tc.canon {
			t.Errorf("%q prints as %q, want %q", tc.in, got, tc.canon)
		}
	}
	for _, bad := range []string{"maps rcu", "maps locked extra", "query 0x1000", "query 0x1000 PROCMAP_QUERY_BOGUS", "query zz 0"} {
		if _, err := ParseString("t.vma", "\n"+bad); err == nil || !strings.HasPrefix(err.Error(), "t.vma:2: ") {
			t.Errorf("%q: error %v, want t.vma:2: ...", bad, err)
		}
	}
}

// TestRunQueryAndReaders runs query and every maps reader on the model.
func TestRunQueryAndReaders(t *testing.T) {
	script := `mmap 0x200000000000 0x3000 rw- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
mprotect 0x200000001000 0x1000 r-x
maps locked
maps snapshot
maps vmalock
query 0x200000001000 PROCMAP_QUERY_VMA_EXECUTABLE
query 0x200000000000 PROCMAP_QUERY_VMA_EXECUTABLE
query 0x200000000000 PROCMAP_QUERY_VMA_EXECUTABLE|PROCMAP_QUERY_COVERING_OR_NEXT_VMA
query 0x200000003000 PROCMAP_QUERY_COVERING_OR_NEXT_VMA
query 0 0x80
`
	var out strings.Builder
	if err := Run("t.vma", strings.NewReader(script), NewModel(mm.Config{}), &out); err != nil {
		t.Fatal(err)
	}
	maps := "200000000000-200000001000 rw-p 00000000 00:00 0 \n200000001000-200000002000 r-xp 00000000 00:00 0 \n200000002000-200000003000 rw-p 00000000 00:00 0 \n"
	x := "= 200000001000-200000002000 r-xp 00000000 00:00 0 pagesize=4096 name=- build_id=-\n"
	want := "= 0x200000000000\n= 0\n" + maps + maps + maps + x + "= -ENOENT\n" + x + "= -ENOENT\n= -EINVAL\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
