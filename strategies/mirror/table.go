package mirror

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

// The volume table is a paged.Store (strategies/internal/paged): one
// fixed-size record per volume and per attached mirror, and a commit
// writes only the pages whose records changed, then a header. Its header
// blocks follow the intent block; its page segments are extents of the
// data area, allocated as the table grows. Record (recSize bytes; all zero:
// a free slot):
//
//	u8 tag: 1 volume, 2 mirror
//	volume: u64 id, u8 kind, u64 parent, i64 size, i64 extent,
//	        i64 bitmap length, u16 name length, name (zero padded)
//	mirror: u64 id, u64 source volume, i64 size, i64 extent,
//	        i64 bitmap length (zero padded)
//
// The header's owner fields: u64 next volume id, u64 next mirror id.
//
// A volume's extent is [extent, extent+bitmap length+size): its bitmap area
// (splits only; bases have none), then its data. A split volume whose parent
// is non-zero tracks changes against that parent in its bitmap area; a
// mirror's bitmap area holds its out-of-sync chunks.
const (
	tagVolume  = 1
	tagMirror  = 2
	volRecLen  = 1 + 8 + 1 + 8 + 8 + 8 + 8 + 2 // before the name
	recSize    = volRecLen + strategies.MaxNameLen
	inlineRecs = 16
	tableBytes = 2 * paged.BlockSize // the header blocks
)

var tableMagic = [2][4]byte{{'M', 'I', 'R', 'H'}, {'M', 'I', 'R', 'P'}}

// newStore describes the volume table of an engine on dev (Format or
// loadTable sets it up).
func newStore(dev device.Device, chunk int64) *paged.Store {
	return paged.New(dev, blockSize, tableMagic, recSize, inlineRecs, chunk)
}

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

// encodeVolume writes v's record into b (recSize zero bytes).
func encodeVolume(b []byte, v volRecord) {
	le := binary.LittleEndian
	b[0] = tagVolume
	le.PutUint64(b[1:], uint64(v.id))
	b[9] = uint8(v.kind)
	le.PutUint64(b[10:], uint64(v.parent))
	le.PutUint64(b[18:], uint64(v.size))
	le.PutUint64(b[26:], uint64(v.ext))
	le.PutUint64(b[34:], uint64(v.bmLen))
	le.PutUint16(b[42:], uint16(len(v.name)))
	copy(b[volRecLen:], v.name)
}

// encodeMirror writes m's record into b (recSize zero bytes).
func encodeMirror(b []byte, m mirRecord) {
	le := binary.LittleEndian
	b[0] = tagMirror
	le.PutUint64(b[1:], uint64(m.id))
	le.PutUint64(b[9:], uint64(m.src))
	le.PutUint64(b[17:], uint64(m.size))
	le.PutUint64(b[25:], uint64(m.ext))
	le.PutUint64(b[33:], uint64(m.bmLen))
}

// decodeRecord decodes one record of recSize bytes into t (appended to its
// volumes or mirrors, unordered). It never panics; a malformed record is an
// error wrapping strategies.ErrCorrupt. Everything that relates records to
// each other is validateTable's.
func decodeRecord(b []byte, t *table) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mirror: %w: volume table: %s", strategies.ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) != recSize {
		return bad("record of %d bytes", len(b))
	}
	le := binary.LittleEndian
	switch b[0] {
	case tagVolume:
		n := int(le.Uint16(b[42:]))
		if n > strategies.MaxNameLen || !paged.IsZero(b[volRecLen+n:]) {
			return bad("volume record with a name of %d bytes", n)
		}
		t.vols = append(t.vols, volRecord{id: strategies.VolumeID(le.Uint64(b[1:])), kind: strategies.Kind(b[9]),
			parent: strategies.VolumeID(le.Uint64(b[10:])), size: int64(le.Uint64(b[18:])), ext: int64(le.Uint64(b[26:])),
			bmLen: int64(le.Uint64(b[34:])), name: string(b[volRecLen : volRecLen+n])})
	case tagMirror:
		if !paged.IsZero(b[41:]) {
			return bad("mirror record with bytes after its fields")
		}
		t.mirs = append(t.mirs, mirRecord{id: MirrorID(le.Uint64(b[1:])), src: strategies.VolumeID(le.Uint64(b[9:])),
			size: int64(le.Uint64(b[17:])), ext: int64(le.Uint64(b[25:])), bmLen: int64(le.Uint64(b[33:]))})
	default:
		return bad("record tag %d", b[0])
	}
	return nil
}

