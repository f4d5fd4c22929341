package uprobes

// Fetch arguments: the [FETCHARGS] of a uprobe_events line, checked the way
// Linux 6.18 checks them for a uprobe (kernel/trace/trace_probe.c, with the
// user-space probe flags: no symbols, no BTF). Each argument is
//
//	[NAME=]FETCHARG[:TYPE[[N]]]
//
// FETCHARG: %REG, @ADDR, @+FILEOFFSET, $stack, $stackN, $retval (return
// probes only), $comm, \IMM, \"STRING", or [+|-][u]OFFS(FETCHARG).
// TYPE: u8..u64, s8..s64, x8..x64, char, string, ustring, or a bitfield
// b<width>@<offset>/<container bits>; [N] makes an array of up to 64.
// The model keeps the arguments as text (it records no trace data); the
// check only refuses what the kernel refuses, with its errno, so that a
// spec the model accepts is one tracefs accepts. TestParseSpecAgainstLinux
// compares the verdicts with the running kernel's.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"specvma/errno"
)

// Kernel limits (kernel/trace/trace_probe.h).
const (
	maxTraceArgs  = 128 // MAX_TRACE_ARGS
	maxArgNameLen = 32  // MAX_ARG_NAME_LEN
	maxArgStrLen  = 63  // MAX_ARGSTR_LEN
	maxArrayLen   = 64  // MAX_ARRAY_LEN
	fetchInsnMax  = 16  // FETCH_INSN_MAX: the last slot is the end marker
)

// reservedArgNames are the event fields an argument may not be named.
var reservedArgNames = []string{"common_type", "common_flags", "common_preempt_count",
	"common_pid", "common_tgid", "__probe_ip", "__probe_ret_ip", "__probe_func"}

// x86-64 register names accepted after '%' (regs_query_register_offset).
var fetchRegs = map[string]bool{
	"ax": true, "bx": true, "cx": true, "dx": true, "si": true, "di": true, "bp": true, "sp": true,
	"r8": true, "r9": true, "r10": true, "r11": true, "r12": true, "r13": true, "r14": true, "r15": true,
	"ip": true, "flags": true, "cs": true, "ss": true, "orig_ax": true,
}

// fetchTypes are the TYPE names a uprobe takes (symbol and symstr are for
// kernel probes only); the bool marks the string types.
var fetchTypes = map[string]bool{
	"u8": false, "u16": false, "u32": false, "u64": false, "s8": false, "s16": false, "s32": false,
	"s64": false, "x8": false, "x16": false, "x32": false, "x64": false, "char": false,
	"string": true, "ustring": true,
}

// argError is why one fetch argument is refused.
type argError struct {
	errno errno.Errno
	msg   string
}

func argFail(format string, a ...any) *argError {
	return &argError{errno.EINVAL, fmt.Sprintf(format, a...)}
}

// checkFetchArgs checks a probe's arguments; ret is true for a return
// probe.
func (p parser) checkFetchArgs(args []string, ret bool) error {
	if len(args) > maxTraceArgs {
		return p.failErrno(errno.E2BIG, "%d fetch arguments: at most %d", len(args), maxTraceArgs)
	}
	var names []string
	for i, a := range args {
		name, body, named := strings.Cut(a, "=")
		if !named {
			name, body = "arg"+strconv.Itoa(i+1), a
		}
		var e *argError
		switch {
		case named && name == "":
			e = argFail("no name before '='")
		case len(name) > maxArgNameLen:
			e = argFail("name longer than %d bytes", maxArgNameLen)
		case !goodName(name, false):
			e = argFail("bad name %q (want letters, digits and _, not starting with a digit)", name)
		case slices.Contains(reservedArgNames, name) || slices.Contains(names, name):
			e = argFail("name %q is already used (or reserved)", name)
		default:
			e = checkFetchBody(body, ret)
		}
		if e != nil {
			return p.failErrno(e.errno, "fetch argument %d %q: %s", i+1, a, e.msg)
		}
		names = append(names, name)
	}
	return nil
}

// fetchOp is what the last instruction of a parsed FETCHARG does.
type fetchOp int

const (
	opReg fetchOp = iota
	opStack
	opRetval
	opComm
	opImm
	opData // an immediate string
	opDeref
)

