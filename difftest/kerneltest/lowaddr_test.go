package kerneltest

import (
	"strings"
	"testing"

	"specvma/internal/testsupport"
	"specvma/procfs"
	"specvma/scenario"
)

// lowWindow is the bottom 64 KiB of the address space, below the usual
// vm.mmap_min_addr: claiming it needs CAP_SYS_RAWIO when mmap_min_addr is
// above zero.
var lowWindow = Window{Base: 0, Size: 0x10000}

// TestLowAddresses checks the model, configured as this process is
// (procfs.HostConfig: vm.mmap_min_addr, CAP_SYS_RAWIO), against the kernel
// below and around mmap_min_addr: MAP_FIXED under it, hints rounded up to
// it. Page 0 is only ever mapped PROT_NONE, so that a nil dereference in
// the test process still faults.
func TestLowAddresses(t *testing.T) {
	skipUnlessLinux(t)
	k, err := NewKernel(lowWindow)
	if err != nil {
		testsupport.Skip(t, "the low window cannot be claimed (unprivileged, or something is mapped there): %v", err)
	}
	t.Cleanup(func() {
		if err := k.Release(); err != nil {
			t.Errorf("releasing the low window: %v", err)
		}
	})
	const script = `
mmap 0x0 0x1000 --- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
mmap 0x1000 0x2000 r-- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
mmap 0x8000 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE
maps
munmap 0x1000 0x2000
mmap 0x800 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS
mmap 0xf000 0x1000 r-- MAP_PRIVATE|MAP_ANONYMOUS
mremap 0x8000 0x1000 0x1000 MREMAP_MAYMOVE|MREMAP_FIXED 0x3000
maps
`
	kout := run("low", script, k)
	cfg, _ := procfs.HostConfig()
	mout := run("low", script, scenario.NewModel(cfg))
	kn, mn := lowWindow.Normalize(kout), lowWindow.Normalize(mout)
	if strings.Contains(kout, "error: ") || kn != mn {
		t.Errorf("the model differs from the kernel\nkernel:\n%s\nmodel:\n%s", kn, mn)
	}
}
