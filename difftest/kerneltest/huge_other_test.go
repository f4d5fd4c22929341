//go:build !linux || !amd64

package kerneltest

import "testing"

func setupHuge(t *testing.T) (string, string) { return "", "hugetlbfs needs linux/amd64" }

func hugeAvailable() uint64 { return 0 }

func resetHugeFile(t *testing.T, path string) {}

func hugeState() string { return "" }