// checkFetchBody checks FETCHARG[:TYPE[[N]]].
func checkFetchBody(body string, ret bool) *argError {
	switch {
	case len(body) > maxArgStrLen:
		return &argError{errno.E2BIG, fmt.Sprintf("longer than %d bytes", maxArgStrLen)}
	case body == "":
		return argFail("nothing after '='")
	}
	arg, typ, typed := strings.Cut(body, ":")
	count := 0
	if typed {
		if t, n, arr := strings.Cut(typ, "["); arr {
			num, ok := strings.CutSuffix(n, "]")
			switch {
			case !strings.Contains(n, "]"):
				return argFail("array without ']'")
			case !ok:
				return argFail("text after the array's ']'")
			}
			c, e := kstrtoul(num)
			if e != 0 || c == 0 || c > 1<<32-1 {
				return argFail("bad array length %q", num)
			}
			if c > maxArrayLen {
				return argFail("array of %d: at most %d", c, maxArrayLen)
			}
			typ, count = t, int(c)
		}
	}
	isString := false
	if arg == "$comm" || arg == "$COMM" || strings.HasPrefix(arg, `\"`) {
		if count > 0 || (typed && typ != "string") {
			return argFail("%s can only be fetched as type string", arg)
		}
		isString = true
	} else if typed {
		s, known := fetchTypes[typ]
		if !known && !bitfieldType(typ) {
			return argFail("unknown type %q", typ)
		}
		isString = s
	}
	op, slots, e := parseFetchArg(arg, ret)
	if e != nil {
		return e
	}
	// The store and modify instructions need slots of their own.
	extra := 0
	switch {
	case isString:
		if op != opDeref && op != opImm && op != opComm && op != opData {
			return argFail("type string needs memory: dereference %s (+0(%s))", arg, arg)
		}
		extra++
	case op != opDeref:
		extra++ // a raw store
	}
	if typed && strings.HasPrefix(typ, "b") {
		if e := checkBitfield(typ); e != nil {
			return e
		}
		extra++
	}
	if count > 0 {
		if op != opDeref && !(isString && op == opDeref) {
			return argFail("an array needs memory: dereference %s", arg)
		}
		extra++
	}
	if slots+extra > fetchInsnMax-1 {
		return &argError{errno.E2BIG, "too many fetch operations"}
	}
	return nil
}

// bitfieldType reports a TYPE of the form b.../N with N 8, 16, 32 or 64
// (what find_fetch_type accepts; checkBitfield checks the rest).
func bitfieldType(t string) bool {
	if !strings.HasPrefix(t, "b") {
		return false
	}
	_, size, ok := strings.Cut(t, "/")
	if !ok {
		return false
	}
	n, e := kstrtoul(size)
	return e == 0 && (n == 8 || n == 16 || n == 32 || n == 64)
}

// checkBitfield checks b<width>@<offset>/<size>: a non-zero width, and
// width+offset within the container.
func checkBitfield(t string) *argError {
	w, rest := leadingUint(t[1:])
	if w == 0 || !strings.HasPrefix(rest, "@") {
		return argFail("bad bitfield %q (want b<width>@<offset>/<size>)", t)
	}
	o, rest2 := leadingUint(rest[1:])
	if rest2 == rest[1:] || !strings.HasPrefix(rest2, "/") {
		return argFail("bad bitfield %q (want b<width>@<offset>/<size>)", t)
	}
	size, _ := kstrtoul(rest2[1:])
	if w+o > size {
		return argFail("bitfield %q does not fit in %d bits", t, size)
	}
	return nil
}

// leadingUint reads a number at the start of s as simple_strtoul(s, 0)
// does (0x hex, 0 octal, else decimal) and returns what follows it.
func leadingUint(s string) (uint64, string) {
	base, i := uint64(10), 0
	switch {
	case len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x' && digitVal(s[2]) < 16:
		base, i = 16, 2
	case len(s) > 1 && s[0] == '0':
		base, i = 8, 1
	}
	var v uint64
	for ; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			break
		}
		v = v*base + d
	}
	return v, s[i:]
}

