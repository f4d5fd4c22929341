package uprobetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"specvma/uprobes"
)

// TracefsRoot is where tracefs is mounted.
const TracefsRoot = "/sys/kernel/tracing"

// Tracer owns one group of uprobe events and one tracefs instance (a trace
// buffer of its own, under instances/), so that what it reads is only what
// its own events recorded: other tests, and other users of the global
// buffer, neither see its events nor disturb them. It only ever adds and
// deletes events of its group, and removes only its instance.
type Tracer struct {
	Group string
	root  string
	inst  string   // the instance directory
	names []string // events added, in order
}

// Usable reports why tracefs uprobes cannot be used here, or nil.
func Usable() error {
	f, err := os.OpenFile(filepath.Join(TracefsRoot, "uprobe_events"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("cannot write %s/uprobe_events (needs root and tracefs with CONFIG_UPROBE_EVENTS): %v", TracefsRoot, err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(TracefsRoot, "instances")); err != nil {
		return fmt.Errorf("no tracefs instances directory: %v", err)
	}
	return nil
}

// NewTracer creates the instance for group (a name of letters, digits, '_'
// and '-', unique to the caller). Close removes it and the group's events.
func NewTracer(group string) (*Tracer, error) {
	t := &Tracer{Group: group, root: TracefsRoot, inst: filepath.Join(TracefsRoot, "instances", group)}
	if err := os.Mkdir(t.inst, 0o755); err != nil {
		return nil, err
	}
	return t, nil
}

// Add writes one probe line to uprobe_events. The line must name this
// tracer's group and an event; nothing else is ever written.
func (t *Tracer) Add(line string) error {
	s, err := uprobes.ParseSpec(line)
	if err != nil {
		return err
	}
	if s.Kind == uprobes.Delete || s.Group != t.Group || s.Event == "" {
		return fmt.Errorf("tracer %s: refusing %q: want p:%s/EVENT or r:%s/EVENT", t.Group, line, t.Group, t.Group)
	}
	if err := t.writeEvents(line); err != nil {
		return err
	}
	t.names = append(t.names, s.Event)
	return nil
}

// writeEvents appends line to uprobe_events. It never truncates the file,
// which would delete every uprobe event on the system.
func (t *Tracer) writeEvents(line string) error {
	f, err := os.OpenFile(filepath.Join(t.root, "uprobe_events"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, werr := io.WriteString(f, line+"\n")
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("uprobe_events %q: %w", line, werr)
	}
	return cerr
}

func (t *Tracer) enableFile() string {
	return filepath.Join(t.inst, "events", t.Group, "enable")
}

// Enable enables the group's events in the instance: this is when the
// kernel registers the uprobes and writes their breakpoints.
func (t *Tracer) Enable() error { return writeFile(t.enableFile(), "1") }

// Disable disables them: the breakpoints are removed.
func (t *Tracer) Disable() error { return writeFile(t.enableFile(), "0") }

// Clear empties the instance's trace buffer.
func (t *Tracer) Clear() error {
	f, err := os.OpenFile(filepath.Join(t.inst, "trace"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := io.WriteString(f, s)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("%s: %w", path, werr)
	}
	return cerr
}

// Close disables the events, removes the instance (and its buffer), then
// deletes each event this tracer added. It goes on after an error and
// returns them all.
func (t *Tracer) Close() error {
	var errs []error
	if err := t.Disable(); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := os.Remove(t.inst); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("removing instance: %w", err))
	}
	for _, n := range t.names {
		if err := t.writeEvents("-:" + t.Group + "/" + n); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, err)
		}
	}
	t.names = nil
	return errors.Join(errs...)
}

// Hit is one line of the trace: a uprobe event that fired.
type Hit struct {
	Comm   string
	PID    int    // the thread that hit it
	Event  string // GRP/EVENT
	Addr   uint64 // the probed address (for a return probe, the function's)
	Ret    uint64 // for a return probe: the address returned to
	Return bool
	Line   string
}

func (h Hit) String() string {
	if h.Return {
		return fmt.Sprintf("%s@%#x(return to %#x)", h.Event, h.Addr, h.Ret)
	}
	return fmt.Sprintf("%s@%#x", h.Event, h.Addr)
}

// traceLine matches a uprobe event in the trace, as Linux 6.x prints it:
//
//	"  comm-1234  [001] d..2.  4834.669288: foo: (0x56383226d169)"
//	"  comm-1234  [001] d..2.  4834.669483: foor: (0x56383226d1b7 <- 0x56383226d169)"
//
// The comm may hold anything; the last "-PID [CPU]" ends it. The flags
// column is optional (the irq-info option), so is a "( TGID)" column
// (record-tgid).
var traceLine = regexp.MustCompile(`^\s*(.*)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[\d+\]\s+(?:\S+\s+)?\d+\.\d+:\s+(\w+):\s+\((0x[0-9a-f]+)(?:\s+<-\s+(0x[0-9a-f]+))?\)`)

// Hits reads the instance's trace and returns the lines of this group's
// events (the only ones enabled in the instance).
func (t *Tracer) Hits() ([]Hit, error) {
	f, err := os.Open(filepath.Join(t.inst, "trace"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseTrace(f, t.Group)
}

func parseTrace(r io.Reader, group string) ([]Hit, error) {
	var out []Hit
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := traceLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[2])
		a, _ := strconv.ParseUint(m[4], 0, 64)
		h := Hit{Comm: m[1], PID: pid, Event: group + "/" + m[3], Addr: a, Line: l}
		if m[5] != "" {
			// A return probe prints the address returned to, then the function's.
			h.Return, h.Ret = true, a
			h.Addr, _ = strconv.ParseUint(m[5], 0, 64)
		}
		out = append(out, h)
	}
	return out, sc.Err()
}
