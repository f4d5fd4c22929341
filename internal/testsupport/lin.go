package testsupport

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Linearizability histories for porcupine, shared by the tests that check
// them (mm's Resolve, uprobes' hits, procfs' whole-maps reads): one clock
// for call and return stamps, the check, the visualisation a failure
// writes, and an explanation of where the check got stuck.

// LinRecorder stamps operations from one global clock and collects them.
// It is safe for concurrent use.
type LinRecorder struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// Now returns the next stamp: an operation's call stamp is taken before it
// starts, its return stamp after it ends.
func (r *LinRecorder) Now() int64 { return r.clock.Add(1) }

// Record adds an operation of client called at call that has just
// returned.
func (r *LinRecorder) Record(client int, in any, call int64, out any) {
	r.Add(client, in, call, r.Now(), out)
}

// Add adds an operation with both stamps given.
func (r *LinRecorder) Add(client int, in any, call, ret int64, out any) {
	r.mu.Lock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	r.mu.Unlock()
}

// Ops returns the history recorded so far.
func (r *LinRecorder) Ops() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops
}

// RunClients runs the clients of a history together: client i (numbered
// as quota is) calls op(i) quota[i] times, yielding after each call so
// that the clients interleave even on one CPU. All start at once; it
// returns when all are done.
func RunClients(quota []int, op func(client int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c, n := range quota {
		wg.Go(func() {
			<-start
			for range n {
				op(c)
				runtime.Gosched()
			}
		})
	}
	close(start)
	wg.Wait()
}

// LinCheck is the outcome of checking one history.
type LinCheck struct {
	Result porcupine.CheckResult
	Info   porcupine.LinearizationInfo
	Took   time.Duration
}

// CheckLin checks h against model, for a minute at most.
func CheckLin(model porcupine.Model, h []porcupine.Operation) LinCheck {
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, h, time.Minute)
	return LinCheck{res, info, time.Since(start).Round(time.Millisecond)}
}

// Visualize writes the check's visualisation (an HTML page) to path, or
// to name+".html" in t's temporary directory when path is "", logs where,
// and returns the path.
func (c LinCheck) Visualize(t testing.TB, model porcupine.Model, path, name string) string {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), name+".html")
	}
	if err := porcupine.VisualizePath(model, c.Info, path); err != nil {
		t.Errorf("writing the visualisation: %v", err)
		return ""
	}
	t.Logf("visualisation written to %s", path)
	return path
}

// Explain logs where the check of h got stuck: in the first partition
// (model.Partition's, or all of h) that could not be linearized, the state
// after its longest partial linearization, the first operation that could
// not follow it, the operations pending around it and the last ones
// linearized. model must have DescribeOperation and DescribeState.
func (c LinCheck) Explain(t testing.TB, model porcupine.Model, h []porcupine.Operation) {
	t.Helper()
	parts := [][]porcupine.Operation{h}
	if model.Partition != nil {
		parts = model.Partition(h)
	}
	partials := c.Info.PartialLinearizationsOperations()
	for i, part := range parts {
		if i >= len(partials) {
			break
		}
		var best []porcupine.Operation
		for _, pl := range partials[i] {
			if len(pl) > len(best) {
				best = pl
			}
		}
		if len(best) < len(part) {
			explainPart(t, model, part, best)
			return
		}
	}
}

// explainPart is Explain for one partition and its longest partial
// linearization.
func explainPart(t testing.TB, model porcupine.Model, h, best []porcupine.Operation) {
	in := map[int]bool{}
	st := model.Init()
	for _, o := range best {
		_, st = model.Step(st, o.Input, o.Output)
		for i := range h {
			if !in[i] && h[i].ClientId == o.ClientId && h[i].Call == o.Call && h[i].Return == o.Return {
				in[i] = true
				break
			}
		}
	}
	first := -1
	for i, o := range h {
		if !in[i] && (first < 0 || o.Return < h[first].Return) {
			first = i
		}
	}
	t.Logf("state after %d operations: %s", len(best), model.DescribeState(st))
	if first < 0 {
		return
	}
	f := h[first]
	t.Logf("stuck: client %d [%d,%d] %s", f.ClientId, f.Call, f.Return, model.DescribeOperation(f.Input, f.Output))
	for i, o := range h {
		if !in[i] && i != first && o.Call <= f.Return {
			t.Logf("  pending: client %d [%d,%d] %s", o.ClientId, o.Call, o.Return, model.DescribeOperation(o.Input, o.Output))
		}
	}
	for _, o := range best[max(0, len(best)-12):] {
		t.Logf("  last linearized: client %d [%d,%d] %s", o.ClientId, o.Call, o.Return, model.DescribeOperation(o.Input, o.Output))
	}
}

// UntilIllegal is the planted-bug check: it checks the histories
// history(1), history(2), ... until porcupine finds one not linearizable,
// writes that one's visualisation to vizPath with "-name" added before
// ".html" (to name+".html" in t's temporary directory when vizPath is "")
// and logs the round; after 60 s of rounds it fails t instead.
func UntilIllegal(t testing.TB, model porcupine.Model, vizPath, name string, history func(round int) []porcupine.Operation) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for round := 1; ; round++ {
		h := history(round)
		c := CheckLin(model, h)
		if c.Result == porcupine.Illegal {
			if vizPath != "" {
				vizPath = strings.TrimSuffix(vizPath, ".html") + "-" + name + ".html"
			}
			c.Visualize(t, model, vizPath, name)
			t.Logf("round %d: %d operations not linearizable, as planted", round, len(h))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("planted bug, %d rounds: porcupine found every history %s", round, c.Result)
		}
	}
}

// RequireLinearizable checks h against model and logs the history's size,
// its clients, how many operations that are not writes (write tells them
// apart by input) overlap a write, and the outcome. When h is not
// linearizable (or the check runs out of time) it writes the
// visualisation (to name+".html" in t's temporary directory), logs where
// the check got stuck, and fails t.
func RequireLinearizable(t testing.TB, model porcupine.Model, h []porcupine.Operation, name string, write func(in any) bool) {
	t.Helper()
	c := CheckLin(model, h)
	clients := map[int]bool{}
	var writes [][2]int64
	for _, o := range h {
		clients[o.ClientId] = true
		if write(o.Input) {
			writes = append(writes, [2]int64{o.Call, o.Return})
		}
	}
	overlaps := 0
	for _, o := range h {
		if write(o.Input) {
			continue
		}
		for _, w := range writes {
			if w[0] < o.Return && o.Call < w[1] {
				overlaps++
				break
			}
		}
	}
	t.Logf("%d operations, %d clients, %d others overlapping a write: %s in %v", len(h), len(clients), overlaps, c.Result, c.Took)
	if c.Result != porcupine.Ok {
		c.Visualize(t, model, "", name)
		c.Explain(t, model, h)
		t.Fatalf("%s: %s, want Ok", name, c.Result)
	}
}
