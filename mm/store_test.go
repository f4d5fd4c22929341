package mm

import (
	"fmt"
	"testing"
)

// TestStoresPublishOnce (store.go): a change that replaces a range — a
// split, a merge, a MAP_FIXED mmap over a mapping, an munmap of several
// VMAs — is published as one tree version, as the maple tree's range store
// does, so no version a lockless reader can load leaves unmapped an address
// that is mapped both before and after the call. lock_next_vma's gap
// re-lookup trusts exactly that. The planted PublishEachStep (every
// intermediate version published) must break it for the split, the merge
// and the replacement, so the check is not vacuous.
func TestStoresPublishOnce(t *testing.T) {
	const base = 0x10000000
	rw, r := ProtRead|ProtWrite, ProtRead
	anon := MapPrivate | MapAnonymous | MapFixed
	cases := []struct {
		name  string
		setup func(as *AddressSpace) error
		call  func(as *AddressSpace) error
	}{
		{"split", func(as *AddressSpace) error {
			_, err := as.Mmap(base, 3*PageSize, rw, anon, nil, 0)
			return err
		}, func(as *AddressSpace) error { return as.Mprotect(base+PageSize, PageSize, r) }},
		{"merge", func(as *AddressSpace) error {
			if _, err := as.Mmap(base, 3*PageSize, rw, anon, nil, 0); err != nil {
				return err
			}
			return as.Mprotect(base+PageSize, PageSize, r)
		}, func(as *AddressSpace) error { return as.Mprotect(base+PageSize, PageSize, rw) }},
		{"replace", func(as *AddressSpace) error {
			_, err := as.Mmap(base, 3*PageSize, rw, anon, nil, 0)
			return err
		}, func(as *AddressSpace) error {
			_, err := as.Mmap(base+PageSize, PageSize, r, anon, nil, 0)
			return err
		}},
		{"munmap", func(as *AddressSpace) error {
			for i := uint64(0); i < 4; i++ {
				if _, err := as.Mmap(base+i*PageSize, PageSize, []int{rw, r}[i%2], anon, nil, 0); err != nil {
					return err
				}
			}
			return nil
		}, func(as *AddressSpace) error { return as.Munmap(base+PageSize, 2*PageSize) }},
	}
	for _, tc := range cases {
		for _, planted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/planted=%v", tc.name, planted), func(t *testing.T) {
				h := &Hooks{PublishEachStep: planted}
				as := New(Config{Test: h})
				defer as.Exit()
				if err := tc.setup(as); err != nil {
					t.Fatal(err)
				}
				before := mappedPages(as.index.Load())
				var versions []*tree
				h.AfterPublish = func() { versions = append(versions, as.index.Load()) }
				if err := tc.call(as); err != nil {
					t.Fatal(err)
				}
				h.AfterPublish = nil
				after := mappedPages(as.index.Load())
				holes := 0
				for _, v := range versions {
					now := mappedPages(v)
					for p := range before {
						if after[p] && !now[p] {
							holes++
						}
					}
				}
				switch {
				case !planted && holes > 0:
					t.Errorf("%d versions published; %d page(s) mapped before and after were unmapped in one", len(versions), holes)
				case len(versions) == 0:
					t.Errorf("no version published")
				case planted && holes == 0 && tc.name != "munmap":
					t.Errorf("publishing every step left no hole (%d versions): the check is vacuous", len(versions))
				}
			})
		}
	}
}

// mappedPages returns the pages t maps.
func mappedPages(t *tree) map[uint64]bool {
	out := map[uint64]bool{}
	for e := range t.all() {
		for p := e.start; p < e.end; p += PageSize {
			out[p] = true
		}
	}
	return out
}
