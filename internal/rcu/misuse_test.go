package rcu

import (
	"testing"

	"specvma/internal/testsupport"
)

// Misuse panics, as sync.Mutex's does: an Unlock with no section open would
// otherwise flip the state to odd and hold every later grace period up; a
// nested Lock would make the next Unlock leave the reader "inside" for good.
func TestMisusePanics(t *testing.T) {
	var d Domain
	r := d.NewReader()
	testsupport.MustPanic(t, "Unlock outside", r.Unlock)
	r.Lock()
	testsupport.MustPanic(t, "do not nest", r.Lock)
	testsupport.MustPanic(t, "Close inside", r.Close)
	r.Unlock()
	if !d.Quiescent() {
		t.Fatal("the refused calls changed the reader's state")
	}
	testsupport.MustPanic(t, "Unlock outside", r.Unlock)
	r.Close()
}
