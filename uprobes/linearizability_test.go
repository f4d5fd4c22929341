package uprobes

// Linearizability of the trigger path, checked with porcupine: tasks hit
// addresses in a small window (one history per strategy) while one client
// maps and unmaps files there and another registers and unregisters
// probes; porcupine looks for an order of the operations, consistent with
// their call and return stamps, in which a sequential specification
// (upLinSpec: which file page each window page maps, which file pages are
// probed) gives every observed outcome.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"specvma/internal/testsupport"
	"specvma/mm"
)

const (
	ulBase    = uint64(0x330000000000)
	ulPages   = 8
	ulFiles   = 2
	ulTaskers = 3
	ulQuota   = 2000 // operations per client; 5 clients
	ulInoBase = 1400
)

// ulState: page p maps file page ulKey (0: nothing); probed is a bit set
// of probed file pages; moving marks those whose registration or
// unregistration is in progress. Linux installs and removes a probe's
// breakpoints one mapping at a time (register_for_each_vma), so while that
// runs a hit may see the probe at one address and not yet at another: a
// hit on a moving file page may fire it or not.
type ulState struct {
	page           [ulPages]int8
	probed, moving uint32
}

// ulKey numbers a file page: 1 + file*ulPages + page; 0 is none.
func ulKey(file, pg int) int8 { return int8(1 + file*ulPages + pg) }

type ulKind uint8

const (
	ulHit ulKind = iota
	ulMap
	ulUnmap
	ulProbe   // registration begins
	ulUnprobe // unregistration begins
	ulSettle  // the (un)registration of key returned
)

type ulInput struct {
	kind    ulKind
	page, n int  // window pages
	key     int8 // ulMap: first file page; ulProbe/ulUnprobe: the file page
}

// ulOutput: what a hit fired (a file page's key, 0 for nothing); writes
// report failure.
type ulOutput struct {
	fired   int8
	failed  bool
	outcome Outcome // for the reader of a visualisation
}

var upLinSpec = porcupine.Model{
	Init: func() any { return ulState{} },
	Step: func(st, in, out any) (bool, any) {
		s, i, o := st.(ulState), in.(ulInput), out.(ulOutput)
		switch i.kind {
		case ulHit:
			k := s.page[i.page]
			if k != 0 && s.moving&(1<<k) != 0 {
				return o.fired == 0 || o.fired == k, s
			}
			want := int8(0)
			if k != 0 && s.probed&(1<<k) != 0 {
				want = k
			}
			return o.fired == want, s
		case ulMap:
			for p := i.page; p < i.page+i.n; p++ {
				s.page[p] = i.key + int8(p-i.page)
			}
		case ulUnmap:
			for p := i.page; p < i.page+i.n; p++ {
				s.page[p] = 0
			}
		case ulProbe:
			s.probed |= 1 << i.key
			s.moving |= 1 << i.key
		case ulUnprobe:
			s.probed &^= 1 << i.key
			s.moving |= 1 << i.key
		case ulSettle:
			s.moving &^= 1 << i.key
		}
		return !o.failed, s
	},
	Equal: func(a, b any) bool { return a.(ulState) == b.(ulState) },
	DescribeOperation: func(in, out any) string {
		i, o := in.(ulInput), out.(ulOutput)
		switch i.kind {
		case ulHit:
			return fmt.Sprintf("hit page %d -> %v, fired %d", i.page, o.outcome, o.fired)
		case ulMap:
			return fmt.Sprintf("map pages %d+%d from key %d", i.page, i.n, i.key)
		case ulUnmap:
			return fmt.Sprintf("unmap pages %d+%d", i.page, i.n)
		case ulProbe:
			return fmt.Sprintf("register key %d begins", i.key)
		case ulSettle:
			return fmt.Sprintf("(un)register key %d returned", i.key)
		}
		return fmt.Sprintf("unregister key %d begins", i.key)
	},
	DescribeState: func(st any) string {
		s := st.(ulState)
		return fmt.Sprintf("pages %v probed %#x moving %#x", s.page, s.probed, s.moving)
	},
}

