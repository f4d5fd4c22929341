package procfs

import (
	"errors"
	"strings"
	"testing"

	"specvma/mm"
)

// smapsSample is two VMAs as /proc/PID/smaps prints them (fields cut
// short): private anonymous memory under MADV_DONTFORK and mlock, and
// MADV_WIPEONFORK memory, then [vvar] with the special-mapping flags.
const smapsSample = `7f0000000000-7f0000002000 rw-p 00000000 00:00 0 
Size:                  8 kB
Rss:                   4 kB
VmFlags: rd wr mr mw me lo dc ac 
7f0000002000-7f0000004000 rw-p 00000000 00:00 0 
Size:                  8 kB
VmFlags: rd wr mr mw me ac wf ?? sf 
7ffc00000000-7ffc00004000 r--p 00000000 00:00 0                          [vvar]
Size:                 16 kB
VmFlags: rd mr pf io de dd 
`

// TestParseSmaps: the maps lines come out as Parse gives them, each with
// its VmFlags as vm_flags (unknown mnemonics skipped), and LoadFrom gives
// the VMAs exactly those flags; without them the two anonymous lines
// would be one VMA's worth of identical flags.
func TestParseSmaps(t *testing.T) {
	entries, err := ParseSmaps(strings.NewReader(smapsSample))
	if err != nil {
		t.Fatal(err)
	}
	maps := mustParse(t, "7f0000000000-7f0000002000 rw-p 00000000 00:00 0 \n"+
		"7f0000002000-7f0000004000 rw-p 00000000 00:00 0 \n"+
		"7ffc00000000-7ffc00004000 r--p 00000000 00:00 0                          [vvar]\n")
	base := mm.VMRead | mm.VMMayRead
	anon := base | mm.VMWrite | mm.VMMayWrite | mm.VMMayExec | mm.VMAccount
	want := []mm.VMFlags{anon | mm.VMLocked | mm.VMDontCopy, anon | mm.VMWipeOnFork,
		base | mm.VMPFNMap | mm.VMIO | mm.VMDontExpand | mm.VMDontDump}
	if len(entries) != len(maps) {
		t.Fatalf("%d entries, want %d", len(entries), len(maps))
	}
	for i, e := range entries {
		m := maps[i]
		m.Flags, m.HasFlags = want[i], true
		if e != m {
			t.Errorf("entry %d: %+v, want %+v", i, e, m)
		}
	}
	as, err := LoadFrom(entries)
	if err != nil {
		t.Fatal(err)
	}
	defer release(as)
	for i, v := range as.VMAs() {
		if v.Flags != want[i] {
			t.Errorf("VMA %#x: flags %#x, want %#x", v.Start, v.Flags, want[i])
		}
	}
}

// TestParseSmapsErrors: malformed smaps texts are *SyntaxError with the line.
func TestParseSmapsErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"Size: 4 kB\n", "line 1: a field before the first mapping"},
		{"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \nVmFlags: rd wrx \n", `line 2: VmFlags: bad mnemonic "wrx"`},
		{"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \nVmFlags: rd\n7f00000 rw-p\n", "line 3: "},
	} {
		_, err := ParseSmaps(strings.NewReader(c.text))
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}
