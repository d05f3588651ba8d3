package cow

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// geometry is everything derived from the options and the area size: it is
// the same at Format and at every Open of a device.
type geometry struct {
	chunk     int64
	shift     uint // log2(chunk)
	capacity  int64
	slotSize  int64 // one volume-table slot
	dataStart int64 // first byte of the extent area (chunk aligned)
	deltaPct  float64
	deltaMin  int64
	maxVols   int
}

// Volume-table record sizes (see doc.go): a header, then one record per
// volume of at most volRecMax bytes.
const (
	volTableHeader = 8 + 8 + 8 + 4
	volRecMax      = 8 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 2 + strategies.MaxNameLen
	maxMaxVolumes  = 1 << 20
)

func newGeometry(areaSize int64, opts strategies.Options) (geometry, error) {
	g := geometry{chunk: int64(opts.ChunkSize), capacity: areaSize}
	for c := g.chunk; c > 1; c >>= 1 {
		g.shift++
	}
	if g.chunk < blockSize || g.chunk&(g.chunk-1) != 0 {
		return g, fmt.Errorf("cow: chunk size %d: %w", g.chunk, strategies.ErrInvalidArgument)
	}
	pct, err := opts.Float("cow", "delta-percent")
	if err != nil {
		return g, err
	}
	if !(pct > 0 && pct <= 100) {
		return g, fmt.Errorf("cow: delta-percent %v: %w: want 0 < p <= 100", pct, strategies.ErrInvalidArgument)
	}
	g.deltaPct = pct
	if g.deltaMin, err = opts.Int("cow", "delta-min"); err != nil {
		return g, err
	}
	if g.deltaMin < 0 {
		return g, fmt.Errorf("cow: delta-min %d: %w: negative", g.deltaMin, strategies.ErrInvalidArgument)
	}
	mv, err := opts.Int("cow", "max-volumes")
	if err != nil {
		return g, err
	}
	if mv < 1 || mv > maxMaxVolumes {
		return g, fmt.Errorf("cow: max-volumes %d: %w: want 1 to %d", mv, strategies.ErrInvalidArgument, maxMaxVolumes)
	}
	g.maxVols = int(mv)
	g.slotSize = roundUp(meta.SlotHeaderSize+volTableHeader+int64(volRecMax)*mv, blockSize)
	g.dataStart = roundUp(2*g.slotSize, g.chunk)
	if g.dataStart+g.chunk > areaSize {
		return g, fmt.Errorf("cow: %w: engine area of %d bytes cannot hold the volume table (%d bytes) and one chunk",
			strategies.ErrNoSpace, areaSize, g.dataStart)
	}
	return g, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// deltaChunks is the delta capacity of a snapshot or clone of a base of
// size bytes: delta-percent of the base, at least delta-min and one chunk,
// at most the base itself (a delta can never need more).
func (g geometry) deltaChunks(size int64) uint32 {
	base := size >> g.shift
	n := int64(math.Ceil(float64(base) * g.deltaPct / 100))
	n = max(n, (g.deltaMin+g.chunk-1)>>g.shift, 1)
	return uint32(min(n, base))
}

// tableBlocks is the number of exception-table blocks of a delta.
func tableBlocks(capChunks uint32) int64 {
	return (int64(capChunks) + entriesPerBlock - 1) / entriesPerBlock
}

// tableBytes is the size of a delta's exception-table region: two copies of
// each block.
func tableBytes(capChunks uint32) int64 { return 2 * tableBlocks(capChunks) * blockSize }

// deltaLength is the extent length of a delta: its chunks, then its table.
func (g geometry) deltaLength(capChunks uint32) int64 {
	return int64(capChunks)<<g.shift + tableBytes(capChunks)
}

// volRec is one volume as stored in the volume table.
type volRec struct {
	id        strategies.VolumeID
	kind      strategies.Kind
	invalid   bool
	parent    strategies.VolumeID
	size      int64
	off       int64
	length    int64
	capChunks uint32
	name      string
}

// volTable is the decoded volume table.
type volTable struct {
	nonce       uint64
	nextID      strategies.VolumeID
	invalidated int64
	vols        []volRec
}

const flagInvalid = 1

func encodeVolTable(t volTable) []byte {
	enc := meta.Encoder{B: make([]byte, 0, volTableHeader+len(t.vols)*volRecMax)}
	enc.U64(t.nonce)
	enc.U64(uint64(t.nextID))
	enc.I64(t.invalidated)
	enc.U32(uint32(len(t.vols)))
	for _, v := range t.vols {
		enc.U64(uint64(v.id))
		enc.U8(uint8(v.kind))
		var flags uint8
		if v.invalid {
			flags |= flagInvalid
		}
		enc.U8(flags)
		enc.U64(uint64(v.parent))
		enc.I64(v.size)
		enc.I64(v.off)
		enc.I64(v.length)
		enc.U32(v.capChunks)
		enc.String(v.name)
	}
	return enc.B
}

// decodeVolTable decodes a volume-table record. It checks only the syntax;
// validate checks the content against a geometry. It never panics.
func decodeVolTable(rec []byte) (volTable, error) {
	d := meta.Decoder{B: rec}
	t := volTable{nonce: d.U64(), nextID: strategies.VolumeID(d.U64()), invalidated: d.I64()}
	n := d.U32()
	if d.Err() != nil {
		return volTable{}, fmt.Errorf("cow: %w: volume table header: %v", strategies.ErrCorrupt, d.Err())
	}
	if uint64(n) > uint64(d.Remaining()/(volRecMax-strategies.MaxNameLen)) {
		return volTable{}, fmt.Errorf("cow: %w: volume table claims %d volumes in %d bytes", strategies.ErrCorrupt, n, len(rec))
	}
	t.vols = make([]volRec, 0, n)
	for i := uint32(0); i < n; i++ {
		v := volRec{id: strategies.VolumeID(d.U64()), kind: strategies.Kind(d.U8())}
		flags := d.U8()
		v.invalid = flags&flagInvalid != 0
		v.parent = strategies.VolumeID(d.U64())
		v.size, v.off, v.length = d.I64(), d.I64(), d.I64()
		v.capChunks = d.U32()
		v.name = d.String(strategies.MaxNameLen)
		if d.Err() != nil {
			return volTable{}, fmt.Errorf("cow: %w: volume table record %d: %v", strategies.ErrCorrupt, i, d.Err())
		}
		if flags&^flagInvalid != 0 {
			return volTable{}, fmt.Errorf("cow: %w: volume %d has unknown flags %#x", strategies.ErrCorrupt, v.id, flags)
		}
		t.vols = append(t.vols, v)
	}
	if d.Remaining() != 0 {
		return volTable{}, fmt.Errorf("cow: %w: %d trailing bytes after the volume table", strategies.ErrCorrupt, d.Remaining())
	}
	return t, nil
}

// validate checks a decoded volume table against the geometry: ids, names,
// kinds, parents, sizes, delta capacities, and that extents lie in the data
// area without overlapping. Every problem is reported; the error wraps
// ErrCorrupt.
func (g geometry) validate(t volTable) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(t.vols) > g.maxVols {
		bad("%d volumes, max-volumes is %d", len(t.vols), g.maxVols)
	}
	byID := make(map[strategies.VolumeID]*volRec, len(t.vols))
	names := make(map[string]bool, len(t.vols))
	invalid := int64(0)
	for i := range t.vols {
		v := &t.vols[i]
		if v.id == 0 || v.id >= t.nextID {
			bad("volume id %d outside [1,%d)", v.id, t.nextID)
		}
		if i > 0 && t.vols[i-1].id >= v.id {
			bad("volume ids not ascending: %d then %d", t.vols[i-1].id, v.id)
		}
		byID[v.id] = v
		if err := strategies.ValidateName("cow", v.name); err != nil {
			bad("volume %d: %v", v.id, err)
		}
		if names[v.name] {
			bad("volume name %q used twice", v.name)
		}
		names[v.name] = true
		if v.size <= 0 || v.size%g.chunk != 0 || v.size>>g.shift > maxChunks || v.size > g.capacity {
			bad("volume %d: size %d", v.id, v.size)
			continue
		}
		if v.invalid {
			invalid++
		}
		switch v.kind {
		case strategies.KindBase:
			if v.parent != 0 || v.capChunks != 0 || v.invalid || v.length != v.size {
				bad("base %d: parent %d, delta %d, invalid %v, extent length %d for size %d",
					v.id, v.parent, v.capChunks, v.invalid, v.length, v.size)
			}
		case strategies.KindSnapshot, strategies.KindClone:
			want := g.deltaChunks(v.size)
			if v.capChunks != want || v.length != g.deltaLength(want) {
				bad("%s %d: delta of %d chunks in %d bytes, want %d chunks in %d bytes",
					v.kind, v.id, v.capChunks, v.length, want, g.deltaLength(want))
			}
		default:
			bad("volume %d: unknown kind %d", v.id, v.kind)
		}
		if v.off < g.dataStart || v.off%g.chunk != 0 || v.length <= 0 || v.off > g.capacity || v.length > g.capacity-v.off {
			bad("volume %d: extent %d+%d outside the data area [%d,%d)", v.id, v.off, v.length, g.dataStart, g.capacity)
		}
	}
	for i := range t.vols {
		v := &t.vols[i]
		if v.kind != strategies.KindSnapshot && v.kind != strategies.KindClone {
			continue
		}
		p := byID[v.parent]
		if p == nil || p.kind != strategies.KindBase || p.size != v.size {
			bad("%s %d: parent %d is not a base of the same size", v.kind, v.id, v.parent)
		}
	}
	if t.invalidated < invalid {
		bad("invalidated counter %d below the %d invalid volumes", t.invalidated, invalid)
	}
	errs = append(errs, overlaps(t.vols)...)
	if len(errs) > 0 {
		return fmt.Errorf("cow: %w: volume table: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// overlaps reports extents that overlap, in offset order.
func overlaps(vols []volRec) []error {
	ext := make([]volRec, len(vols))
	copy(ext, vols)
	slices.SortFunc(ext, func(a, b volRec) int {
		if a.off != b.off {
			if a.off < b.off {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.id, b.id)
	})
	var errs []error
	for i := 1; i < len(ext); i++ {
		a, b := ext[i-1], ext[i]
		if b.off < a.off+a.length {
			errs = append(errs, fmt.Errorf("extents of volumes %d (%d+%d) and %d (%d+%d) overlap",
				a.id, a.off, a.length, b.id, b.off, b.length))
		}
	}
	return errs
}
