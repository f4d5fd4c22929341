package mm

import "testing"

// Under OvercommitNever the commit limit is the machine's: what the rest of
// it has committed (CommittedAS) and every address space of one Machine
// count together, and what one address space gives back another can take.
func TestOvercommitNeverMachineWide(t *testing.T) {
	m := NewMachine()
	cfg := Config{Overcommit: OvercommitNever, CommitLimit: 16 * PageSize, CommittedAS: 4 * PageSize, Machine: m}
	a, b := New(cfg), New(cfg)
	const rw = ProtRead | ProtWrite
	const anon = MapPrivate | MapAnonymous | MapFixed
	if _, err := a.Mmap(0x100000000, 8*PageSize, rw, anon, nil, 0); err != nil {
		t.Fatalf("a's 8 pages of 12 left: %v", err)
	}
	if _, err := b.Mmap(0x100000000, 5*PageSize, rw, anon, nil, 0); err != enomem {
		t.Fatalf("b's 5 pages with 4 left: got %v, want ENOMEM", err)
	}
	if _, err := b.Mmap(0x100000000, 4*PageSize, rw, anon, nil, 0); err != nil {
		t.Fatalf("b's 4 pages with 4 left: %v", err)
	}
	if err := a.Munmap(0x100000000, 2*PageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Mmap(0x200000000, 2*PageSize, rw, anon, nil, 0); err != nil {
		t.Fatalf("b's 2 pages after a gave 2 back: %v", err)
	}
	// Without a Machine each address space counts alone (with CommittedAS).
	c := New(Config{Overcommit: OvercommitNever, CommitLimit: 16 * PageSize, CommittedAS: 4 * PageSize})
	if _, err := c.Mmap(0x100000000, 12*PageSize, rw, anon, nil, 0); err != nil {
		t.Fatalf("c alone, 12 of 12: %v", err)
	}
	if _, err := c.Mmap(0x200000000, PageSize, rw, anon, nil, 0); err != enomem {
		t.Fatalf("c past its limit: got %v, want ENOMEM", err)
	}
}
