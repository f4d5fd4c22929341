package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"specvma/errno"
	"specvma/procfs"
)

// UprobeBackend is implemented by a Backend that supports the uprobe
// commands. Without it, a script that uses them stops (before it runs)
// with "uprobes not available".
//
// space names the current address space (its task); the runner has
// obtained it from Backend.Space before the call.
type UprobeBackend interface {
	// Probe writes spec (tracefs uprobe_events syntax) to the registry.
	Probe(space, spec string) error
	// Hit has the current task execute the instruction at addr and returns
	// the events that fired, as GRP/EVENT, in the order they fired.
	Hit(space string, addr uint64) ([]string, error)
	// Ret has the current task return from its innermost probed function
	// and returns the return events that fired.
	Ret(space string) ([]string, error)
	// Breakpoints returns one line per installed breakpoint in the space,
	// by address: "0xVADDR GRP/EVENT[,GRP/EVENT...]".
	Breakpoints(space string) ([]string, error)
}

// Run parses the whole script, then runs it against b, printing each
// command's result on stdout. name is the file name errors are reported
// against. A malformed script prints nothing and returns an *Error; a run
// that cannot go on returns an *Error for the line it stopped at, after
// the output of the lines before it. Files the script left open are
// closed at the end.
func Run(name string, script io.Reader, b Backend, stdout io.Writer) error {
	s, err := Parse(name, script)
	if err != nil {
		return err
	}
	return s.Run(b, stdout)
}

// Run runs a parsed script against b; see the package function Run.
// With Echo set, it prints a transcript instead (see Echo).
//
// Open names belong to the whole script, not to one address space. Opening
// a name that is open closes what it named first (as dup2 would). As mmap's
// FILE, a name that was closed, or whose open failed, gives = -EBADF; a word
// never given to open is a PATH.
func (s *Script) Run(b Backend, stdout io.Writer) (err error) {
	up, _ := b.(UprobeBackend)
	fk, _ := b.(Forker)
	for _, c := range s.Commands {
		if up == nil && isUprobeOp(c.Op) {
			return &Error{File: s.Name, Line: c.Line, Msg: c.Op.String() + ": uprobes not available"}
		}
		if fk == nil && c.Fork {
			return &Error{File: s.Name, Line: c.Line, Msg: "process: fork not available"}
		}
	}
	w := bufio.NewWriter(stdout)
	r := &runner{
		s: s, b: b, up: up, fk: fk, w: &bytes.Buffer{}, cur: "main",
		files: map[string]FileRef{}, known: map[string]bool{},
	}
	defer func() {
		r.closeAll()
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
	}()
	for i := range s.Commands {
		c := &s.Commands[i]
		err := r.exec(c)
		if s.Echo {
			echo(w, c, r.w.Bytes())
		} else {
			w.Write(r.w.Bytes())
		}
		r.w.Reset()
		if err != nil {
			return err
		}
	}
	return nil
}

// echo prints one transcript entry: the command in canonical form, then
// its output: a listing (maps, breakpoints) on the lines below, anything
// else (a call's "= RESULT", hit's events) on the same line after a space.
func echo(w *bufio.Writer, c *Command, out []byte) {
	w.WriteString(c.String())
	if c.Op != OpMaps && c.Op != OpBreakpoints && len(out) > 0 {
		w.WriteByte(' ')
	} else {
		w.WriteByte('\n')
	}
	w.Write(out)
}

func isUprobeOp(op Op) bool {
	return op == OpProbe || op == OpHit || op == OpRet || op == OpBreakpoints
}

type runner struct {
	s     *Script
	b     Backend
	up    UprobeBackend
	fk    Forker
	w     *bytes.Buffer // the current command's output
	cur   string        // the current address space's name
	space Space         // the current address space, nil until first needed
	files map[string]FileRef
	known map[string]bool // every NAME open has bound, open or not now
}

func (r *runner) errorf(c *Command, format string, args ...any) error {
	return &Error{File: r.s.Name, Line: c.Line, Msg: c.Op.String() + ": " + fmt.Sprintf(format, args...)}
}

// current returns the current address space, creating it on first use.
func (r *runner) current(c *Command) (Space, error) {
	if r.space == nil {
		sp, err := r.b.Space(r.cur)
		if err != nil {
			return nil, r.errorf(c, "address space %q: %v", r.cur, err)
		}
		if sp == nil {
			return nil, r.errorf(c, "address space %q: backend returned none", r.cur)
		}
		r.space = sp
	}
	return r.space, nil
}

// result prints a call's result: "= 0" (or "= 0xADDR" when addr is set)
// on success, "= -ERRNO" on an errno; any other error stops the run.
func (r *runner) result(c *Command, err error, addr bool, v uint64) error {
	if err != nil {
		var e errno.Errno
		if errors.As(err, &e) {
			fmt.Fprintf(r.w, "= %s\n", e.Result())
			return nil
		}
		return r.errorf(c, "%v", err)
	}
	if addr {
		fmt.Fprintf(r.w, "= %#x\n", v)
	} else {
		fmt.Fprintln(r.w, "= 0")
	}
	return nil
}

// events prints the events a hit or ret fired, or "-" for none.
func (r *runner) events(c *Command, evs []string, err error) error {
	if err != nil {
		return r.result(c, err, false, 0)
	}
	if len(evs) == 0 {
		fmt.Fprintln(r.w, "-")
	} else {
		fmt.Fprintln(r.w, strings.Join(evs, " "))
	}
	return nil
}