// parseFetchArg parses one FETCHARG (without its type) and returns its last
// operation and the instruction slots it uses.
func parseFetchArg(arg string, ret bool) (fetchOp, int, *argError) {
	if arg == "" {
		return 0, 0, argFail("empty fetch argument")
	}
	switch arg[0] {
	case '$':
		v := arg[1:]
		switch {
		case v == "retval":
			if !ret {
				return 0, 0, argFail("$retval is only for return probes")
			}
			return opRetval, 1, nil
		case v == "stack":
			return opStack, 1, nil
		case strings.HasPrefix(v, "stack"):
			if !isDigit(v[5]) || strings.TrimLeft(v[5:], "0123456789") != "" {
				return 0, 0, argFail("bad variable %q", arg)
			}
			return opStack, 1, nil
		case v == "comm" || v == "COMM":
			return opComm, 1, nil
		}
		return 0, 0, argFail("bad variable %q (uprobes take $stack, $stackN, $retval, $comm)", arg)
	case '%':
		if !fetchRegs[arg[1:]] {
			return 0, 0, argFail("unknown register %q", arg)
		}
		return opReg, 1, nil
	case '@':
		switch {
		case len(arg) > 1 && arg[1] >= '0' && arg[1] <= '9':
			if _, e := kstrtoul(arg[1:]); e != 0 {
				return 0, 0, argFail("bad memory address %q", arg)
			}
		case len(arg) > 1 && arg[1] == '+':
			if _, e := kstrtol(arg[2:]); e != 0 {
				return 0, 0, argFail("bad file offset %q", arg)
			}
		default:
			return 0, 0, argFail("%q: uprobes take no symbols (@ADDR or @+FILEOFFSET)", arg)
		}
		return opDeref, 2, nil
	case '+', '-':
		s := arg
		if len(s) > 1 && s[1] == 'u' {
			s = s[:1] + s[2:]
		}
		if s[0] == '+' {
			s = s[1:]
		}
		open := strings.IndexByte(s, '(')
		if open < 0 {
			return 0, 0, argFail("dereference %q without '('", arg)
		}
		if _, e := kstrtol(s[:open]); e != 0 {
			return 0, 0, argFail("bad dereference offset in %q", arg)
		}
		inner := s[open+1:]
		closeAt := strings.LastIndexByte(inner, ')')
		if closeAt < 0 {
			return 0, 0, argFail("dereference %q without ')'", arg)
		}
		op, slots, e := parseFetchArg(inner[:closeAt], ret)
		if e != nil {
			return 0, 0, e
		}
		if op == opComm || op == opData {
			return 0, 0, argFail("%q: $comm and strings cannot be dereferenced", arg)
		}
		if slots+1 > fetchInsnMax-1 {
			return 0, 0, argFail("too many nested dereferences")
		}
		return opDeref, slots + 1, nil
	case '\\':
		if strings.HasPrefix(arg, `\"`) {
			if len(arg) < 3 || arg[len(arg)-1] != '"' {
				return 0, 0, argFail("immediate string %q without its closing '\"'", arg)
			}
			return opData, 1, nil
		}
		v := arg[1:]
		e := errno.EINVAL
		switch {
		case v != "" && isDigit(v[0]):
			_, e = kstrtoul(v)
		case v != "" && v[0] == '-':
			_, e = kstrtol(v)
		case v != "" && v[0] == '+':
			_, e = kstrtol(v[1:])
		}
		if e != 0 {
			return 0, 0, argFail("bad immediate %q", arg)
		}
		return opImm, 1, nil
	case '(':
		return 0, 0, &argError{errno.EOPNOTSUPP, fmt.Sprintf("%q: type casts need BTF, which uprobes do not have", arg)}
	}
	if isAlpha(arg[0]) || arg[0] == '_' {
		return 0, 0, argFail("%q: named variables need BTF, which uprobes do not have", arg)
	}
	return 0, 0, argFail("%q is not a fetch argument", arg)
}

// kstrtol parses as the kernel's kstrtol(s, 0): kstrtoul with an
// optional '-', within the range of a long.
func kstrtol(s string) (int64, errno.Errno) {
	neg := strings.HasPrefix(s, "-")
	v, e := kstrtoul(strings.TrimPrefix(s, "-"))
	switch {
	case e != 0:
		return 0, e
	case neg && v > 1<<63, !neg && v > 1<<63-1:
		return 0, errno.ERANGE
	case neg:
		return -int64(v), 0
	}
	return int64(v), 0
}
