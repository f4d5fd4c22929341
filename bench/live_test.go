package bench

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"specvma/procfs"
	"specvma/vfs"
)

func TestLiveAgree(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := RunLive(LiveOptions{}); err == nil {
			t.Fatal("RunLive succeeded off Linux")
		}
		t.Skip("the live workload needs Linux")
	}
	res, err := RunLive(LiveOptions{Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	res.WriteTable(&buf)
	t.Logf("\n%s", buf.String())

	if res.PID <= 0 || res.VMAs == 0 || res.Addresses < 3*res.VMAs {
		t.Fatalf("pid %d, %d VMAs, %d addresses", res.PID, res.VMAs, res.Addresses)
	}
	if len(res.Methods) != 3 {
		t.Fatalf("%d methods, want 3", len(res.Methods))
	}
	for _, m := range res.Methods {
		if !m.Available {
			if m.Name != LiveProcmapQuery {
				t.Errorf("%s unavailable: %s", m.Name, m.Note)
			} else {
				t.Logf("%s unavailable: %s", m.Name, m.Note)
			}
			continue
		}
		if !m.Agree {
			t.Errorf("%s disagrees", m.Name)
		}
		if m.Lookups < res.Addresses || m.NsPerLookup <= 0 {
			t.Errorf("%s: %d lookups at %.1f ns", m.Name, m.Lookups, m.NsPerLookup)
		}
		if !strings.Contains(buf.String(), m.Name) {
			t.Errorf("table lacks %s", m.Name)
		}
	}
	if len(res.Mismatches) > 0 {
		t.Errorf("mismatches:\n%s", strings.Join(res.Mismatches, "\n"))
	}
}

func TestLiveLookupsCap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the live workload needs Linux")
	}
	res, err := RunLive(LiveOptions{Lookups: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Methods {
		if m.Available && m.Lookups != res.Addresses {
			t.Errorf("%s: %d lookups, want one pass of %d", m.Name, m.Lookups, res.Addresses)
		}
	}
}

const liveMapsText = `555555554000-555555556000 r--p 00000000 08:01 1234 /usr/bin/sleep
555555556000-55555555a000 r-xp 00002000 08:01 1234 /usr/bin/sleep
55555555c000-55555557d000 rw-p 00000000 00:00 0 [heap]
7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0 [vvar]
7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
`

func TestLiveBatchAndScan(t *testing.T) {
	entries, err := procfs.ParseString(liveMapsText)
	if err != nil {
		t.Fatal(err)
	}
	addrs := liveBatch(entries)
	// Holes before each of the first, third, fourth and fifth VMAs, three
	// addresses for each VMA but the gate, and two more.
	if want := 3*4 + 3*5 + 2; len(addrs) != want {
		t.Fatalf("%d addresses, want %d: %#x", len(addrs), want, addrs)
	}
	as, err := procfs.LoadFrom(entries)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Exit()
	for _, a := range addrs {
		want := liveWant(entries, a)
		got, err := scanMaps([]byte(liveMapsText), a)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%#x: scan says %v, want %v", a, got, want)
		}
		if m := modelLookup(as, a); m != want {
			t.Errorf("%#x: model says %v, want %v", a, m, want)
		}
	}
	exe := liveAnswer{kind: liveFile, path: "/usr/bin/sleep", dev: vfs.Dev{Major: 8, Minor: 1}, ino: 1234, off: 0x2000 + 0x10}
	if got, _ := scanMaps([]byte(liveMapsText), 0x555555556010); got != exe {
		t.Errorf("text: %v, want %v", got, exe)
	}
	if got := modelLookup(as, 0x555555556010); got != exe {
		t.Errorf("model: %v, want %v", got, exe)
	}
	for _, a := range []uint64{0x55555555c000, 0x7ffff7fc1000} {
		if got := modelLookup(as, a); got.kind != liveNoFile {
			t.Errorf("model %#x: %v, want no file", a, got)
		}
	}
	if got := modelLookup(as, 0xffffffffff600000); got.kind != liveUnmapped {
		t.Errorf("model gate: %v, want unmapped", got)
	}
}

func TestLiveCompare(t *testing.T) {
	addrs := []uint64{0x1000, 0x2000}
	file := liveAnswer{kind: liveFile, path: "/x", ino: 7, off: 0x10}
	methods := []LiveMethod{{Name: "a", Available: true}, {Name: "b"}, {Name: "c", Available: true}}
	answers := [][]liveAnswer{
		{file, {}},
		{{}, {kind: liveNoFile}}, // unavailable: ignored
		{file, {}},
	}
	if bad := liveCompare(addrs, methods, answers, 10); len(bad) != 0 || !methods[0].Agree || !methods[2].Agree {
		t.Fatalf("agreeing answers: %v %+v", bad, methods)
	}
	answers[2][0].off = 0x20
	bad := liveCompare(addrs, methods, answers, 10)
	if len(bad) != 1 || methods[0].Agree || methods[2].Agree || methods[1].Agree {
		t.Fatalf("one mismatch: %v %+v", bad, methods)
	}
	if !strings.HasPrefix(bad[0], "0x1000: a=/x 00:00 7 +0x10, c=/x 00:00 7 +0x20") {
		t.Errorf("mismatch line %q", bad[0])
	}
}
