package mm

import "specvma/internal/mmhook"

// Test knobs (Config.Test): mmhook.Hooks opens the lockless paths' windows
// to tests and narrows the sequence count; its View lets tests in other
// packages see a VMA's identity and vm_lock_seq, which mm does not export.

// applyTestKnobs is called by New when Config.Test is set.
func (as *AddressSpace) applyTestKnobs(h *mmhook.Hooks) {
	as.lock.hooks = h
	if h.SeqBits > 0 && h.SeqBits < 64 {
		as.lock.seq.mask = 1<<h.SeqBits - 1
	}
	if v := h.View; v != nil {
		v.VMA = func(addr uint64) any {
			if vma := as.findRCU(addr); vma != nil {
				return vma
			}
			return nil
		}
		v.LockSeq = func(vma any) uint64 { return vma.(*VMA).lockSeq.Load() }
		v.EmptyWriteSection = func() {
			as.lock.WriteLock()
			as.lock.WriteUnlock()
		}
	}
}

// hooks returns the test windows, or nil (the production case).
func (as *AddressSpace) hooks() *mmhook.Hooks { return as.cfg.Test }
