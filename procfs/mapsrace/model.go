package mapsrace

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"specvma/mm"
	"specvma/procfs"
)

// ModelTarget runs the modifier on a model address space in a goroutine and
// reads it with one of procfs's maps readers.
type ModelTarget struct {
	AS     *mm.AddressSpace
	file   *procfs.MapsFile
	race   Race
	addr   uint64
	next   uint64
	prot   int
	stop   atomic.Bool
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
	Rounds atomic.Int64 // modify+restore rounds the churn made
}

// NewModelTarget maps the modifier's VMAs in a fresh address space with
// config cfg and opens its maps file with reader r.
func NewModelTarget(cfg mm.Config, r procfs.Reader) (*ModelTarget, error) {
	as := mm.New(cfg)
	for i := 0; i < VMACount; i++ {
		if _, err := as.Mmap(VMAStart(i), 3*Page, VMAProt(i), mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0); err != nil {
			return nil, err
		}
	}
	return &ModelTarget{AS: as, file: procfs.OpenMaps(as, r)}, nil
}

// File is the maps file the target reads (its Stats count retries).
func (m *ModelTarget) File() *procfs.MapsFile { return m.file }

// Arm implements Target.
func (m *ModelTarget) Arm(r Race, addr, next uint64, prot int) error {
	m.race, m.addr, m.next, m.prot = r, addr, next, prot
	return nil
}

// Modify implements Target: the selftest's split_vma, shrink_vma, remap_vma.
func (m *ModelTarget) Modify() error {
	as := m.AS
	switch m.race {
	case Split:
		_, err := as.Mmap(m.addr+Page, Page, m.prot|ProtExec, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0)
		return err
	case Resize:
		_, err := as.Mremap(m.addr, 3*Page, Page, 0, 0)
		return err
	default:
		_, err := as.Mremap(m.next+2*Page, Page, Page, mm.MremapFixed|mm.MremapMayMove|mm.MremapDontUnmap, m.addr+Page)
		return err
	}
}

// Restore implements Target: merge_vma, expand_vma, patch_vma.
func (m *ModelTarget) Restore() error {
	as := m.AS
	switch m.race {
	case Split:
		_, err := as.Mmap(m.addr+Page, Page, m.prot, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0)
		return err
	case Resize:
		_, err := as.Mremap(m.addr, Page, 3*Page, 0, 0)
		return err
	default:
		return as.Mprotect(m.addr+Page, Page, m.prot)
	}
}

// StartChurn implements Target.
func (m *ModelTarget) StartChurn() error {
	m.stop.Store(false)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for !m.stop.Load() {
			if err := m.Modify(); err != nil {
				m.setErr(err)
				return
			}
			if err := m.Restore(); err != nil {
				m.setErr(err)
				return
			}
			m.Rounds.Add(1)
		}
	}()
	return nil
}

func (m *ModelTarget) setErr(err error) {
	m.errMu.Lock()
	m.err = errors.Join(m.err, err)
	m.errMu.Unlock()
}

// StopChurn implements Target.
func (m *ModelTarget) StopChurn() error {
	m.stop.Store(true)
	m.wg.Wait()
	m.errMu.Lock()
	defer m.errMu.Unlock()
	return m.err
}

// ReadPages implements Target: rewind, then two page-sized reads.
func (m *ModelTarget) ReadPages() ([]byte, []byte, error) {
	m.file.Rewind()
	return readTwoPages(func(p []byte) (int, error) {
		n, err := m.file.Read(p)
		if err == io.EOF {
			err = nil
		}
		return n, err
	})
}

// Query implements Target.
func (m *ModelTarget) Query(addr uint64) (uint64, uint64, error) {
	r, err := m.file.Query(procfs.Query{Addr: addr})
	return r.Start, r.End, err
}
