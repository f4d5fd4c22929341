package kerneltest

import "testing"

func TestNormalize(t *testing.T) {
	w := Window{Base: 0x500000000000, Size: 1 << 30}
	in := "= 0x500000000000\n" +
		"= 0x7f0012345000\n" +
		"= 0\n" +
		"= -ENOMEM\n" +
		"500000000000-500000001000 rw-s 00000000 00:01 4711                       /dev/zero (deleted)\n" +
		"500000001000-500000002000 rw-p 00000000 00:00 0 \n" +
		"7f0012345000-7f0012346000 rw-p 00000000 00:00 0 \n" +
		"500000002000-500000003000 rw-s 00000000 00:01 99                         /dev/zero (deleted)\n" +
		"500000003000-500000004000 rw-s 00001000 00:01 4711                       [anon_shmem:x]\n" +
		"500000004000-500000005000 r--p 00000000 fe:00 4711                       /tmp/f\n"
	want := "= 0x500000000000\n" +
		"= <outside window>\n" +
		"= 0\n" +
		"= -ENOMEM\n" +
		"500000000000-500000001000 rw-s 00000000 00:01 shm1                       /dev/zero (deleted)\n" +
		"500000001000-500000002000 rw-p 00000000 00:00 0 \n" +
		"500000002000-500000003000 rw-s 00000000 00:01 shm2                       /dev/zero (deleted)\n" +
		"500000003000-500000004000 rw-s 00001000 00:01 shm1                       [anon_shmem:x]\n" +
		"500000004000-500000005000 r--p 00000000 fe:00 4711                       /tmp/f\n"
	if got := w.Normalize(in); got != want {
		t.Errorf("Normalize:\n%s\nwant:\n%s", got, want)
	}
	if got := w.Normalize(""); got != "" {
		t.Errorf("Normalize(\"\") = %q", got)
	}
	// A name wider than the header: the kernel then puts one space.
	l := mapsLine{rng: "500000000000-500000001000", perms: "r--p", off: "123456789abc", dev: "1234:5678",
		ino: "12345678901234567890", name: "/x"}
	if got, want := l.String(), "500000000000-500000001000 r--p 123456789abc 1234:5678 12345678901234567890 /x"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestWindowContains(t *testing.T) {
	w := Window{Base: 0x1000, Size: 0x2000}
	for _, c := range []struct {
		addr, n uint64
		want    bool
	}{
		{0x1000, 0x2000, true}, {0x1000, 0x2001, false}, {0xfff, 1, false},
		{0x2fff, 1, true}, {0x3000, 1, false}, {0x2000, ^uint64(0), false},
	} {
		if got := w.Contains(c.addr, c.n); got != c.want {
			t.Errorf("Contains(%#x, %#x) = %v", c.addr, c.n, got)
		}
	}
}
