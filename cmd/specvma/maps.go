package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"specvma/procfs"
)

var mapsCommand = command{
	name:    "maps",
	summary: "load a live process (PID or self) into the model and print its maps",
	run:     runMaps,
}

// runMaps is `specvma maps PID|self`: it reads /proc/PID/maps, builds the
// model address space that stands for it and prints the model's maps text,
// which matches the kernel's byte for byte.
func runMaps(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("maps", stderr, `usage: specvma maps [-json] [-query] [-exec] PID|self

Loads the mappings of a live process into the specvma model and prints
the model's /proc/PID/maps text, which equals the kernel's. With -json,
a list of mappings: start, end, perms, offset (addresses as "0x..."
strings), dev, inode, name (the name column as maps prints it), and for
a file mapping its path and whether the file was deleted.

The text is read again while it is torn (lines that overlap: the process
changed its mappings during the reading), and stderr says how many times.
With -query the process is walked with the PROCMAP_QUERY ioctl, one
mapping per call, instead of parsing its text (no [vsyscall] line); with
-exec only its executable file-backed mappings are loaded.

Exit status: 0; 1 when the process cannot be loaded (it does not exist,
or is a kernel thread or a zombie); 2 for a bad argument.
`)
	asJSON := fs.Bool("json", false, "print the mappings as JSON")
	query := fs.Bool("query", false, "walk the process with PROCMAP_QUERY instead of parsing its maps text")
	execOnly := fs.Bool("exec", false, "load only executable file-backed mappings")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	pid, err := mapsPID(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "specvma maps: %v\n", err)
		return 2
	}
	as, code := loadProcessWith("maps", pid, procfs.LoadOptions{Query: *query, ExecOnly: *execOnly}, stderr)
	if code != 0 {
		return code
	}
	defer as.Exit()
	vmas, l := as.Snapshot()
	var text strings.Builder
	err = procfs.Render(&text, vmas, l)
	if err == nil && *asJSON {
		err = writeMapsJSON(stdout, text.String())
	} else if err == nil {
		_, err = io.WriteString(stdout, text.String())
	}
	if err != nil {
		fmt.Fprintf(stderr, "specvma maps: %v\n", err)
		return 1
	}
	return 0
}

// mapsEntry is one mapping in the -json output of maps.
type mapsEntry struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	Perms    string `json:"perms"`
	Offset   string `json:"offset"`
	Dev      string `json:"dev"`
	Inode    uint64 `json:"inode"`
	Name     string `json:"name"`                // the name column as maps prints it; "" when none
	Path     string `json:"path,omitempty"`      // a file mapping's path, " (deleted)" and escapes undone
	Deleted  bool   `json:"deleted,omitempty"`   // the file was unlinked
	AnonName string `json:"anon_name,omitempty"` // NAME of [anon:NAME]
}

// writeMapsJSON prints maps text as a JSON list: parsed back from the text
// itself, so that the two outputs always agree.
func writeMapsJSON(w io.Writer, text string) error {
	entries, err := procfs.ParseString(text)
	if err != nil {
		return err
	}
	out := make([]mapsEntry, 0, len(entries))
	for _, e := range entries {
		m := mapsEntry{Start: hex(e.Start), End: hex(e.End), Perms: e.Perms.String(), Offset: hex(e.Offset),
			Dev: fmt.Sprintf("%02x:%02x", e.Dev.Major, e.Dev.Minor), Inode: e.Inode, Name: e.Name}
		if e.FileBacked() {
			m.Path, m.Deleted = e.Path(), e.Deleted()
		}
		m.AnonName, _ = e.AnonName()
		out = append(out, m)
	}
	return writeJSON(w, out)
}

// mapsPID accepts a positive decimal process ID or "self".
func mapsPID(s string) (int, error) {
	if s == "self" {
		return os.Getpid(), nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad process ID %q: want a positive number or self", s)
	}
	return pid, nil
}
