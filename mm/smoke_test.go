package mm

import (
	"fmt"
	"strings"
	"testing"
)

func dump(as *AddressSpace) string {
	var b strings.Builder
	for _, v := range as.VMAs() {
		fmt.Fprintf(&b, "%x-%x %x pg=%x anon=%v\n", v.Start, v.End, uint64(v.Flags), v.Pgoff, v.AnonVMA != nil)
	}
	return b.String()
}

func TestSmoke(t *testing.T) {
	as := New(Config{})
	const base = 0x200000000000
	a, err := as.Mmap(base, 3*PageSize, ProtRead|ProtWrite, MapPrivate|MapAnonymous, nil, 0)
	t.Logf("mmap %x %v", a, err)
	b, err := as.Mmap(base+3*PageSize, 2*PageSize, ProtRead|ProtWrite, MapPrivate|MapAnonymous, nil, 0)
	t.Logf("mmap %x %v\n%s", b, err, dump(as))
	t.Log(as.Mprotect(base+PageSize, PageSize, ProtRead))
	t.Logf("\n%s", dump(as))
	t.Log(as.Mprotect(base+PageSize, PageSize, ProtRead|ProtWrite))
	t.Logf("\n%s", dump(as))
	t.Log(as.Munmap(base+2*PageSize, PageSize))
	t.Logf("\n%s", dump(as))
	r, err := as.Mremap(base, 2*PageSize, 4*PageSize, MremapMayMove, 0)
	t.Logf("mremap %x %v\n%s", r, err, dump(as))
	c, err := as.Mmap(0, 5*PageSize, ProtRead, MapPrivate|MapAnonymous, nil, 0)
	t.Logf("mmap %x %v\n%s", c, err, dump(as))
	t.Log(as.Fault(c, true), as.Fault(c, false))
}
