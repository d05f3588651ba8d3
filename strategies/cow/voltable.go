package cow

import (
	"cmp"
	"encoding/binary"
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
	dataStart int64 // first byte of the extent area (chunk aligned)
	deltaPct  float64
	deltaMin  int64
	maxVols   int
}

// Volume-table layout (see doc.go): two header blocks at the start of the
// area, each holding the first inlineRecs records; the other records live in
// 4 KiB pages of recsPerPage fixed-size records, each page in two copies,
// in table segments allocated from the extent area as the table grows.
const (
	recSize       = 8 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 2 + strategies.MaxNameLen // 112
	pageHeader    = 32                                                        // magic, index, segment nonce, nonce, seq
	recsPerPage   = (blockSize - pageHeader - 4) / recSize                    // 36
	inlineRecs    = 16
	maxSegments   = 16
	firstSegPages = 8 // segment i holds firstSegPages<<i pages
	hdrSegsOff    = 48
	hdrSegSize    = 8 + 4 + 8
	hdrRecsOff    = hdrSegsOff + maxSegments*hdrSegSize
	hdrDirtyOff   = hdrRecsOff + inlineRecs*recSize
	hdrCRCOff     = blockSize - 4
	maxDirtyList  = (hdrCRCOff - hdrDirtyOff) / 4
	trustAll      = 0xffff // header dirty count: pages were flushed before the header
	headerArea    = 2 * blockSize
	maxMaxVolumes = 1 << 20
	tableVersion  = 2
)

var (
	headerMagic = [4]byte{'C', 'O', 'W', 'H'}
	pageMagic   = [4]byte{'C', 'O', 'W', 'P'}
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
	g.dataStart = roundUp(headerArea, g.chunk)
	if g.dataStart+g.chunk > areaSize {
		return g, fmt.Errorf("cow: %w: engine area of %d bytes cannot hold the volume table header (%d bytes) and one chunk",
			strategies.ErrNoSpace, areaSize, g.dataStart)
	}
	return g, nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// segPages is the number of pages of table segment i.
func segPages(i int) int64 { return firstSegPages << i }

// segLength is the extent length of table segment i (two copies of each
// page, rounded up to a chunk).
func (g geometry) segLength(i int) int64 { return roundUp(2*segPages(i)*blockSize, g.chunk) }

// slotPage is the page holding record slot s (s >= inlineRecs) and its
// index in that page.
func slotPage(s int) (page, idx int) {
	t := s - inlineRecs
	return t / recsPerPage, t % recsPerPage
}

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

// volRec is one volume as stored in the volume table; slot is its record's
// position (inline in the header below inlineRecs, in a page above).
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
	slot      int
}

// segment is one table segment: an extent of the data area holding two
// copies of each of its pages. nonce is drawn when it is allocated, and a
// page copy is believed only with it, so whatever the extent held before
// (a delta, a segment of an aborted commit) is ignored.
type segment struct {
	off   int64
	pages uint32
	nonce uint64
}

// volTable is the decoded volume table: the header's fields and every
// record, ascending id.
type volTable struct {
	seq         uint64
	nonce       uint64
	nextID      strategies.VolumeID
	invalidated int64
	pagesUsed   uint32
	segs        []segment
	vols        []volRec
}

// header is one decoded header block.
type header struct {
	seq         uint64
	nonce       uint64
	nextID      strategies.VolumeID
	invalidated int64
	pagesUsed   uint32
	segs        []segment
	recs        [inlineRecs]volRec // id 0: empty slot
	dirty       []uint32           // pages written by this commit; nil with all: trust every page
	all         bool
}

const flagInvalid = 1

// encodeRec writes r into b[:recSize]; an id of 0 is an empty slot.
func encodeRec(b []byte, r *volRec) {
	clear(b[:recSize])
	if r == nil || r.id == 0 {
		return
	}
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(r.id))
	b[8] = uint8(r.kind)
	if r.invalid {
		b[9] = flagInvalid
	}
	le.PutUint64(b[10:], uint64(r.parent))
	le.PutUint64(b[18:], uint64(r.size))
	le.PutUint64(b[26:], uint64(r.off))
	le.PutUint64(b[34:], uint64(r.length))
	le.PutUint32(b[42:], r.capChunks)
	le.PutUint16(b[46:], uint16(len(r.name)))
	copy(b[48:48+strategies.MaxNameLen], r.name)
}

