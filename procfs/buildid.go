package procfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"

	"specvma/mm"
	"specvma/vfs"
)

// buildIDMax is BUILD_ID_SIZE_MAX: the longest build ID the kernel reports.
const buildIDMax = 20

// buildIDOf is build_id_parse for a file-backed VMA: the GNU build ID in
// the PT_NOTE segments of the ELF file behind it. The model's files are
// paths on the host, so it reads the file there, and only when the path
// still leads to the inode the VMA maps (a deleted or replaced file has no
// build ID in the model).
func buildIDOf(in *mm.Info, inode *vfs.Inode) ([]byte, bool) {
	if in.File == nil || inode == nil || inode.Deleted() {
		return nil, false
	}
	path := in.Path
	if path == "" {
		path = in.File.Path()
	}
	if len(path) == 0 || path[0] != '/' || !sameFile(path, inode.ID()) {
		return nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	return elfBuildID(f)
}

// elfBuildID finds the NT_GNU_BUILD_ID note named "GNU" in r's PT_NOTE
// segments.
func elfBuildID(r io.ReaderAt) ([]byte, bool) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, false
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		if id, ok := findGNUBuildID(data, ef.ByteOrder); ok {
			return id, true
		}
	}
	return nil, false
}

func findGNUBuildID(data []byte, bo binary.ByteOrder) ([]byte, bool) {
	const ntGNUBuildID = 3
	for len(data) >= 12 {
		nameSz, descSz, typ := bo.Uint32(data), bo.Uint32(data[4:]), bo.Uint32(data[8:])
		nameEnd := 12 + (uint64(nameSz)+3)&^3
		descEnd := nameEnd + (uint64(descSz)+3)&^3
		if nameEnd > uint64(len(data)) || nameEnd+uint64(descSz) > uint64(len(data)) {
			return nil, false
		}
		if typ == ntGNUBuildID && nameSz == 4 && bytes.Equal(data[12:16], []byte("GNU\x00")) &&
			descSz > 0 && descSz <= buildIDMax {
			return append([]byte(nil), data[nameEnd:nameEnd+uint64(descSz)]...), true
		}
		if descEnd > uint64(len(data)) {
			return nil, false
		}
		data = data[descEnd:]
	}
	return nil, false
}
