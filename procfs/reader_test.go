package procfs

import (
	"bytes"
	"io"
	"testing"

	"specvma/mm"
)

// manyVMAs returns an address space with n anonymous VMAs that do not merge
// (alternating protections), enough text for several pages, and a gate.
func manyVMAs(t testing.TB, n int) *mm.AddressSpace {
	t.Helper()
	as := mm.New(mm.Config{})
	prot := mm.ProtRead | mm.ProtWrite
	for i := 0; i < n; i++ {
		if _, err := as.Mmap(0, 3*mm.PageSize, prot, mm.MapPrivate|mm.MapAnonymous, nil, 0); err != nil {
			t.Fatal(err)
		}
		prot ^= mm.ProtWrite
	}
	as.SetLayout(mm.Layout{Gate: true})
	return as
}

// TestReadersWholeText: every reader, reading page by page, prints what
// Maps prints, and each page is whole lines of at most PageSize bytes.
func TestReadersWholeText(t *testing.T) {
	as := manyVMAs(t, 400)
	want := Maps(as)
	for _, r := range Readers() {
		f := OpenMaps(as, r)
		var got []byte
		pages := 0
		for {
			pg, err := f.ReadPage()
			if len(pg) > PageSize || (len(pg) > 0 && pg[len(pg)-1] != '\n') {
				t.Fatalf("%s: page %d is %d bytes, ends %q", r, pages, len(pg), pg[max(0, len(pg)-2):])
			}
			if nl := nextLine(as, got, pg); len(pg) > 0 && len(nl) > 0 && len(pg)+len(nl) <= PageSize {
				t.Fatalf("%s: page %d stopped at %d bytes though the next line fits", r, pages, len(pg))
			}
			got = append(got, pg...)
			pages++
			if err == io.EOF {
				break
			}
		}
		if string(got) != want {
			t.Errorf("%s: text differs from Maps", r)
		}
		if pages < 4 {
			t.Errorf("%s: %d pages; want several", r, pages)
		}
		// Small reads return the same bytes (seq_file keeps the rest of a page).
		f.Rewind()
		small, err := io.ReadAll(io.LimitReader(readerOf(f, 100), 1<<30))
		if err != nil || string(small) != want {
			t.Errorf("%s: 100-byte reads differ (err %v)", r, err)
		}
	}
}

// nextLine returns the line that follows got+pg in the whole text ("" at the end).
func nextLine(as *mm.AddressSpace, got, pg []byte) []byte {
	rest := []byte(Maps(as))[len(got)+len(pg):]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		return rest[:i+1]
	}
	return nil
}

// readerOf reads f with n-byte reads.
func readerOf(f *MapsFile, n int) io.Reader {
	return readerFunc(func(p []byte) (int, error) { return f.Read(p[:min(n, len(p))]) })
}

type readerFunc func([]byte) (int, error)

func (r readerFunc) Read(p []byte) (int, error) { return r(p) }

func TestParseReader(t *testing.T) {
	for _, r := range Readers() {
		if got, ok := ParseReader(r.String()); !ok || got != r {
			t.Errorf("ParseReader(%q) = %v, %v", r, got, ok)
		}
	}
	if _, ok := ParseReader("rcu"); ok {
		t.Error(`ParseReader("rcu") accepted`)
	}
}
