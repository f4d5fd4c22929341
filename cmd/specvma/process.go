package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"specvma/mm"
	"specvma/procfs"
)

// The exit statuses of the commands that read a live process (maps,
// probes, resolve): 2 for a malformed argument (a bad PID, address or
// spec), 1 for a process that cannot be loaded — it does not exist, it
// has no user address space (a kernel thread, a zombie), or its maps
// cannot be read.
const (
	exitNoProcess = 1
	exitUsage     = 2
)

// processInfo is what /proc/PID/stat says about a process.
type processInfo struct {
	comm    string
	state   byte
	kthread bool
}

// pfKthread is PF_KTHREAD in the flags field of /proc/PID/stat.
const pfKthread = 0x00200000

// readProcessInfo reads /proc/PID/stat: "PID (COMM) STATE PPID ... FLAGS ...".
func readProcessInfo(pid int) (processInfo, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return processInfo{}, err
	}
	s := string(b)
	open, closeAt := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closeAt < open {
		return processInfo{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[closeAt+1:])
	if len(f) < 7 || len(f[0]) != 1 {
		return processInfo{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return processInfo{}, fmt.Errorf("/proc/%d/stat: bad flags %q", pid, f[6])
	}
	return processInfo{comm: s[open+1 : closeAt], state: f[0][0], kthread: flags&pfKthread != 0}, nil
}

// loadProcess loads process pid into the model. When it cannot, it says
// why on stderr, naming what the process is, and returns exitNoProcess.
func loadProcess(cmd string, pid int, stderr io.Writer) (*mm.AddressSpace, int) {
	return loadProcessWith(cmd, pid, procfs.LoadOptions{}, stderr)
}

// loadProcessWith is loadProcess reading as o says (procfs.LoadLive). When
// torn readings had to be read again, it says how many on stderr.
func loadProcessWith(cmd string, pid int, o procfs.LoadOptions, stderr io.Writer) (*mm.AddressSpace, int) {
	fail := func(format string, a ...any) (*mm.AddressSpace, int) {
		fmt.Fprintf(stderr, "specvma %s: "+format+"\n", append([]any{cmd}, a...)...)
		return nil, exitNoProcess
	}
	info, err := readProcessInfo(pid)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail("no process with PID %d", pid)
	case err != nil:
		return fail("%v", err)
	case info.kthread:
		return fail("PID %d (%s) is a kernel thread: it has no user address space to load", pid, info.comm)
	case info.state == 'Z' || info.state == 'X':
		return fail("PID %d (%s) is a zombie: it has exited and its address space is gone", pid, info.comm)
	}
	as, st, err := procfs.LoadLive(pid, o)
	if st.Retries > 0 {
		fmt.Fprintf(stderr, "specvma %s: PID %d changed its mappings while they were read: %d torn readings read again\n", cmd, pid, st.Retries)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail("PID %d (%s) exited while its maps were read", pid, info.comm)
	case err != nil:
		return fail("PID %d (%s): %v", pid, info.comm, err)
	}
	return as, 0
}

// writeJSON prints v as indented JSON: the -json output of maps, probes
// and resolve.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// hex formats an address or offset for JSON: a string, since JSON readers
// often hold numbers as doubles, which lose the low bits of 64-bit
// addresses.
func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
