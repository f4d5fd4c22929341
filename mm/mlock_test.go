package mm

import (
	"testing"

	"specvma/errno"
)

// TestMlockRlimit checks RLIMIT_MEMLOCK as an unprivileged process meets
// it (the differential tests run with CAP_IPC_LOCK, which ignores it):
// EPERM with a limit of 0, ENOMEM past the limit with nothing changed,
// pages already locked counted once, and CAP_IPC_LOCK lifting the limit.
func TestMlockRlimit(t *testing.T) {
	const base = 0x200000000000
	as := New(Config{NoMemlock: true})
	mustMap(t, as, base, 0x10000)
	if err := as.Mlock(base, 0x1000); err != errno.EPERM {
		t.Errorf("limit 0: %v, want EPERM", err)
	}
	if err := as.Mlockall(MclCurrent); err != errno.EPERM {
		t.Errorf("mlockall with limit 0: %v, want EPERM", err)
	}

	as = New(Config{MemlockRlimit: 0x4000})
	mustMap(t, as, base, 0x10000)
	if err := as.Mlock(base, 0x3000); err != nil {
		t.Fatal(err)
	}
	if err := as.Mlock(base+0x2000, 0x2000); err != nil {
		t.Errorf("0x3000 locked, relocking 0x1000 of it plus 0x1000: %v, want success", err)
	}
	if err := as.Mlock(base+0x8000, 0x1000); err != errno.ENOMEM {
		t.Errorf("past the limit: %v, want ENOMEM", err)
	}
	if n := as.MapCount(); n != 2 {
		t.Errorf("after the refused mlock: %d VMAs, want 2 (locked, unlocked)", n)
	}
	if err := as.Mlockall(MclCurrent); err != errno.ENOMEM {
		t.Errorf("mlockall of 64 KiB under a 16 KiB limit: %v, want ENOMEM", err)
	}

	as = New(Config{MemlockRlimit: 0x4000, IPCLock: true})
	mustMap(t, as, base, 0x10000)
	if err := as.Mlock(base, 0x10000); err != nil {
		t.Errorf("CAP_IPC_LOCK: %v, want success", err)
	}
}

func mustMap(t *testing.T, as *AddressSpace, addr, length uint64) {
	t.Helper()
	if _, err := as.Mmap(addr, length, ProtRead|ProtWrite, MapPrivate|MapAnonymous|MapFixed, nil, 0); err != nil {
		t.Fatal(err)
	}
}
