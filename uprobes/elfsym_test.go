package uprobes

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"specvma/errno"
	"specvma/internal/testsupport"
)

// testSym is a symbol for buildELF; shndx 0 makes it undefined.
type testSym struct {
	name        string
	typ         elf.SymType
	value, size uint64
	shndx       uint16
}

const (
	textVaddr = 0x400000 // the executable segment: file offsets [0, textEnd)
	dataVaddr = 0x600000 // a read-write segment: file offsets [textEnd, fileEnd)
	textEnd   = 0x200
)

// buildELF writes a small x86-64 executable: a PT_LOAD R+X segment over the
// file's first textEnd bytes, a PT_LOAD RW segment after it, and a .symtab.
func buildELF(syms []testSym) []byte {
	le := binary.LittleEndian
	var strtab, shstrtab bytes.Buffer
	strtab.WriteByte(0)
	shstrtab.WriteByte(0)
	symtab := make([]byte, 24) // the null symbol
	for _, s := range syms {
		e := make([]byte, 24)
		le.PutUint32(e[0:], uint32(strtab.Len()))
		strtab.WriteString(s.name + "\x00")
		e[4] = byte(elf.STB_GLOBAL)<<4 | byte(s.typ)
		le.PutUint16(e[6:], s.shndx)
		le.PutUint64(e[8:], s.value)
		le.PutUint64(e[16:], s.size)
		symtab = append(symtab, e...)
	}
	body := make([]byte, textEnd+0x100) // header, phdrs, code, data
	copy(body[0x100:], bytes.Repeat([]byte{0x90}, 0x100))
	off := uint64(len(body))
	name := func(n string) uint32 { i := shstrtab.Len(); shstrtab.WriteString(n + "\x00"); return uint32(i) }
	type sh struct {
		name           uint32
		typ            elf.SectionType
		flags, addr    uint64
		off, size      uint64
		link, info     uint32
		align, entsize uint64
	}
	shs := []sh{{}, {name(".text"), elf.SHT_PROGBITS, 6, textVaddr + 0x100, 0x100, 0x100, 0, 0, 16, 0}}
	shs = append(shs, sh{name(".symtab"), elf.SHT_SYMTAB, 0, 0, off, uint64(len(symtab)), 3, 1, 8, 24})
	body = append(body, symtab...)
	shs = append(shs, sh{name(".strtab"), elf.SHT_STRTAB, 0, 0, uint64(len(body)), uint64(strtab.Len()), 0, 0, 1, 0})
	body = append(body, strtab.Bytes()...)
	shs = append(shs, sh{name(".shstrtab"), elf.SHT_STRTAB, 0, 0, uint64(len(body)), 0, 0, 0, 1, 0})
	shs[4].size = uint64(shstrtab.Len())
	body = append(body, shstrtab.Bytes()...)
	shoff := uint64(len(body))
	for _, s := range shs {
		e := make([]byte, 64)
		le.PutUint32(e[0:], s.name)
		le.PutUint32(e[4:], uint32(s.typ))
		le.PutUint64(e[8:], s.flags)
		le.PutUint64(e[16:], s.addr)
		le.PutUint64(e[24:], s.off)
		le.PutUint64(e[32:], s.size)
		le.PutUint32(e[40:], s.link)
		le.PutUint32(e[44:], s.info)
		le.PutUint64(e[48:], s.align)
		le.PutUint64(e[56:], s.entsize)
		body = append(body, e...)
	}
	writeELFHeader(body, shoff, len(shs))
	writePhdr(body[64:], elf.PF_R|elf.PF_X, 0, textVaddr, textEnd)
	writePhdr(body[64+56:], elf.PF_R|elf.PF_W, textEnd, dataVaddr, 0x100)
	return body
}

func writeELFHeader(b []byte, shoff uint64, shnum int) {
	le := binary.LittleEndian
	copy(b, elf.ELFMAG)
	b[4], b[5], b[6] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[24:], textVaddr+0x100) // entry
	le.PutUint64(b[32:], 64)              // phoff
	le.PutUint64(b[40:], shoff)
	le.PutUint16(b[52:], 64) // ehsize
	le.PutUint16(b[54:], 56) // phentsize
	le.PutUint16(b[56:], 2)  // phnum
	le.PutUint16(b[58:], 64) // shentsize
	le.PutUint16(b[60:], uint16(shnum))
	le.PutUint16(b[62:], uint16(shnum-1)) // shstrndx
}

