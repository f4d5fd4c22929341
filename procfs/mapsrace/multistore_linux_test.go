//go:build linux

package mapsrace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"specvma/errno"
	"specvma/internal/cbuild"
	"specvma/internal/testsupport"
	"specvma/mm"
	"specvma/procfs"
)

// mremapChildC moves a mapping onto another with MREMAP_FIXED, again and
// again: dst is mapped before and after every call, and src is mapped
// again after each move. Inside the call Linux unmaps dst (one tree
// store) before it stores the moved VMA there (another).
const mremapChildC = `#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
	long len = atol(argv[1]) * 4096;
	char *src = (char *)0x100000000000UL, *dst = (char *)0x200000000000UL;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
	if (mmap(dst, len, PROT_READ | PROT_WRITE, flags, -1, 0) == MAP_FAILED) { perror("mmap dst"); return 1; }
	if (mmap(src, len, PROT_READ | PROT_WRITE, flags, -1, 0) == MAP_FAILED) { perror("mmap src"); return 1; }
	printf("ready\n"); fflush(stdout);
	for (long n = 1;; n++) {
		src[0] = 1; /* a page to move */
		if (mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == MAP_FAILED) { perror("mremap"); return 1; }
		if (mmap(src, len, PROT_READ | PROT_WRITE, flags, -1, 0) == MAP_FAILED) { perror("mmap src again"); return 1; }
		if (n % 4096 == 0 && getppid() == 1) return 0;
	}
}
`

const (
	mremapSrc   = 0x100000000000
	mremapDst   = 0x200000000000
	mremapPages = 4
)

