package mm

import (
	"bytes"
	"runtime"
	"strconv"
)

// Test support behind Hooks: the ordering hooks of the mmap lock and the
// find-contract check (Hooks.CheckFind). None of it runs unless a test set
// Config.Hooks; the mmap lock pays one nil check for it.

// guardFind wraps find so that the mmap lock can tell, while it runs, that
// the calling goroutine is inside it.
func guardFind[R any](h *Hooks, find func(Mapping) (R, bool)) func(Mapping) (R, bool) {
	return func(m Mapping) (R, bool) {
		id := goid()
		h.inFind.Store(id, struct{}{})
		defer h.inFind.Delete(id)
		return find(m)
	}
}

// checkNotInFind panics when the calling goroutine is inside a checked find.
func (h *Hooks) checkNotInFind() {
	if !h.CheckFind {
		return
	}
	if _, in := h.inFind.Load(goid()); in {
		panic("mm: a Resolve find callback took an mmap lock (it must not block or take address-space locks)")
	}
}

func (h *Hooks) inWriteLock() {
	if h != nil && h.InWriteLock != nil {
		h.InWriteLock()
	}
}

func (h *Hooks) inWriteUnlock() {
	if h != nil && h.InWriteUnlock != nil {
		h.InWriteUnlock()
	}
}

// goid returns the calling goroutine's id, read from its stack header
// ("goroutine 42 [running]:"). Slow; tests only.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("mm: cannot read the goroutine id: " + err.Error())
	}
	return id
}