func writePhdr(b []byte, flags elf.ProgFlag, off, vaddr, size uint64) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(elf.PT_LOAD))
	le.PutUint32(b[4:], uint32(flags))
	le.PutUint64(b[8:], off)
	le.PutUint64(b[16:], vaddr)
	le.PutUint64(b[24:], vaddr)
	le.PutUint64(b[32:], size)
	le.PutUint64(b[40:], size)
	le.PutUint64(b[48:], 0x1000)
}

func testImage() []byte {
	return buildELF([]testSym{
		{"f", elf.STT_FUNC, textVaddr + 0x110, 0x10, 1},
		{"dup", elf.STT_NOTYPE, textVaddr + 0x120, 0, 1},
		{"dup", elf.STT_FUNC, textVaddr + 0x130, 8, 1},
		{"ifn", elf.STT_GNU_IFUNC, textVaddr + 0x140, 4, 1},
		{"label", elf.STT_NOTYPE, textVaddr + 0x150, 0, 1},
		{"obj", elf.STT_OBJECT, textVaddr + 0x160, 4, 1},
		{"data", elf.STT_FUNC, dataVaddr + 0x10, 4, 1},
		{"ext", elf.STT_FUNC, 0, 0, 0},
	})
}

func TestSymbolOffsetSynthetic(t *testing.T) {
	img := testImage()
	cases := []struct {
		sym  string
		want uint64
		err  errno.Errno
	}{
		{"f", 0x110, 0},
		{"dup", 0x130, 0}, // STT_FUNC preferred over NOTYPE
		{"ifn", 0x140, 0},
		{"label", 0x150, 0},
		{"obj", 0, errno.ENOENT},   // data objects are not probe targets
		{"data", 0, errno.EINVAL},  // in no executable segment
		{"ext", 0, errno.ENOENT},   // undefined
		{"nope", 0, errno.ENOENT},  // absent
		{"", 0, errno.ENOENT},      // the null symbol is not a match
		{"f\x00", 0, errno.ENOENT}, // no prefix matches
	}
	for _, tc := range cases {
		got, err := SymbolOffsetReader(bytes.NewReader(img), tc.sym)
		if tc.err != 0 {
			if !errors.Is(err, tc.err) {
				t.Errorf("SymbolOffset(%q): err %v, want %v", tc.sym, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SymbolOffset(%q) = %#x, %v; want %#x", tc.sym, got, err, tc.want)
		}
	}
	segs, err := ExecSegments(bytes.NewReader(img))
	if err != nil || len(segs) != 1 || segs[0].Vaddr != textVaddr || segs[0].Filesz != textEnd || !segs[0].Executable() {
		t.Fatalf("ExecSegments = %+v, %v", segs, err)
	}
	if off, ok := segs[0].FileOffset(textVaddr + textEnd); ok {
		t.Fatalf("FileOffset past the segment = %#x", off)
	}
}

func TestSymbolOffsetCorrupt(t *testing.T) {
	img := testImage()
	for _, n := range []int{0, 4, 16, 63, 64, 100, 200, len(img) - 70, len(img) - 1} {
		_, err := SymbolOffsetReader(bytes.NewReader(img[:n]), "f")
		if err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := SymbolOffsetReader(bytes.NewReader([]byte("not an elf file")), "f"); !errors.Is(err, errno.ENOEXEC) {
		t.Errorf("garbage: %v, want ENOEXEC", err)
	}
	if _, err := SymbolOffset("/nonexistent/file", "f"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// gccBinary compiles a tiny C program into dir; the test is skipped without gcc.
func gccBinary(t *testing.T, name string, flags ...string) string {
	gcc := testsupport.RequireTool(t, "gcc", "the ELF cross-check needs a C compiler")
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	if err := os.WriteFile(src, []byte("int f1(void){return 1;}\nint main(void){return f1();}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	args := append([]string{"-O0", "-o", bin, src}, flags...)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Skipf("gcc %v failed: %v\n%s", args, err, out)
	}
	return bin
}

func tool(t *testing.T, name string, args ...string) string {
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not found: the ELF cross-check needs binutils", name)
	}
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// nmValue reads a symbol's address from nm's output.
func nmValue(t *testing.T, out, sym string) uint64 {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == sym {
			v, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("nm does not list %s:\n%s", sym, out)
	return 0
}

// readelfOffset converts vaddr to a file offset by readelf -lW's LOAD lines.
func readelfOffset(t *testing.T, out string, vaddr uint64) uint64 {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 8 || f[0] != "LOAD" || !strings.Contains(strings.Join(f[6:len(f)-1], ""), "E") {
			continue
		}
		off, _ := strconv.ParseUint(f[1], 0, 64)
		va, _ := strconv.ParseUint(f[2], 0, 64)
		filesz, _ := strconv.ParseUint(f[4], 0, 64)
		if vaddr >= va && vaddr < va+filesz {
			return vaddr - va + off
		}
	}
	t.Fatalf("no executable LOAD segment holds %#x:\n%s", vaddr, out)
	return 0
}

func TestSymbolOffsetGCC(t *testing.T) {
	variants := []struct {
		name    string
		flags   []string
		strip   bool
		nmFlags []string
	}{
		{"pie", nil, false, nil},
		{"nopie", []string{"-no-pie"}, false, nil},
		{"dynsym", []string{"-rdynamic"}, true, []string{"-D"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			bin := gccBinary(t, v.name, v.flags...)
			if v.strip {
				tool(t, "strip", bin)
			}
			value := nmValue(t, tool(t, "nm", append(v.nmFlags, "--defined-only", bin)...), "f1")
			want := readelfOffset(t, tool(t, "readelf", "-lW", bin), value)
			got, err := SymbolOffset(bin, "f1")
			if err != nil || got != want {
				t.Fatalf("SymbolOffset(f1) = %#x, %v; nm+readelf say %#x", got, err, want)
			}
			checkCodeAt(t, bin, value, got)
			checkResolve(t, bin, got)
		})
	}
}

// checkCodeAt compares the file's bytes at off with the code at vaddr as the
// section headers place it, when the file still has them.
func checkCodeAt(t *testing.T, bin string, vaddr, off uint64) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text := f.Section(".text")
	if text == nil || vaddr < text.Addr || vaddr+4 > text.Addr+text.Size {
		t.Fatalf("f1 at %#x is not in .text", vaddr)
	}
	code := make([]byte, 4)
	if _, err := text.ReadAt(code, int64(vaddr-text.Addr)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw[off:off+4], code) {
		t.Fatalf("bytes at offset %#x are % x, .text has % x", off, raw[off:off+4], code)
	}
}

func checkResolve(t *testing.T, bin string, off uint64) {
	s, err := ParseSpec("p " + bin + ":f1+1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil || r.Offset != off+1 || r.Symbol != "" || r.Event != DefaultEventName(bin, off+1) {
		t.Fatalf("Resolve = %+v, %v", r, err)
	}
	s, _ = ParseSpec("p " + bin + ":f1+0x10000")
	if _, err := s.Resolve(); !errors.Is(err, errno.EINVAL) {
		t.Fatalf("offset beyond f1: %v, want EINVAL", err)
	}
	s, _ = ParseSpec("p " + bin + ":no_such_function")
	if _, err := s.Resolve(); !errors.Is(err, errno.ENOENT) {
		t.Fatalf("missing symbol: %v, want ENOENT", err)
	}
}

func FuzzSymbolOffset(f *testing.F) {
	img := testImage()
	f.Add(img[:64], "f")
	f.Add([]byte("\x7fELF\x02\x01\x01"), "main")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, data []byte, sym string) {
		off, err := SymbolOffsetReader(bytes.NewReader(data), sym)
		if err == nil && off >= uint64(len(data)) {
			t.Fatalf("offset %#x is outside the %d-byte file", off, len(data))
		}
		segs, err := ExecSegments(bytes.NewReader(data))
		for _, s := range segs {
			if err != nil || !s.Executable() {
				t.Fatalf("ExecSegments returned %+v with %v", s, err)
			}
		}
	})
}
