package uprobes

// Invariants (table.go):
//   - A published *table is immutable: writers build a new one (copy on
//     write) and publish it with one atomic store; readers may walk any
//     version they loaded for as long as they like.
//   - ents is sorted by key with no duplicate keys.
//   - An entry's key is the writer's copy, taken when the uprobe was inserted;
//     the *Uprobe it names may since have died and been reused for another
//     key, which is why readers validate (Registry.Find).

import "specvma/vfs"

// key orders uprobes by inode identity, then offset (the kernel orders by
// inode pointer, then offset).
type key struct {
	id  vfs.InodeID
	off uint64
}

func (a key) less(b key) bool {
	switch {
	case a.id.Dev.Major != b.id.Dev.Major:
		return a.id.Dev.Major < b.id.Dev.Major
	case a.id.Dev.Minor != b.id.Dev.Minor:
		return a.id.Dev.Minor < b.id.Dev.Minor
	case a.id.Ino != b.id.Ino:
		return a.id.Ino < b.id.Ino
	}
	return a.off < b.off
}

type entry struct {
	k key
	u *Uprobe
}

type table struct {
	ents []entry
}

// search returns the index of the first entry whose key is not less than k.
func (t *table) search(k key) int {
	if t == nil {
		return 0
	}
	lo, hi := 0, len(t.ents)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.ents[m].k.less(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find returns the uprobe the table maps k to, or nil.
func (t *table) find(k key) *Uprobe {
	if t == nil {
		return nil
	}
	if i := t.search(k); i < len(t.ents) && t.ents[i].k == k {
		return t.ents[i].u
	}
	return nil
}

func (t *table) len() int {
	if t == nil {
		return 0
	}
	return len(t.ents)
}

// with returns a new table with k mapped to u; k must be absent.
func (t *table) with(k key, u *Uprobe) *table {
	i := t.search(k)
	n := make([]entry, 0, t.len()+1)
	if t != nil {
		n = append(n, t.ents[:i]...)
	}
	n = append(n, entry{k, u})
	if t != nil {
		n = append(n, t.ents[i:]...)
	}
	return &table{ents: n}
}

// without returns a new table without the entry for k naming u, and whether
// there was one.
func (t *table) without(k key, u *Uprobe) (*table, bool) {
	i := t.search(k)
	if i >= t.len() || t.ents[i].k != k || t.ents[i].u != u {
		return t, false
	}
	n := make([]entry, 0, len(t.ents)-1)
	n = append(n, t.ents[:i]...)
	n = append(n, t.ents[i+1:]...)
	return &table{ents: n}, true
}
