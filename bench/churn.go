package bench

import (
	"fmt"
	"sync/atomic"
	"time"

	"specvma/mm"
	"specvma/uprobes"
)

// The writer does one operation at a time, at the row's rate:
//
//	unrelated  mmap and munmap one page far from the probed VMA
//	same-vma   mprotect a page of the probed VMA back and forth, splitting
//	           and re-merging it
//	probes     register and unregister a probe on another file

// churn runs the writer until stop and returns each operation's latency.
func (s *setup) churn(r Row, stop *atomic.Bool) []time.Duration {
	lat := make([]time.Duration, 0, 1024)
	interval := time.Second / time.Duration(r.Rate)
	start := time.Now()
	op := s.churnOp(r.Churn)
	for i := 0; i == 0 || !stop.Load(); i++ { // at least one operation, however late it starts
		t := time.Now()
		op(i)
		lat = append(lat, time.Since(t))
		if ahead := time.Until(start.Add(time.Duration(i+1) * interval)); ahead > 200*time.Microsecond {
			time.Sleep(ahead)
		}
	}
	return lat
}

// churnOp returns the i-th operation of a churn kind.
func (s *setup) churnOp(kind Churn) func(i int) {
	as := s.w.as
	switch kind {
	case Unrelated:
		return func(i int) {
			slot := uint64(i/2%churnSlots) * 2 * mm.PageSize
			if i%2 == 0 {
				if s.base != nil {
					s.base.insert(span{start: churnBase + slot, end: churnBase + slot + mm.PageSize})
				}
				as.Mmap(churnBase+slot, mm.PageSize, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed, nil, 0)
			} else {
				if s.base != nil {
					s.base.remove(churnBase + slot)
				}
				as.Munmap(churnBase+slot, mm.PageSize)
			}
		}
	case SameVMA:
		return func(i int) {
			prot := mm.ProtRead | mm.ProtExec
			if i%2 == 0 {
				prot = mm.ProtRead
			}
			as.Mprotect(splitAddr, mm.PageSize, prot)
		}
	case Probes:
		return func(i int) {
			name := "bench/churn"
			if i%2 == 0 {
				spec, _ := uprobes.ParseSpec(fmt.Sprintf("p:%s /bench/other:%#x", name, probeOff))
				s.w.sys.AddEventAt(spec, otherInode)
			} else {
				s.w.sys.RemoveEvent(name)
			}
		}
	}
	return func(int) {}
}
