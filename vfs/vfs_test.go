package vfs

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"specvma/errno"
)

func TestFileReuseAndGeneration(t *testing.T) {
	ino := InodeFor(InodeID{Dev: Dev{0, 0x42}, Ino: 9})
	f := NewFile("/x", ino, ORdonly)
	gen := f.Generation()
	f.Get()
	f.Put()
	if f.Refs() != 1 {
		t.Fatalf("refs %d", f.Refs())
	}
	f.Put()
	g := NewFile("/y", InodeFor(InodeID{Dev: Dev{0, 0x42}, Ino: 10}), ORdwr)
	defer g.Put()
	if g != f {
		t.Skip("the cache handed out other memory (another test freed a File meanwhile)")
	}
	if g.Generation() == gen || g.Path() != "/y" || g.Inode().ID().Ino != 10 || !g.Writable() {
		t.Fatalf("reused File not reinitialised: gen %d->%d %q %v", gen, g.Generation(), g.Path(), g.Inode().ID())
	}
}

func TestInodesAreInterned(t *testing.T) {
	id := InodeID{Dev: Dev{8, 1}, Ino: 123}
	if InodeFor(id) != InodeFor(id) {
		t.Fatal("two Inodes for one identity")
	}
	a, b := NewShmemInode(4096), NewShmemInode(4096)
	if a.ID() == b.ID() || a.ID().Dev != ShmemDev || !a.Deleted() {
		t.Fatalf("shmem inodes %v %v", a.ID(), b.ID())
	}
}

func TestOpenPathTakesStatIdentity(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("stat identity is read on Linux only")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenPath(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Put()
	fi, _ := os.Stat(p)
	st := fi.Sys().(*syscall.Stat_t)
	if f.Inode().ID().Ino != st.Ino || f.Inode().Size() != 5000 || !f.Readable() {
		t.Fatalf("identity %v size %d", f.Inode().ID(), f.Inode().Size())
	}
	d, err := OpenPath(dir)
	if err != nil {
		t.Fatalf("a directory opens (read-only): %v", err)
	}
	defer d.Put()
	if d.Inode().Mappable() {
		t.Error("a directory must not be mappable")
	}
	if _, err := OpenPath(filepath.Join(dir, "missing")); err != errno.ENOENT {
		t.Errorf("missing file: %v, want ENOENT", err)
	}
}