// TestLiveMremapFixedGap shows on the running kernel what procfs's doc
// says of calls made of several tree stores: a child moves a mapping onto
// dst with MREMAP_FIXED in a loop, so dst is mapped before and after every
// call, while the test asks PROCMAP_QUERY for dst exactly and reads the
// maps text. Every answer must be the mapping at dst whole, or nothing
// (ENOENT, no line): a lockless reader between the call's unmap of dst and
// its store of the moved VMA sees dst as a gap. The test reports how often
// each reader saw that gap; it fails on any other answer, and, from Linux
// 6.17 on (maps and PROCMAP_QUERY read under per-VMA locks), when neither
// reader saw the gap in 10 seconds; before 6.17 both read under the mmap
// lock, which keeps the call whole, and a gap fails the test.
func TestLiveMremapFixedGap(t *testing.T) {
	lockless := kernelAtLeast(6, 17)
	bin, err := cbuild.Build(t.TempDir(), "mremapchild", mremapChildC, "-O2")
	if err != nil {
		testsupport.Skip(t, "cannot build the C child: %v", err)
	}
	cmd := exec.Command(bin, fmt.Sprint(mremapPages))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("child: %q %v %s", l, err, stderr.String())
	}
	f, err := os.Open(procfs.MapsPath(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := procfs.QueryLive(f, procfs.Query{Flags: procfs.QueryCoveringOrNext}); err != nil {
		testsupport.Skip(t, "no PROCMAP_QUERY: %v", err)
	}
	want := procfs.Entry{Start: mremapDst, End: mremapDst + mremapPages*procfs.PageSize, Perms: procfs.PermRead | procfs.PermWrite}
	var queries, queryGaps, texts, textGaps int
	deadline := time.Now().Add(10 * time.Second)
	minEach := 500 * time.Millisecond // read at least this long, to count both readers
	start := time.Now()
	for time.Since(start) < minEach || (lockless && queryGaps == 0 && textGaps == 0 && time.Now().Before(deadline)) {
		queries++
		r, err := procfs.QueryLive(f, procfs.Query{Addr: mremapDst})
		switch {
		case errors.Is(err, errno.ENOENT):
			queryGaps++
		case err != nil:
			t.Fatalf("PROCMAP_QUERY at dst: %v (child: %s)", err, stderr.String())
		case r.Start != want.Start || r.End != want.End || r.Flags != procfs.QueryVMAReadable|procfs.QueryVMAWritable:
			t.Fatalf("PROCMAP_QUERY at dst: %+v, want %v", r, want)
		}
		if queries%8 != 0 {
			continue
		}
		texts++
		text, err := procfs.ReadMaps(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for line := range strings.Lines(string(text)) {
			e, err := procfs.ParseLine(line)
			if err != nil {
				t.Fatal(err)
			}
			if e.End > want.Start && e.Start < want.End {
				if e != want {
					t.Fatalf("maps line %q over dst, want %v", line, want)
				}
				found = true
			}
		}
		if !found {
			textGaps++
		}
	}
	t.Logf("PROCMAP_QUERY at dst: %d of %d answers ENOENT; maps text: %d of %d readings without dst's line", queryGaps, queries, textGaps, texts)
	switch {
	case lockless && queryGaps == 0 && textGaps == 0:
		t.Errorf("no reader saw dst unmapped in %v (%d queries, %d texts): the gap between the two stores was never seen", time.Since(start).Round(time.Millisecond), queries, texts)
	case !lockless && queryGaps+textGaps > 0:
		t.Errorf("before 6.17 the readers take the mmap lock, yet dst was seen unmapped")
	}
}

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// TestModelMremapFixedGap is the same on the model: a writer moves a
// mapping onto dst with MREMAP_FIXED in a loop while each maps reader
// reads the text and PROCMAP_QUERY asks for dst. Every answer is the
// mapping at dst whole or nothing. The locked reader, which holds the mmap
// read lock for its page, and the snapshot reader, which validates every
// line and the walk's end against the sequence count, never see dst
// unmapped; PROCMAP_QUERY (per-VMA locks, whatever the reader) and the
// vmalock reader see the gap between the call's two stores as Linux's
// readers do, and must see it within 10 seconds.
func TestModelMremapFixedGap(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs 2 processors: the readers run while the writer is inside its call")
	}
	as := mm.New(mm.Config{})
	defer as.Exit()
	const n = mremapPages * mm.PageSize
	for _, at := range []uint64{mremapDst, mremapSrc} {
		if _, err := as.Mmap(at, n, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if _, err := as.Mremap(mremapSrc, n, n, mm.MremapMayMove|mm.MremapFixed, mremapDst); err != nil {
				done <- err
				return
			}
			if _, err := as.Mmap(mremapSrc, n, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	defer func() {
		stop.Store(true)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	want := procfs.Entry{Start: mremapDst, End: mremapDst + n, Perms: procfs.PermRead | procfs.PermWrite}
	for _, r := range procfs.Readers() {
		var reads, gaps, queries, queryGaps int
		start := time.Now()
		for time.Since(start) < 200*time.Millisecond || (r == procfs.ReadVMALock && (gaps == 0 || queryGaps == 0) && time.Since(start) < 10*time.Second) {
			reads++
			text, _ := procfs.ReadAll(as, r)
			entries, err := procfs.ParseBytes(text)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range entries {
				if e.End > want.Start && e.Start < want.End {
					if e != want {
						t.Fatalf("%v: line %v over dst, want %v", r, e, want)
					}
					found = true
				}
			}
			if !found {
				gaps++
			}
			queries++
			q, err := procfs.OpenMaps(as, r).Query(procfs.Query{Addr: mremapDst})
			switch {
			case errors.Is(err, errno.ENOENT):
				queryGaps++
			case err != nil:
				t.Fatal(err)
			case q.Start != want.Start || q.End != want.End:
				t.Fatalf("query at dst: %+v", q)
			}
		}
		t.Logf("%s: %d of %d readings without dst's line; PROCMAP_QUERY: %d of %d ENOENT", r, gaps, reads, queryGaps, queries)
		switch {
		case r != procfs.ReadVMALock && gaps > 0:
			t.Errorf("%v: %d readings without dst's line: this reader sees each call whole", r, gaps)
		case r == procfs.ReadVMALock && (gaps == 0 || queryGaps == 0):
			t.Errorf("vmalock: the gap between the call's stores not seen (%d readings, %d queries)", gaps, queryGaps)
		}
	}
}
