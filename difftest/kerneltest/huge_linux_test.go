//go:build linux && amd64

package kerneltest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hugeLockPath serialises the tests that use huge pages across test
// processes: the pool is the machine's, and two packages' tests (or two
// worktrees' runs) reserving from it at once would see each other.
const hugeLockPath = "/tmp/specvma-hugetlb.lock"

// hugePagesWanted is how many free, unreserved huge pages the sequences
// may use.
const hugePagesWanted = 8

// setupHuge prepares huge pages for a test: it takes the cross-process
// lock, raises vm.nr_hugepages until hugePagesWanted pages are free and
// unreserved, and mounts hugetlbfs on a temporary directory holding an
// empty file, whose path it returns. Cleanup unmounts it, puts
// vm.nr_hugepages back and releases the lock. It returns "" and a reason
// when that cannot be done (not root, no hugetlbfs in this kernel, pages
// not obtainable).
func setupHuge(t *testing.T) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return "", "not root: cannot set vm.nr_hugepages or mount hugetlbfs"
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(fs), "\thugetlbfs\n") {
		return "", "the kernel has no hugetlbfs"
	}
	lock, err := os.OpenFile(hugeLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Sprintf("huge page lock: %v", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		return "", fmt.Sprintf("huge page lock: %v", err)
	}
	t.Cleanup(func() { lock.Close() }) // closing releases the flock
	orig, err := readProcNumber("/proc/sys/vm/nr_hugepages")
	if err != nil {
		return "", err.Error()
	}
	t.Cleanup(func() {
		// Back to what it was; pages still reserved (the kernel leaks some
		// reservations, see mm/hugetlb.go) stay as surplus.
		_ = os.WriteFile("/proc/sys/vm/nr_hugepages", []byte(strconv.FormatUint(orig, 10)), 0)
	})
	if err := topUpHugePages(); err != nil {
		return "", err.Error()
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "hugetlbfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return "", err.Error()
	}
	if err := unix.Mount("none", mnt, "hugetlbfs", 0, ""); err != nil {
		return "", fmt.Sprintf("mount hugetlbfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	file := filepath.Join(mnt, "huge")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644) // hugetlbfs has no write(2)
	if err != nil {
		return "", err.Error()
	}
	f.Close()
	return file, ""
}

// topUpHugePages sets vm.nr_hugepages so that hugePagesWanted huge pages
// are free and unreserved (at least that many, where the kernel will not
// shrink the pool).
func topUpHugePages() error {
	// Pages the kernel still counts as surplus (a leaked reservation's)
	// become persistent first, so it may take more than one step.
	for range 4 {
		free, rsvd := hugeMeminfo()
		avail := free - min(free, rsvd)
		if avail == hugePagesWanted {
			return nil
		}
		// HugePages_Total, not vm.nr_hugepages: it counts the surplus
		// pages that leaked reservations hold too.
		total := hugeTotal()
		want := total + hugePagesWanted - min(avail, total+hugePagesWanted)
		if err := os.WriteFile("/proc/sys/vm/nr_hugepages", []byte(strconv.FormatUint(want, 10)), 0); err != nil {
			return fmt.Errorf("set vm.nr_hugepages: %v", err)
		}
	}
	if avail := hugeAvailable(); avail < hugePagesWanted {
		return fmt.Errorf("only %d free unreserved huge pages after raising vm.nr_hugepages", avail)
	}
	return nil
}

// hugeAvailable is HugePages_Free - HugePages_Rsvd now.
func hugeAvailable() uint64 {
	free, rsvd := hugeMeminfo()
	return free - min(free, rsvd)
}

// resetHugeFile empties the hugetlbfs file, which frees its pages and its
// reservations, so that the kernel run and the model run start alike.
func resetHugeFile(t *testing.T, path string) {
	t.Helper()
	if path == "" {
		return
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := topUpHugePages(); err != nil {
		t.Fatal(err)
	}
}

// hugeTotal is HugePages_Total.
func hugeTotal() uint64 { return hugeCounts()["HugePages_Total"] }

// hugeMeminfo is HugePages_Free and HugePages_Rsvd.
func hugeMeminfo() (free, rsvd uint64) {
	c := hugeCounts()
	return c["HugePages_Free"], c["HugePages_Rsvd"]
}

// hugeCounts is the HugePages_* counts of /proc/meminfo.
func hugeCounts() map[string]uint64 {
	out := map[string]uint64{}
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil && strings.HasPrefix(k, "HugePages_") {
			out[k] = n
		}
	}
	return out
}

func readProcNumber(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// hugeState is the huge page lines of /proc/meminfo, for failure messages.
func hugeState() string {
	b, _ := os.ReadFile("/proc/meminfo")
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "HugePages_") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}
