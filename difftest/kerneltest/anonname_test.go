package kerneltest

import (
	"strings"
	"testing"

	"specvma/errno"
	"specvma/mm"
	"specvma/scenario"
)

// expandExpected turns the compact maps lines of an expected output into
// the kernel's layout: "START-END PERMS [NAME]" is anonymous memory (offset
// 0, device 00:00, inode 0); a line with all five fields is kept as is.
// Other lines ("= 0") are unchanged.
func expandExpected(s string) string {
	var b strings.Builder
	for _, line := range lines(strings.TrimSpace(s)) {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) >= 2 && strings.Contains(f[0], "-") && f[0] != "=" {
			var l mapsLine
			if len(f) >= 5 && len(f[2]) == 8 {
				l = mapsLine{rng: f[0], perms: f[1], off: f[2], dev: f[3], ino: f[4]}
				l.name = afterFields(line, 5)
			} else {
				l = mapsLine{rng: f[0], perms: f[1], off: "00000000", dev: "00:00", ino: "0"}
				l.name = afterFields(line, 2)
			}
			line = l.String()
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// afterFields returns what follows the first n space-separated fields.
func afterFields(s string, n int) string {
	for range n {
		s = strings.TrimLeft(s, " ")
		if i := strings.IndexByte(s, ' '); i >= 0 {
			s = s[i:]
		} else {
			return ""
		}
	}
	return strings.TrimLeft(s, " ")
}

// TestAnonNames checks the model's PR_SET_VMA_ANON_NAME against the
// behaviour prctl(2) and Documentation/filesystems/proc.rst describe, since
// the kernel here cannot show it (CONFIG_ANON_VMA_NAME is off):
//
//   - a name shows in maps as [anon:NAME] ([anon_shmem:NAME] for shared
//     anonymous memory, Linux 6.2 and later);
//   - a name is at most 80 bytes including the terminating NUL, so 79
//     characters at most; longer is EINVAL;
//   - names are printable ASCII other than [ ] \ $ and `; anything else is
//     EINVAL;
//   - only anonymous memory can be named; a file mapping is EBADF;
//   - the range follows madvise(2): the start must be page aligned
//     (EINVAL), a zero length does nothing, and a range with unmapped pages
//     names every mapped part and then fails with ENOMEM;
//   - naming part of a VMA splits it, and VMAs that differ only in their
//     name merge when the names become equal; the name "-" in scripts (a
//     NULL name) clears it.
func TestAnonNames(t *testing.T) {
	long79 := strings.Repeat("n", 79)
	cases := []struct {
		name, script, want string
	}{{
		name: "shown",
		script: `
			mmap 0x500000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000000 0x2000 my heap #1
			maps`,
		// "#" starts a comment, so the name is "my heap".
		want: `
			= 0x500000000000
			= 0
			500000000000-500000002000 rw-p [anon:my heap]`,
	}, {
		name: "shared anonymous",
		script: `
			mmap 0x500000000000 0x2000 rw- MAP_SHARED|MAP_ANONYMOUS
			anon_name 0x500000000000 0x1000 shm
			maps`,
		want: `
			= 0x500000000000
			= 0
			500000000000-500000001000 rw-s 00000000 00:01 shm1 [anon_shmem:shm]
			500000001000-500000002000 rw-s 00001000 00:01 shm1 /dev/zero (deleted)`,
	}, {
		name: "length limit",
		script: `
			mmap 0x500000000000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000000 0x1000 ` + long79 + `x
			maps
			anon_name 0x500000000000 0x1000 ` + long79 + `
			maps`,
		want: `
			= 0x500000000000
			= -EINVAL
			500000000000-500000001000 rw-p
			= 0
			500000000000-500000001000 rw-p [anon:` + long79 + `]`,
	}, {
		name: "forbidden characters",
		script: `
			mmap 0x500000000000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000000 0x1000 a[b
			anon_name 0x500000000000 0x1000 a]b
			anon_name 0x500000000000 0x1000 a\b
			anon_name 0x500000000000 0x1000 a$b
			anon_name 0x500000000000 0x1000 a` + "`" + `b
			anon_name 0x500000000000 0x1000 a~!@%^&*()-_=+{}|;:'",.<>/?b
			maps`,
		want: `
			= 0x500000000000
			= -EINVAL
			= -EINVAL
			= -EINVAL
			= -EINVAL
			= -EINVAL
			= 0
			500000000000-500000001000 rw-p [anon:a~!@%^&*()-_=+{}|;:'",.<>/?b]`,
	}, {
		name: "file mappings",
		script: `
			mmap 0x500000000000 0x2000 rw- MAP_PRIVATE $FILE1 0
			mmap 0x500000002000 0x2000 rw- MAP_SHARED $FILE1 0x2000
			anon_name 0x500000000000 0x2000 f
			anon_name 0x500000002000 0x1000 f
			maps`,
		want: `
			= 0x500000000000
			= 0x500000002000
			= -EBADF
			= -EBADF
			500000000000-500000002000 rw-p 00000000 DEV INO $FILE1
			500000002000-500000004000 rw-s 00002000 DEV INO $FILE1`,
	}, {
		name: "arguments",
		script: `
			mmap 0x500000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000800 0x1000 x
			anon_name 0x500000000000 0 x
			anon_name 0x500000000000 0x800 x
			maps`,
		want: `
			= 0x500000000000
			= -EINVAL
			= 0
			= 0
			500000000000-500000001000 rw-p [anon:x]
			500000001000-500000002000 rw-p`,
	}, {
		name: "partly unmapped",
		script: `
			mmap 0x500000001000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			mmap 0x500000003000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000000 0x4000 part
			maps
			anon_name 0x500000010000 0x1000 none
			maps`,
		want: `
			= 0x500000001000
			= 0x500000003000
			= -ENOMEM
			500000001000-500000002000 rw-p [anon:part]
			500000003000-500000004000 rw-p [anon:part]
			500000004000-500000005000 rw-p
			= -ENOMEM
			500000001000-500000002000 rw-p [anon:part]
			500000003000-500000004000 rw-p [anon:part]
			500000004000-500000005000 rw-p`,
	}, {
		name: "split and merge",
		script: `
			mmap 0x500000000000 0x4000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000001000 0x2000 mid
			maps
			anon_name 0x500000001000 0x1000 other
			maps
			anon_name 0x500000001000 0x1000 mid
			maps
			anon_name 0x500000000000 0x1000 mid
			anon_name 0x500000003000 0x1000 mid
			maps
			anon_name 0x500000001000 0x1000 -
			maps
			anon_name 0x500000000000 0x4000 -
			maps`,
		want: `
			= 0x500000000000
			= 0
			500000000000-500000001000 rw-p
			500000001000-500000003000 rw-p [anon:mid]
			500000003000-500000004000 rw-p
			= 0
			500000000000-500000001000 rw-p
			500000001000-500000002000 rw-p [anon:other]
			500000002000-500000003000 rw-p [anon:mid]
			500000003000-500000004000 rw-p
			= 0
			500000000000-500000001000 rw-p
			500000001000-500000003000 rw-p [anon:mid]
			500000003000-500000004000 rw-p
			= 0
			= 0
			500000000000-500000004000 rw-p [anon:mid]
			= 0
			500000000000-500000001000 rw-p [anon:mid]
			500000001000-500000002000 rw-p
			500000002000-500000004000 rw-p [anon:mid]
			= 0
			500000000000-500000004000 rw-p`,
	}, {
		name: "names and other attributes",
		script: `
			mmap 0x500000000000 0x2000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000000 0x2000 a
			mmap 0x500000002000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			mmap 0x500000003000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000003000 0x1000 a
			maps
			mprotect 0x500000001000 0x1000 r--
			maps
			mremap 0x500000000000 0x1000 0x1000 MREMAP_MAYMOVE|MREMAP_FIXED 0x500000010000
			maps`,
		// A new mapping has no name, so it does not merge with a named
		// neighbour (but does with an unnamed one); mprotect and mremap
		// keep the name.
		want: `
			= 0x500000000000
			= 0
			= 0x500000002000
			= 0x500000003000
			= 0
			500000000000-500000002000 rw-p [anon:a]
			500000002000-500000003000 rw-p
			500000003000-500000004000 rw-p [anon:a]
			= 0
			500000000000-500000001000 rw-p [anon:a]
			500000001000-500000002000 r--p [anon:a]
			500000002000-500000003000 rw-p
			500000003000-500000004000 rw-p [anon:a]
			= 0x500000010000
			500000001000-500000002000 r--p [anon:a]
			500000002000-500000003000 rw-p
			500000003000-500000004000 rw-p [anon:a]
			500000010000-500000011000 rw-p [anon:a]`,
	}, {
		name: "not configured",
		// With NoAnonNames the model is a kernel without
		// CONFIG_ANON_VMA_NAME: the prctl is EINVAL, whatever it asks.
		script: `
			mmap 0x500000000000 0x1000 rw- MAP_PRIVATE|MAP_ANONYMOUS
			anon_name 0x500000000000 0x1000 x
			anon_name 0x500000000000 0x1000 -
			maps`,
		want: `
			= 0x500000000000
			= -EINVAL
			= -EINVAL
			500000000000-500000001000 rw-p`,
	}}
	fx := newFixture(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			script := fx.expand(dedent(c.script))
			cfg := mm.Config{NoAnonNames: c.name == "not configured"}
			got := DefaultWindow.Normalize(run(c.name, script, scenario.NewModel(cfg)))
			want := expandExpected(c.want)
			if strings.Contains(want, " DEV INO ") {
				got = maskFileIDs(got)
			}
			want = fx.expand(want)
			if got != want {
				t.Errorf("model differs from Linux's documented behaviour (lines marked !):\n%s",
					sideBySide(transcript(c.name, script, want), transcript(c.name, script, got)))
			}
		})
	}
}