// decodeRec reads a record written by encodeRec. It checks the syntax only
// (flags, name length, zero padding); validate checks the content.
func decodeRec(b []byte, slot int) (volRec, error) {
	le := binary.LittleEndian
	r := volRec{id: strategies.VolumeID(le.Uint64(b[0:])), slot: slot}
	if r.id == 0 {
		if !allZero(b[:recSize]) {
			return r, fmt.Errorf("cow: %w: empty volume-table slot %d is not zero", strategies.ErrCorrupt, slot)
		}
		return r, nil
	}
	r.kind = strategies.Kind(b[8])
	flags := b[9]
	r.invalid = flags&flagInvalid != 0
	r.parent = strategies.VolumeID(le.Uint64(b[10:]))
	r.size, r.off, r.length = int64(le.Uint64(b[18:])), int64(le.Uint64(b[26:])), int64(le.Uint64(b[34:]))
	r.capChunks = le.Uint32(b[42:])
	n := int(le.Uint16(b[46:]))
	if flags&^flagInvalid != 0 {
		return r, fmt.Errorf("cow: %w: volume %d has unknown flags %#x", strategies.ErrCorrupt, r.id, flags)
	}
	if n > strategies.MaxNameLen || !allZero(b[48+n:recSize]) {
		return r, fmt.Errorf("cow: %w: volume-table slot %d: bad name", strategies.ErrCorrupt, slot)
	}
	r.name = string(b[48 : 48+n])
	return r, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// encodeHeader writes h into a 4 KiB block.
func encodeHeader(b []byte, h *header) {
	clear(b[:blockSize])
	le := binary.LittleEndian
	copy(b, headerMagic[:])
	le.PutUint32(b[4:], tableVersion)
	le.PutUint64(b[8:], h.seq)
	le.PutUint64(b[16:], h.nonce)
	le.PutUint64(b[24:], uint64(h.nextID))
	le.PutUint64(b[32:], uint64(h.invalidated))
	le.PutUint16(b[40:], uint16(len(h.segs)))
	nd := uint16(len(h.dirty))
	if h.all {
		nd = trustAll
	}
	le.PutUint16(b[42:], nd)
	le.PutUint32(b[44:], h.pagesUsed)
	for i, s := range h.segs {
		o := hdrSegsOff + i*hdrSegSize
		le.PutUint64(b[o:], uint64(s.off))
		le.PutUint32(b[o+8:], s.pages)
		le.PutUint64(b[o+12:], s.nonce)
	}
	for i := range h.recs {
		encodeRec(b[hdrRecsOff+i*recSize:], &h.recs[i])
	}
	if !h.all {
		for i, p := range h.dirty {
			le.PutUint32(b[hdrDirtyOff+4*i:], p)
		}
	}
	meta.Seal(b, hdrCRCOff)
}

// decodeHeader decodes a header block. ok is false for a block that is not
// a valid header (torn, never written): the other header is then used. An
// error (wrapping ErrCorrupt) is a header that checksums but cannot be
// right. It never panics.
func decodeHeader(b []byte) (h header, ok bool, err error) {
	le := binary.LittleEndian
	if len(b) < blockSize || [4]byte(b[:4]) != headerMagic || !meta.Sealed(b, hdrCRCOff) {
		return h, false, nil
	}
	if v := le.Uint32(b[4:]); v != tableVersion {
		return h, true, fmt.Errorf("cow: %w: volume table version %d, want %d", strategies.ErrCorrupt, v, tableVersion)
	}
	h.seq, h.nonce = le.Uint64(b[8:]), le.Uint64(b[16:])
	h.nextID, h.invalidated = strategies.VolumeID(le.Uint64(b[24:])), int64(le.Uint64(b[32:]))
	ns, nd := int(le.Uint16(b[40:])), int(le.Uint16(b[42:]))
	h.pagesUsed = le.Uint32(b[44:])
	if ns > maxSegments || (nd > maxDirtyList && nd != trustAll) {
		return h, true, fmt.Errorf("cow: %w: volume table header: %d segments, %d pages written", strategies.ErrCorrupt, ns, nd)
	}
	for i := 0; i < ns; i++ {
		o := hdrSegsOff + i*hdrSegSize
		h.segs = append(h.segs, segment{off: int64(le.Uint64(b[o:])), pages: le.Uint32(b[o+8:]), nonce: le.Uint64(b[o+12:])})
	}
	if !allZero(b[hdrSegsOff+ns*hdrSegSize : hdrRecsOff]) {
		return h, true, fmt.Errorf("cow: %w: volume table header: bytes after the segments", strategies.ErrCorrupt)
	}
	for i := range h.recs {
		if h.recs[i], err = decodeRec(b[hdrRecsOff+i*recSize:], i); err != nil {
			return h, true, err
		}
	}
	if nd == trustAll {
		h.all = true
		nd = 0
	}
	for i := 0; i < nd; i++ {
		h.dirty = append(h.dirty, le.Uint32(b[hdrDirtyOff+4*i:]))
	}
	if !allZero(b[hdrDirtyOff+4*nd : hdrCRCOff]) {
		return h, true, fmt.Errorf("cow: %w: volume table header: bytes after the page list", strategies.ErrCorrupt)
	}
	return h, true, nil
}

// pageID is what a table page copy must carry to be believed.
type pageID struct {
	nonce    uint64 // format
	segNonce uint64 // its segment
	index    uint32 // page number in the table
}

// encodePage writes records recs (nil: empty slot) of page id as committed
// at seq into a 4 KiB block.
func encodePage(b []byte, id pageID, seq uint64, recs []*volRec) {
	clear(b[:blockSize])
	le := binary.LittleEndian
	copy(b, pageMagic[:])
	le.PutUint32(b[4:], id.index)
	le.PutUint64(b[8:], id.segNonce)
	le.PutUint64(b[16:], id.nonce)
	le.PutUint64(b[24:], seq)
	for i, r := range recs {
		encodeRec(b[pageHeader+i*recSize:], r)
	}
	meta.Seal(b, hdrCRCOff)
}

// decodePage checks a page copy: ok is false unless it checksums and
// carries id. recs receives its records (id 0 for empty slots), slots
// numbered from its page number. It never panics.
func decodePage(b []byte, id pageID, recs *[recsPerPage]volRec) (seq uint64, ok bool, err error) {
	le := binary.LittleEndian
	if len(b) < blockSize || [4]byte(b[:4]) != pageMagic || !meta.Sealed(b, hdrCRCOff) ||
		le.Uint32(b[4:]) != id.index || le.Uint64(b[8:]) != id.segNonce || le.Uint64(b[16:]) != id.nonce {
		return 0, false, nil
	}
	seq = le.Uint64(b[24:])
	for i := range recs {
		if recs[i], err = decodeRec(b[pageHeader+i*recSize:], inlineRecs+int(id.index)*recsPerPage+i); err != nil {
			return seq, true, err
		}
	}
	if !allZero(b[pageHeader+recsPerPage*recSize : hdrCRCOff]) {
		return seq, true, fmt.Errorf("cow: %w: volume table page %d: bytes after the records", strategies.ErrCorrupt, id.index)
	}
	return seq, true, nil
}

// validate checks a decoded volume table against the geometry: ids, names,
// kinds, parents, sizes, delta capacities, record slots, table segments, and
// that extents (volumes and table segments) lie in the data area without
// overlapping. Every problem is reported; the error wraps
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
	ext := slices.Clone(t.vols)
	var pages int64
	for i, s := range t.segs {
		length := g.segLength(i)
		if int64(s.pages) != segPages(i) || s.off < g.dataStart || s.off%g.chunk != 0 || s.off > g.capacity || length > g.capacity-s.off {
			bad("table segment %d: %d pages at %d outside the data area", i, s.pages, s.off)
		}
		pages += int64(s.pages)
		ext = append(ext, volRec{off: s.off, length: length, name: fmt.Sprintf("table segment %d", i)})
	}
	if int64(t.pagesUsed) > pages {
		bad("%d table pages in use, %d in the segments", t.pagesUsed, pages)
	}
	slots := make(map[int]bool, len(t.vols))
	for _, v := range t.vols {
		if v.slot < 0 || v.slot >= inlineRecs+int(t.pagesUsed)*recsPerPage || slots[v.slot] {
			bad("volume %d: record slot %d outside the %d pages in use or used twice", v.id, v.slot, t.pagesUsed)
		}
		slots[v.slot] = true
	}
	errs = append(errs, overlaps(ext)...)
	if len(errs) > 0 {
		return fmt.Errorf("cow: %w: volume table: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

func extName(v volRec) string {
	if v.id == 0 {
		return v.name
	}
	return fmt.Sprintf("volume %d", v.id)
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
			errs = append(errs, fmt.Errorf("extents of %s (%d+%d) and %s (%d+%d) overlap",
				extName(a), a.off, a.length, extName(b), b.off, b.length))
		}
	}
	return errs
}
