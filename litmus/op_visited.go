package litmus

import (
	"encoding/binary"
	"hash/maphash"
)

// The operational explorer's visited set, kept small: it holds every
// distinct machine state of a run (1.4 million for the 4-bit wraparound
// at 15 rounds), so its size is the explorer's memory.
//
// A state's key (encodeState) holds only what the rest of the state is a
// function of: per process the guessed path, the done set, and for each
// performed access the write a load read or a store's place in its
// location's coherence order. Register values, stored values and the
// memory (each location's last write, its value and its count of writes)
// are all computed from those by the same deterministic steps in any
// state that has them — the data flow of a reachable state is acyclic,
// each value coming from instances performed or computed before it — so
// two states with equal keys are equal states, and the explorer expands
// exactly the states it would expand keyed by everything
// (TestOpCompactKeys runs both keys and compares the counts).
//
// keySet stores the keys back to back in large byte chunks and indexes
// them with an open-addressing table of 8-byte slots, instead of one heap
// string per key in a Go map.

type keySet struct {
	hash   func([]byte) uint64
	chunks [][]byte
	slots  []uint64 // 0: empty; else tag<<40 | (offset+1)
	n      int
}

const (
	keyChunk = 1 << 20
	offBits  = 40
	offMask  = 1<<offBits - 1
)

func newKeySet() *keySet {
	seed := maphash.MakeSeed()
	return &keySet{hash: func(b []byte) uint64 { return maphash.Bytes(seed, b) }, slots: make([]uint64, 1024)}
}

// key returns the stored key at offset off.
func (ks *keySet) key(off uint64) []byte {
	c := ks.chunks[off/keyChunk]
	o := off % keyChunk
	n, k := binary.Uvarint(c[o:])
	o += uint64(k)
	return c[o : o+n]
}

func tagOf(h uint64) uint64 { return h >> offBits } // the hash's top 24 bits

// insert adds key and reports whether it was new.
func (ks *keySet) insert(key []byte) bool {
	h := ks.hash(key)
	mask := uint64(len(ks.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := ks.slots[i]
		if sl == 0 {
			break
		}
		if sl>>offBits == tagOf(h) && string(ks.key(sl&offMask-1)) == string(key) {
			return false
		}
	}
	if 4*(ks.n+1) > 3*len(ks.slots) {
		ks.grow()
		mask = uint64(len(ks.slots) - 1)
	}
	off := ks.store(key)
	for i := h & mask; ; i = (i + 1) & mask {
		if ks.slots[i] == 0 {
			ks.slots[i] = tagOf(h)<<offBits | (off + 1)
			break
		}
	}
	ks.n++
	return true
}

// store appends key (length-prefixed) to the chunks and returns its offset.
func (ks *keySet) store(key []byte) uint64 {
	need := binary.MaxVarintLen64 + len(key)
	if need > keyChunk {
		panic("litmus: state key longer than a key chunk") // keys are bounded by maxInstrs
	}
	last := len(ks.chunks) - 1
	if last < 0 || len(ks.chunks[last])+need > keyChunk {
		ks.chunks = append(ks.chunks, make([]byte, 0, keyChunk))
		last++
	}
	c := ks.chunks[last]
	off := uint64(last)*keyChunk + uint64(len(c))
	c = binary.AppendUvarint(c, uint64(len(key)))
	ks.chunks[last] = append(c, key...)
	return off
}

func (ks *keySet) grow() {
	old := ks.slots
	ks.slots = make([]uint64, 2*len(old))
	mask := uint64(len(ks.slots) - 1)
	for _, sl := range old {
		if sl == 0 {
			continue
		}
		h := ks.hash(ks.key(sl&offMask - 1))
		for i := h & mask; ; i = (i + 1) & mask {
			if ks.slots[i] == 0 {
				ks.slots[i] = sl
				break
			}
		}
	}
}

// encodeState appends the compact key of s (see above).
func (x *opExplorer) encodeState(s *opState, b []byte) []byte {
	for p := range s.th {
		t := &s.th[p]
		path := x.paths[p][t.path]
		b = binary.AppendUvarint(b, uint64(t.path))
		for k := 0; k < (len(path.insts)+7)/8; k++ {
			b = append(b, byte(t.done[k/8]>>(8*(k%8))))
		}
		for i := range path.insts {
			o := &path.insts[i]
			if !o.isAccess() || !t.done.has(i) {
				continue
			}
			if o.isWrite() {
				b = binary.AppendUvarint(b, uint64(t.wid[i])) // coherence position
				continue
			}
			if w := t.wid[i]; w == 0 {
				b = append(b, 0) // the initial write
			} else {
				wp, wi := splitWID(w)
				b = binary.AppendUvarint(b, uint64(wp+1))
				b = binary.AppendUvarint(b, uint64(wi))
			}
		}
	}
	return b
}
