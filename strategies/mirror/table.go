package mirror

import (
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The volume table, committed whole with meta.DualSlot:
//
//	u32 magic "MIRR", u32 version
//	u64 next volume id, u64 next mirror id
//	u32 volume count, u32 mirror count
//	per volume (by id):  u64 id, u8 kind, u64 parent, i64 size, i64 extent,
//	                     i64 bitmap length, string name
//	per mirror (by id):  u64 id, u64 source volume, i64 size, i64 extent,
//	                     i64 bitmap length
//
// A volume's extent is [extent, extent+bitmap length+size): its bitmap area
// (splits only; bases have none), then its data. A split volume whose parent
// is non-zero tracks changes against that parent in its bitmap area; a
// mirror's bitmap area holds its out-of-sync chunks.
const (
	tableMagic   = 0x5252494d // "MIRR"
	tableVersion = 1
	tableHeader  = 4 + 4 + 8 + 8 + 4 + 4
	volRecordMax = 8 + 1 + 8 + 8 + 8 + 8 + 2 + strategies.MaxNameLen
	mirRecordLen = 8 + 8 + 8 + 8 + 8
)

// volRecord is a volume's persistent description.
type volRecord struct {
	id     strategies.VolumeID
	kind   strategies.Kind
	parent strategies.VolumeID // source of the split, tracked; 0: none or deleted
	size   int64
	ext    int64
	bmLen  int64
	name   string
}

// mirRecord is an attached mirror's persistent description.
type mirRecord struct {
	id    MirrorID
	src   strategies.VolumeID
	size  int64
	ext   int64
	bmLen int64
}

// table is a decoded volume table.
type table struct {
	nextVol strategies.VolumeID
	nextMir MirrorID
	vols    []volRecord
	mirs    []mirRecord
}

// geometry is what the table is validated against.
type geometry struct {
	chunk     int64
	dataStart int64
	capacity  int64
}

// bitmapLen is the bitmap area of an extent for size bytes of data: whole
// bitmap blocks, rounded up to a chunk so that data stays chunk aligned.
func (g geometry) bitmapLen(size int64) int64 {
	n := blocksFor(size/g.chunk) * blockSize
	return (n + g.chunk - 1) / g.chunk * g.chunk
}

func (t *table) encode() []byte {
	enc := meta.Encoder{B: make([]byte, 0, tableHeader+len(t.vols)*volRecordMax+len(t.mirs)*mirRecordLen)}
	enc.U32(tableMagic)
	enc.U32(tableVersion)
	enc.U64(uint64(t.nextVol))
	enc.U64(uint64(t.nextMir))
	enc.U32(uint32(len(t.vols)))
	enc.U32(uint32(len(t.mirs)))
	for _, v := range t.vols {
		enc.U64(uint64(v.id))
		enc.U8(uint8(v.kind))
		enc.U64(uint64(v.parent))
		enc.I64(v.size)
		enc.I64(v.ext)
		enc.I64(v.bmLen)
		enc.String(v.name)
	}
	for _, m := range t.mirs {
		enc.U64(uint64(m.id))
		enc.U64(uint64(m.src))
		enc.I64(m.size)
		enc.I64(m.ext)
		enc.I64(m.bmLen)
	}
	return enc.B
}

// decodeTable decodes and validates a table record. It never panics; every
// inconsistency is an error wrapping strategies.ErrCorrupt.
func decodeTable(rec []byte, g geometry) (*table, error) {
	bad := func(format string, args ...any) (*table, error) {
		return nil, fmt.Errorf("mirror: %w: volume table: %s", strategies.ErrCorrupt, fmt.Sprintf(format, args...))
	}
	d := meta.Decoder{B: rec}
	if magic, version := d.U32(), d.U32(); d.Err() != nil || magic != tableMagic || version != tableVersion {
		return bad("bad magic or version")
	}
	t := &table{nextVol: strategies.VolumeID(d.U64()), nextMir: MirrorID(d.U64())}
	nv, nm := int(d.U32()), int(d.U32())
	if d.Err() != nil {
		return bad("truncated header")
	}
	// Counts cannot exceed what the record holds: no allocation from a
	// hostile count.
	if nv < 0 || nm < 0 || nv > d.Remaining()/(8+1+8+8+8+8+2) || nm > d.Remaining()/mirRecordLen {
		return bad("%d volumes and %d mirrors do not fit %d bytes", nv, nm, d.Remaining())
	}
	t.vols = make([]volRecord, 0, nv)
	names := make(map[string]bool, nv)
	for i := 0; i < nv; i++ {
		v := volRecord{id: strategies.VolumeID(d.U64()), kind: strategies.Kind(d.U8()), parent: strategies.VolumeID(d.U64()),
			size: d.I64(), ext: d.I64(), bmLen: d.I64(), name: d.String(strategies.MaxNameLen)}
		if d.Err() != nil {
			return bad("truncated volume record %d", i)
		}
		if v.id == 0 || v.id >= t.nextVol || (i > 0 && v.id <= t.vols[i-1].id) {
			return bad("volume id %d out of order or outside [1,%d)", v.id, t.nextVol)
		}
		if err := strategies.ValidateName("mirror", v.name); err != nil || names[v.name] {
			return bad("volume %d: bad or duplicate name %q", v.id, v.name)
		}
		names[v.name] = true
		if err := g.checkExtent(v.size, v.ext, v.bmLen); err != nil {
			return bad("volume %d: %v", v.id, err)
		}
		switch v.kind {
		case strategies.KindBase:
			if v.parent != 0 || v.bmLen != 0 {
				return bad("base volume %d with parent %d or bitmap %d", v.id, v.parent, v.bmLen)
			}
		case strategies.KindSnapshot, strategies.KindClone:
			if v.bmLen != g.bitmapLen(v.size) {
				return bad("split volume %d: bitmap length %d, want %d", v.id, v.bmLen, g.bitmapLen(v.size))
			}
			if v.parent != 0 {
				j, ok := slices.BinarySearchFunc(t.vols, v.parent, func(r volRecord, id strategies.VolumeID) int { return cmp64(int64(r.id), int64(id)) })
				if !ok || t.vols[j].size != v.size {
					return bad("volume %d: parent %d missing or of another size", v.id, v.parent)
				}
			}
		default:
			return bad("volume %d: kind %d", v.id, v.kind)
		}
		t.vols = append(t.vols, v)
	}
	t.mirs = make([]mirRecord, 0, nm)
	for i := 0; i < nm; i++ {
		m := mirRecord{id: MirrorID(d.U64()), src: strategies.VolumeID(d.U64()), size: d.I64(), ext: d.I64(), bmLen: d.I64()}
		if d.Err() != nil {
			return bad("truncated mirror record %d", i)
		}
		if m.id == 0 || m.id >= t.nextMir || (i > 0 && m.id <= t.mirs[i-1].id) {
			return bad("mirror id %d out of order or outside [1,%d)", m.id, t.nextMir)
		}
		j, ok := slices.BinarySearchFunc(t.vols, m.src, func(r volRecord, id strategies.VolumeID) int { return cmp64(int64(r.id), int64(id)) })
		if !ok || t.vols[j].size != m.size {
			return bad("mirror %d: source %d missing or of another size", m.id, m.src)
		}
		if err := g.checkExtent(m.size, m.ext, m.bmLen); err != nil {
			return bad("mirror %d: %v", m.id, err)
		}
		if m.bmLen != g.bitmapLen(m.size) {
			return bad("mirror %d: bitmap length %d, want %d", m.id, m.bmLen, g.bitmapLen(m.size))
		}
		t.mirs = append(t.mirs, m)
	}
	if d.Remaining() != 0 {
		return bad("%d trailing bytes", d.Remaining())
	}
	a := newAllocator(g.dataStart, g.capacity)
	for _, v := range t.vols {
		if !a.add(v.ext, v.bmLen+v.size) {
			return bad("volume %d extent overlaps another", v.id)
		}
	}
	for _, m := range t.mirs {
		if !a.add(m.ext, m.bmLen+m.size) {
			return bad("mirror %d extent overlaps another", m.id)
		}
	}
	return t, nil
}

// checkExtent validates an extent's geometry without overflowing.
func (g geometry) checkExtent(size, ext, bmLen int64) error {
	switch {
	case size <= 0 || size%g.chunk != 0 || size > g.capacity:
		return fmt.Errorf("size %d", size)
	case ext < g.dataStart || ext%g.chunk != 0 || ext > g.capacity:
		return fmt.Errorf("extent at %d", ext)
	case bmLen < 0 || bmLen%g.chunk != 0 || bmLen > g.capacity:
		return fmt.Errorf("bitmap length %d", bmLen)
	case ext+bmLen+size > g.capacity:
		return fmt.Errorf("extent %d+%d+%d past the end %d", ext, bmLen, size, g.capacity)
	}
	return nil
}
