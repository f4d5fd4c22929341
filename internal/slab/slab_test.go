package slab

import "testing"

func TestFreedObjectsAreReusedAtOnce(t *testing.T) {
	var c Cache[int]
	a := c.Alloc()
	*a = 7
	c.Free(a)
	b := c.Alloc()
	if b != a {
		t.Fatal("the freed object was not handed out again")
	}
	if *b != 7 {
		t.Fatal("Alloc cleared the object; callers reinitialise it")
	}
	d := c.Alloc()
	if d == a {
		t.Fatal("one object handed out twice")
	}
	live, created, reused := c.Stats()
	if live != 2 || created != 2 || reused != 1 {
		t.Fatalf("stats %d %d %d, want 2 2 1", live, created, reused)
	}
}