// maskFileIDs replaces the device and inode of file lines by DEV INO.
func maskFileIDs(s string) string {
	var b strings.Builder
	for _, line := range lines(s) {
		if l, ok := parseMapsLine(line); ok && l.dev != "00:00" && l.dev != "00:01" {
			l.dev, l.ino = "DEV", "INO"
			line = l.String()
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// dedent trims each line of a script written inside Go source.
func dedent(s string) string {
	var b strings.Builder
	for _, l := range lines(strings.TrimSpace(s)) {
		b.WriteString(strings.TrimSpace(l) + "\n")
	}
	return b.String()
}

// TestAnonNameCharacters checks each byte value against Linux's rule
// (printable ASCII except [ ] \ $ `), through the Backend directly, so
// that control characters and bytes above 0x7e can be tried too.
func TestAnonNameCharacters(t *testing.T) {
	b := scenario.NewModel(mm.Config{})
	sp, err := b.Space("main")
	if err != nil {
		t.Fatal(err)
	}
	base := DefaultWindow.Base
	if _, err := sp.Mmap(base, mm.PageSize, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous, nil, 0); err != nil {
		t.Fatal(err)
	}
	for c := 1; c < 256; c++ {
		name := "a" + string([]byte{byte(c)}) + "b"
		valid := c >= 0x20 && c <= 0x7e && !strings.ContainsRune("[]\\$`", rune(c))
		err := sp.SetAnonName(base, mm.PageSize, &name)
		switch {
		case valid && err != nil:
			t.Errorf("name %q: %v, want success", name, err)
		case !valid && err != errno.EINVAL:
			t.Errorf("name %q: %v, want EINVAL", name, err)
		}
	}
}
