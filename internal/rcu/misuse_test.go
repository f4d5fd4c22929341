package rcu

import (
	"strings"
	"testing"
)

// mustPanic runs f and fails unless it panics with a message containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Fatalf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

// Misuse panics, as sync.Mutex's does: an Unlock with no section open would
// otherwise flip the state to odd and hold every later grace period up; a
// nested Lock would make the next Unlock leave the reader "inside" for good.
func TestMisusePanics(t *testing.T) {
	var d Domain
	r := d.NewReader()
	mustPanic(t, "Unlock outside", r.Unlock)
	r.Lock()
	mustPanic(t, "do not nest", r.Lock)
	mustPanic(t, "Close inside", r.Close)
	r.Unlock()
	if !d.Quiescent() {
		t.Fatal("the refused calls changed the reader's state")
	}
	mustPanic(t, "Unlock outside", r.Unlock)
	r.Close()
}
