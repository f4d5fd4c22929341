//go:build !linux

package procfs

import "specvma/vfs"

const hostIsLinux = false

func stackRlimit() uint64 { return 0 }

func anonNamesSupported() bool { return true }

func memlockRlimit() (uint64, bool) { return 0, false }

func hugeAnonDev() vfs.Dev { return vfs.Dev{} }

func dataRlimit() (uint64, bool) { return 0, false }

func asRlimit() (uint64, bool) { return 0, false }