// ulHistory runs one history with tasks of strategy st.
func ulHistory(t *testing.T, st mm.Strategy, seed uint64) []porcupine.Operation {
	t.Helper()
	s := NewSystem()
	reg := s.Registry()
	as := mm.New(mm.Config{})
	s.Attach(as)
	rec := &testsupport.LinRecorder{}
	record := func(client int, in ulInput, call int64, out ulOutput) { rec.Record(client, in, call, out) }
	off := func(k int8) uint64 { return uint64((int(k)-1)%ulPages)*fxPage + 0x10 }
	ino := func(k int8) uint64 { return ulInoBase + uint64((int(k)-1)/ulPages) }
	names := map[string]int8{}
	for f := range ulFiles {
		for pg := range ulPages {
			names[fmt.Sprintf("ul/%d", ulKey(f, pg))] = ulKey(f, pg)
		}
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the mapper
		rng := rand.New(rand.NewPCG(seed, 1))
		<-start
		for range ulQuota {
			in := ulInput{kind: ulUnmap, page: rng.IntN(ulPages)}
			in.n = 1 + rng.IntN(ulPages-in.page)
			if rng.IntN(3) != 0 {
				in.kind = ulMap
				f, pg := rng.IntN(ulFiles), rng.IntN(ulPages-in.n+1)
				in.key = ulKey(f, pg)
			}
			call := rec.Now()
			addr, length := ulBase+uint64(in.page)*fxPage, uint64(in.n)*fxPage
			var err error
			if in.kind == ulMap {
				fl := fxOpen(ino(in.key))
				_, err = as.Mmap(addr, length, fxRX, mm.MapPrivate|mm.MapFixed, fl, off(in.key)&^(fxPage-1))
				fl.Put()
			} else {
				err = as.Munmap(addr, length)
			}
			record(ulTaskers, in, call, ulOutput{failed: err != nil})
			if err != nil {
				t.Errorf("%s: %v", upLinSpec.DescribeOperation(in, ulOutput{}), err)
			}
			runtime.Gosched()
		}
	})
	probes := map[int8]*Uprobe{}
	consumers := map[int8]*Consumer{}
	wg.Go(func() { // the registrar
		rng := rand.New(rand.NewPCG(seed, 2))
		<-start
		for range ulQuota {
			k := ulKey(rng.IntN(ulFiles), rng.IntN(ulPages))
			// Two operations: the begin, stamped before the call, and the
			// settle, stamped after it returns.
			in := ulInput{kind: ulProbe, key: k}
			if probes[k] != nil {
				in.kind = ulUnprobe
			}
			record(ulTaskers+1, in, rec.Now(), ulOutput{})
			var err error
			if u := probes[k]; u != nil {
				err = reg.Unregister(u, consumers[k])
				delete(probes, k)
			} else {
				c := &Consumer{Name: fmt.Sprintf("ul/%d", k)}
				consumers[k] = c
				probes[k], err = reg.Register(fxIno(ino(k)), off(k), 0, c)
			}
			record(ulTaskers+1, ulInput{kind: ulSettle, key: k}, rec.Now(), ulOutput{failed: err != nil})
			if err != nil {
				t.Errorf("%s: %v", upLinSpec.DescribeOperation(in, ulOutput{}), err)
			}
			runtime.Gosched()
		}
	})
	for c := range ulTaskers {
		wg.Go(func() {
			task := s.NewTask(as, st)
			defer task.Exit()
			rng := rand.New(rand.NewPCG(seed, uint64(10+c)))
			<-start
			for range ulQuota {
				p := rng.IntN(ulPages)
				call := rec.Now()
				fired, r := task.HitNames(ulBase + uint64(p)*fxPage + 0x10)
				out := ulOutput{outcome: r.Outcome}
				if len(fired) > 1 {
					t.Errorf("one hit fired %v", fired)
				} else if len(fired) == 1 {
					if out.fired = names[fired[0]]; out.fired == 0 {
						t.Errorf("fired unknown consumer %q", fired[0])
					}
				}
				record(c, ulInput{kind: ulHit, page: p}, call, out)
				runtime.Gosched()
			}
		})
	}
	close(start)
	wg.Wait()

	for k, u := range probes {
		if err := reg.Unregister(u, consumers[k]); err != nil {
			t.Error(err)
		}
	}
	as.Exit()
	reg.Barrier()
	if live := reg.Live(); live != 0 {
		t.Errorf("%d uprobes live after the history", live)
	}
	return rec.Ops()
}

// TestLinearizableHits: for every strategy, a 10,000-operation history of
// three tasks hitting the window while probes are registered and
// unregistered and files mapped and unmapped there is linearizable.
func TestLinearizableHits(t *testing.T) {
	for _, st := range mm.Strategies() {
		t.Run(st.String(), func(t *testing.T) {
			base := fxTakeBaseline()
			// Rounds until one has hits that fired (a scheduler that ran the
			// tasks away from the writers can leave a history with none), at
			// most three; every round is checked.
			fired := 0
			for round := 0; round < 3 && fired == 0; round++ {
				h := ulHistory(t, st, uint64(time.Now().UnixNano()))
				for _, o := range h {
					if o.Input.(ulInput).kind == ulHit && o.Output.(ulOutput).fired != 0 {
						fired++
					}
				}
				t.Logf("%d hits fired", fired)
				testsupport.RequireLinearizable(t, upLinSpec, h, "hits-"+st.String(), func(in any) bool { return in.(ulInput).kind != ulHit })
			}
			if fired == 0 {
				t.Error("no hit fired in three histories: the test proves little")
			}
			base.Check(t)
		})
	}
}
