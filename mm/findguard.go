package mm

import "specvma/internal/mmhook"

// The find-contract check (mmhook.Hooks.CheckFind), which runs only when a
// test set Config.Test: the mmap lock pays one nil check for it.

// guardFind wraps find so that the mmap lock can tell, while it runs, that
// the calling goroutine is inside it.
func guardFind[R any](h *mmhook.Hooks, find func(Mapping) (R, bool)) func(Mapping) (R, bool) {
	return func(m Mapping) (R, bool) {
		defer h.EnterFind()()
		return find(m)
	}
}
