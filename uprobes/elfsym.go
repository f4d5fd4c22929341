package uprobes

// Invariants (elfsym.go):
//   - A file offset is computed only through an executable PT_LOAD segment
//     whose file image contains the symbol's address:
//     off = value - p_vaddr + p_offset, with p_vaddr <= value < p_vaddr+p_filesz.
//   - Parsing never panics on user input: debug/elf is called under recover,
//     and a corrupt or truncated file gives an error wrapping ENOEXEC.
//   - The offset returned lies inside the file.
//   - Only defined symbols (a section index, a non-zero value) are used;
//     .symtab is preferred to .dynsym, STT_FUNC to STT_GNU_IFUNC to STT_NOTYPE.

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"specvma/errno"
)

// Segment is a loadable program header: the model of which file ranges a
// mapping of the file may execute.
type Segment struct {
	Vaddr, Off    uint64 // p_vaddr, p_offset
	Filesz, Memsz uint64 // p_filesz, p_memsz
	Flags         elf.ProgFlag
}

// Executable reports PF_X.
func (s Segment) Executable() bool { return s.Flags&elf.PF_X != 0 }

// FileOffset converts a virtual address inside the segment's file image to
// a file offset; ok is false outside it.
func (s Segment) FileOffset(vaddr uint64) (off uint64, ok bool) {
	if vaddr < s.Vaddr || vaddr-s.Vaddr >= s.Filesz {
		return 0, false
	}
	return vaddr - s.Vaddr + s.Off, true
}

// ExecSegments lists the executable PT_LOAD segments of the ELF file in r.
func ExecSegments(r io.ReaderAt) (segs []Segment, err error) {
	defer recoverELF(&err)
	f, err := openELF(r)
	if err != nil {
		return nil, err
	}
	return execSegments(f), nil
}

// ExecSegmentsFile is ExecSegments on the file at path.
func ExecSegmentsFile(path string) ([]Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ExecSegments(f)
}

// SymbolOffset returns the file offset of function symbol in the ELF file
// at path: the OFFSET a uprobe on it takes.
func SymbolOffset(path, symbol string) (uint64, error) {
	fs, err := lookupSymbolFile(path, symbol)
	return fs.off, err
}

// SymbolOffsetReader is SymbolOffset on an ELF image read through r.
func SymbolOffsetReader(r io.ReaderAt, symbol string) (uint64, error) {
	fs, err := lookupSymbol(r, symbol)
	return fs.off, err
}

// funcSym is a resolved symbol: its address, size and file offset.
type funcSym struct {
	value, size, off uint64
}

func lookupSymbolFile(path, symbol string) (funcSym, error) {
	f, err := os.Open(path)
	if err != nil {
		return funcSym{}, err
	}
	defer f.Close()
	return lookupSymbol(f, symbol)
}

func lookupSymbol(r io.ReaderAt, name string) (fs funcSym, err error) {
	defer recoverELF(&err)
	f, err := openELF(r)
	if err != nil {
		return funcSym{}, err
	}
	sym, err := findSymbol(f, name)
	if err != nil {
		return funcSym{}, err
	}
	for _, s := range execSegments(f) {
		if off, ok := s.FileOffset(sym.Value); ok {
			fs := funcSym{sym.Value, sym.Size, off}
			return fs, inFile(r, name, off)
		}
	}
	return funcSym{}, fmt.Errorf("uprobes: symbol %q at %#x is in no executable PT_LOAD segment: %w",
		name, sym.Value, errno.EINVAL)
}

// inFile checks that the file has a byte at off (a program header may
// claim more file than there is).
func inFile(r io.ReaderAt, name string, off uint64) error {
	var b [1]byte
	if off > math.MaxInt64 {
		return fmt.Errorf("uprobes: symbol %q: offset %#x beyond the file: %w", name, off, errno.EINVAL)
	}
	if _, err := r.ReadAt(b[:], int64(off)); err != nil {
		return fmt.Errorf("uprobes: symbol %q: offset %#x beyond the file: %w", name, off, errno.EINVAL)
	}
	return nil
}

func openELF(r io.ReaderAt) (*elf.File, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("uprobes: not a valid ELF file: %v: %w", err, errno.ENOEXEC)
	}
	return f, nil
}

// recoverELF turns a panic inside debug/elf into an error.
func recoverELF(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("uprobes: corrupt ELF file (%v): %w", p, errno.ENOEXEC)
	}
}

func execSegments(f *elf.File) []Segment {
	var segs []Segment
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			segs = append(segs, Segment{p.Vaddr, p.Off, p.Filesz, p.Memsz, p.Flags})
		}
	}
	return segs
}

// findSymbol looks name up in .symtab, then .dynsym.
func findSymbol(f *elf.File, name string) (elf.Symbol, error) {
	for _, load := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, err := load()
		if errors.Is(err, elf.ErrNoSymbols) {
			continue
		}
		if err != nil {
			return elf.Symbol{}, fmt.Errorf("uprobes: reading symbols: %v: %w", err, errno.ENOEXEC)
		}
		if s, ok := bestSymbol(syms, name); ok {
			return s, nil
		}
	}
	return elf.Symbol{}, fmt.Errorf("uprobes: no function symbol %q: %w", name, errno.ENOENT)
}

// bestSymbol picks the defined symbol called name of the best rank.
func bestSymbol(syms []elf.Symbol, name string) (elf.Symbol, bool) {
	best, bestRank := elf.Symbol{}, len(symRanks)
	for _, s := range syms {
		if s.Name != name || s.Section == elf.SHN_UNDEF || s.Value == 0 {
			continue
		}
		if r := symRank(elf.ST_TYPE(s.Info)); r < bestRank {
			best, bestRank = s, r
		}
	}
	return best, bestRank < len(symRanks)
}

var symRanks = []elf.SymType{elf.STT_FUNC, elf.STT_GNU_IFUNC, elf.STT_NOTYPE}

func symRank(t elf.SymType) int {
	for i, x := range symRanks {
		if x == t {
			return i
		}
	}
	return len(symRanks)
}
