//go:build !linux

package procfs

const hostIsLinux = false

func stackRlimit() uint64 { return 0 }

func anonNamesSupported() bool { return true }

func memlockRlimit() (uint64, bool) { return 0, false }
