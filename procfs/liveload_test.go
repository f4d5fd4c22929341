package procfs

import (
	"errors"
	"testing"
)

// TestLoadLiveRetriesTornReadings: a reading whose lines overlap (a VMA
// reported twice) is thrown away and read again; one that stays torn is an
// error, never a result.
func TestLoadLiveRetriesTornReadings(t *testing.T) {
	good, torn, _ := readingsTornFirst(t, 2)
	as, st, err := LoadLive(1, LoadOptions{})
	if err != nil || st.Retries != 2 || st.Entries != 2 {
		t.Fatalf("LoadLive: %v, stats %+v; want 2 retries, 2 entries", err, st)
	}
	if got := Maps(as); got != Format(good) {
		t.Errorf("loaded %q, want %q", got, Format(good))
	}

	readEntriesFn = func(int, LoadOptions) ([]Entry, []byte, error) { return torn, nil, nil }
	if _, st, err := LoadLive(1, LoadOptions{MaxRetries: 5}); err == nil || st.Retries != 6 {
		t.Errorf("always torn: err %v, stats %+v; want an error after 5 retries", err, st)
	}

	readEntriesFn = func(int, LoadOptions) ([]Entry, []byte, error) { return nil, nil, ErrExited }
	if _, _, err := LoadLive(1, LoadOptions{}); !errors.Is(err, ErrExited) {
		t.Errorf("exited: %v", err)
	}
}

// TestLoadTextRetriesTornReadings: LoadText reads a torn text again too,
// and returns the text of the reading it loaded.
func TestLoadTextRetriesTornReadings(t *testing.T) {
	good, _, n := readingsTornFirst(t, 1)
	as, text, err := LoadText(1)
	if err != nil || *n != 2 {
		t.Fatalf("LoadText: %v after %d readings; want the second", err, *n)
	}
	if string(text) != Format(good) || Maps(as) != Format(good) {
		t.Errorf("LoadText: text %q, model %q; want %q", text, Maps(as), Format(good))
	}
}

// readingsTornFirst makes the live reader return a torn reading (a VMA
// reported twice) nTorn times, then a good one, for the rest of the test;
// *n counts the readings made.
func readingsTornFirst(t *testing.T, nTorn int) (good, torn []Entry, n *int) {
	good = []Entry{{Start: 0x1000, End: 0x2000, Perms: PermRead}, {Start: 0x3000, End: 0x5000, Perms: PermRead}}
	torn = []Entry{{Start: 0x1000, End: 0x2000, Perms: PermRead}, {Start: 0x1000, End: 0x5000, Perms: PermRead}}
	old := readEntriesFn
	t.Cleanup(func() { readEntriesFn = old })
	n = new(int)
	readEntriesFn = func(int, LoadOptions) ([]Entry, []byte, error) {
		if *n++; *n <= nTorn {
			return torn, []byte(Format(torn)), nil
		}
		return good, []byte(Format(good)), nil
	}
	return good, torn, n
}