func (r *runner) exec(c *Command) error {
	if c.Op == OpProcess && c.Fork {
		// fork(2) in the current process; the child becomes current.
		if _, err := r.current(c); err != nil {
			return err
		}
		if err := r.fk.Fork(r.cur, c.Name); err != nil {
			return r.result(c, err, false, 0)
		}
		r.cur, r.space = c.Name, nil
		if _, err := r.current(c); err != nil {
			return err
		}
		return r.result(c, nil, false, 0)
	}
	if c.Op == OpProcess {
		if c.Name == r.cur && r.space != nil {
			return nil
		}
		r.cur, r.space = c.Name, nil
		_, err := r.current(c)
		return err
	}
	switch c.Op {
	case OpConfig:
		cf, ok := r.b.(Configurer)
		if !ok {
			return r.errorf(c, "this backend cannot be configured")
		}
		if err := cf.Configure(c.Name, c.Len); err != nil {
			return r.errorf(c, "%v", err)
		}
		return r.result(c, nil, false, 0)
	case OpOpen:
		if f, ok := r.files[c.Name]; ok {
			// Rebinding a name closes what it named, as dup2 would.
			delete(r.files, c.Name)
			_ = r.b.Close(f)
		}
		r.known[c.Name] = true
		f, err := r.b.Open(c.Path)
		if err == nil {
			r.files[c.Name] = f
		}
		return r.result(c, err, false, 0)
	case OpClose:
		f, ok := r.files[c.Name]
		if !ok {
			return r.result(c, errno.EBADF, false, 0)
		}
		delete(r.files, c.Name)
		return r.result(c, r.b.Close(f), false, 0)
	}
	sp, err := r.current(c)
	if err != nil {
		return err
	}
	switch c.Op {
	case OpMmap:
		var file FileRef
		if c.HasFile {
			if f, ok := r.files[c.Name]; ok {
				file = f
			} else if r.known[c.Name] {
				// A name that was closed, or whose open failed: a bad fd.
				return r.result(c, errno.EBADF, false, 0)
			} else {
				f, err := r.b.Open(c.Name)
				if err != nil {
					return r.result(c, err, false, 0)
				}
				defer func() { _ = r.b.Close(f) }()
				file = f
			}
		}
		addr, err := sp.Mmap(c.Addr, c.Len, c.Prot, c.Flags, file, c.Off)
		return r.result(c, err, true, addr)
	case OpMunmap:
		return r.result(c, sp.Munmap(c.Addr, c.Len), false, 0)
	case OpMprotect:
		return r.result(c, sp.Mprotect(c.Addr, c.Len, c.Prot), false, 0)
	case OpMremap:
		addr, err := sp.Mremap(c.Addr, c.Len, c.NewLen, c.Flags, c.NewAddr)
		return r.result(c, err, true, addr)
	case OpAnonName:
		var name *string
		if !c.Clear {
			n := c.Name
			name = &n
		}
		return r.result(c, sp.SetAnonName(c.Addr, c.Len, name), false, 0)
	case OpTouch:
		return r.result(c, sp.Touch(c.Addr, c.Write), false, 0)
	case OpMadvise:
		return r.result(c, sp.Madvise(c.Addr, c.Len, c.Flags), false, 0)
	case OpMlock, OpMlock2:
		return r.result(c, sp.Mlock2(c.Addr, c.Len, c.Flags), false, 0)
	case OpMunlock:
		return r.result(c, sp.Munlock(c.Addr, c.Len), false, 0)
	case OpMlockall:
		return r.result(c, sp.Mlockall(c.Flags), false, 0)
	case OpMunlockall:
		return r.result(c, sp.Munlockall(), false, 0)
	case OpBrk:
		addr, err := sp.Brk(c.Addr)
		return r.result(c, err, true, addr)
	case OpMseal:
		return r.result(c, sp.Mseal(c.Addr, c.Len, c.Flags), false, 0)
	case OpQuery:
		q, ok := sp.(Querier)
		if !ok {
			return r.errorf(c, "this backend cannot answer PROCMAP_QUERY")
		}
		res, err := q.Query(uint64(c.Flags), c.Addr)
		if err != nil {
			return r.result(c, err, false, 0)
		}
		fmt.Fprintln(r.w, "= "+res.Line())
		return nil
	case OpMaps:
		text, err := sp.Maps()
		if c.Name != "" {
			mr, ok := sp.(MapsReader)
			if !ok {
				return r.errorf(c, "this backend has no maps reader %s", c.Name)
			}
			rd, _ := procfs.ParseReader(c.Name)
			text, err = mr.MapsWith(rd)
		}
		if err != nil {
			return r.errorf(c, "%v", err)
		}
		r.w.WriteString(text)
		if text != "" && !strings.HasSuffix(text, "\n") {
			r.w.WriteByte('\n')
		}
		return nil
	case OpProbe:
		return r.result(c, r.up.Probe(r.cur, c.Spec), false, 0)
	case OpHit:
		evs, err := r.up.Hit(r.cur, c.Addr)
		return r.events(c, evs, err)
	case OpRet:
		evs, err := r.up.Ret(r.cur)
		return r.events(c, evs, err)
	case OpBreakpoints:
		lines, err := r.up.Breakpoints(r.cur)
		if err != nil {
			return r.result(c, err, false, 0)
		}
		for _, l := range lines {
			fmt.Fprintln(r.w, l)
		}
		return nil
	}
	return r.errorf(c, "unknown command")
}

// closeAll closes the files the script left open, in name order.
func (r *runner) closeAll() {
	names := make([]string, 0, len(r.files))
	for n := range r.files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		_ = r.b.Close(r.files[n])
		delete(r.files, n)
	}
}