// validateTable sorts a decoded table by id and checks it: ids, names,
// kinds, parents, sizes, extents inside the data area and disjoint (from
// each other and from the table's own segments). It never panics; every
// inconsistency is an error wrapping strategies.ErrCorrupt.
func validateTable(t *table, g geometry, segments []paged.Extent) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mirror: %w: volume table: %s", strategies.ErrCorrupt, fmt.Sprintf(format, args...))
	}
	slices.SortFunc(t.vols, func(a, b volRecord) int { return cmp64(int64(a.id), int64(b.id)) })
	slices.SortFunc(t.mirs, func(a, b mirRecord) int { return cmp64(int64(a.id), int64(b.id)) })
	names := make(map[string]bool, len(t.vols))
	for i, v := range t.vols {
		if v.id == 0 || v.id >= t.nextVol || (i > 0 && v.id <= t.vols[i-1].id) {
			return bad("volume id %d repeated or outside [1,%d)", v.id, t.nextVol)
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
	}
	for i, m := range t.mirs {
		if m.id == 0 || m.id >= t.nextMir || (i > 0 && m.id <= t.mirs[i-1].id) {
			return bad("mirror id %d repeated or outside [1,%d)", m.id, t.nextMir)
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
	}
	a := newAllocator(g.dataStart, g.capacity)
	for i, x := range segments {
		if !a.add(x.Off, x.Len) {
			return bad("table segment %d overlaps another", i)
		}
	}
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
	return nil
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

// tableRow is a volume's or an attached mirror's place in the volume
// table: its record slot, and the record the last commit staged there.
type tableRow struct {
	vol    *volume // the entry: one of vol and mir
	mir    *mirror
	slot   int
	stored bool   // slot is the entry's
	gen    uint64 // the last commit that found the entry in the table
	savedV volRecord
	savedM mirRecord
}

// tableSlots are the slots of a loaded table's records.
type tableSlots struct {
	vols map[strategies.VolumeID]int
	mirs map[MirrorID]int
}

// loadTable reads the newest complete volume table through st and
// validates it. Device errors pass through; a missing or damaged table is
// ErrCorrupt.
func loadTable(st *paged.Store, g geometry) (*table, tableSlots, error) {
	t := &table{}
	slots := tableSlots{vols: map[strategies.VolumeID]int{}, mirs: map[MirrorID]int{}}
	err := st.Load(g.dataStart, g.capacity, func(sl int, b []byte) error {
		nv := len(t.vols)
		if err := decodeRecord(b, t); err != nil {
			return err
		}
		if len(t.vols) > nv {
			slots.vols[t.vols[nv].id] = sl
		} else {
			slots.mirs[t.mirs[len(t.mirs)-1].id] = sl
		}
		return nil
	})
	if err != nil {
		return nil, tableSlots{}, fmt.Errorf("mirror: volume table: %w", err)
	}
	owner := st.Owner()
	t.nextVol = strategies.VolumeID(binary.LittleEndian.Uint64(owner[0:]))
	t.nextMir = MirrorID(binary.LittleEndian.Uint64(owner[8:]))
	if err := validateTable(t, g, st.Extents()); err != nil {
		return nil, tableSlots{}, err
	}
	return t, slots, nil
}

// stageTable prepares the next commit of the store from the in-memory
// table, in time proportional to the number of entries but writing only
// what changed: slots of entries no longer in the table are freed, new
// entries get a slot, and an entry whose record differs from the one last
// staged marks its page dirty.
func (e *Engine) stageTable() error {
	e.gen++
	for _, v := range e.vols {
		if v.row.stored {
			v.row.gen = e.gen
		}
	}
	for _, m := range e.mirs {
		if m.row.stored {
			m.row.gen = e.gen
		}
	}
	for sl, r := range e.rows {
		if r != nil && r.gen != e.gen {
			e.store.Release(sl)
			e.rows[sl], r.stored = nil, false
		}
	}
	for _, v := range e.vols {
		v.row.vol = v
		if err := e.stageRow(&v.row, v.volRecord != v.row.savedV); err != nil {
			return err
		}
		v.row.savedV = v.volRecord
	}
	for _, m := range e.mirs {
		m.mirRecord.src = m.src.id
		m.row.mir = m
		if err := e.stageRow(&m.row, m.mirRecord != m.row.savedM); err != nil {
			return err
		}
		m.row.savedM = m.mirRecord
	}
	return nil
}

// stageRow gives a new entry a slot, or marks a changed one's page dirty.
func (e *Engine) stageRow(r *tableRow, changed bool) error {
	r.gen = e.gen
	if r.stored {
		if changed {
			e.store.MarkDirty(r.slot)
		}
		return nil
	}
	sl, err := e.store.Alloc(e.allocSegment)
	if err == nil {
		e.adoptRow(r, sl)
	}
	return err
}

// encodeSlot writes slot sl's record into b for the store's commit.
func (e *Engine) encodeSlot(sl int, b []byte) {
	if r := e.rows[sl]; r.vol != nil {
		encodeVolume(b, r.vol.volRecord)
	} else {
		encodeMirror(b, r.mir.mirRecord)
	}
}

// allocSegment takes an extent of the data area for a table segment.
func (e *Engine) allocSegment(n int64) (int64, bool) {
	off, err := e.alloc.alloc(n)
	return off, err == nil
}
