package row

import (
	"encoding/binary"
	"fmt"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// A volume record is the value of a volume-table leaf entry (key: volume
// id), 128 bytes little endian:
//
//	0   parent id (u64, 0 for none)
//	8   root node address of the volume's mapping tree (u64, 0 when empty)
//	16  size in bytes (u64)
//	24  snapshot generation (u64): the transaction of the last snapshot or
//	    clone that shared this volume's tree (see doc.go, sharing rule)
//	32  kind (u8): 1 base, 2 snapshot, 3 clone
//	33  name length (u8), then the name (64 bytes, NUL padded)
//	98  zero to the end
const volRecSize = 128

// volRecord is a decoded volume record.
type volRecord struct {
	parent  strategies.VolumeID
	root    uint64
	size    int64
	snapGen uint64
	kind    strategies.Kind
	name    string
}

func (r volRecord) encode(b []byte) {
	clear(b[:volRecSize])
	binary.LittleEndian.PutUint64(b[0:], uint64(r.parent))
	binary.LittleEndian.PutUint64(b[8:], r.root)
	binary.LittleEndian.PutUint64(b[16:], uint64(r.size))
	binary.LittleEndian.PutUint64(b[24:], r.snapGen)
	b[32] = uint8(r.kind)
	b[33] = uint8(len(r.name))
	copy(b[34:34+strategies.MaxNameLen], r.name)
}

// decodeVolRecord decodes and validates a record on its own; the caller
// checks what needs the engine (chunk size, address ranges, generations).
// It never panics.
func decodeVolRecord(b []byte) (volRecord, error) {
	if len(b) != volRecSize {
		return volRecord{}, fmt.Errorf("%w: volume record of %d bytes", strategies.ErrCorrupt, len(b))
	}
	r := volRecord{
		parent:  strategies.VolumeID(binary.LittleEndian.Uint64(b[0:])),
		root:    binary.LittleEndian.Uint64(b[8:]),
		size:    int64(binary.LittleEndian.Uint64(b[16:])),
		snapGen: binary.LittleEndian.Uint64(b[24:]),
		kind:    strategies.Kind(b[32]),
	}
	n := int(b[33])
	if r.kind != strategies.KindBase && r.kind != strategies.KindSnapshot && r.kind != strategies.KindClone {
		return volRecord{}, fmt.Errorf("%w: volume record kind %d", strategies.ErrCorrupt, r.kind)
	}
	if n < 1 || n > strategies.MaxNameLen {
		return volRecord{}, fmt.Errorf("%w: volume record name length %d", strategies.ErrCorrupt, n)
	}
	r.name = string(b[34 : 34+n])
	if err := strategies.ValidateName("row", r.name); err != nil {
		return volRecord{}, fmt.Errorf("%w: volume record: %v", strategies.ErrCorrupt, err)
	}
	for _, c := range b[34+n:] {
		if c != 0 {
			return volRecord{}, fmt.Errorf("%w: volume record %q: padding not zero", strategies.ErrCorrupt, r.name)
		}
	}
	if r.size <= 0 || r.size > maxVolumeSize {
		return volRecord{}, fmt.Errorf("%w: volume record %q: size %d", strategies.ErrCorrupt, r.name, r.size)
	}
	return r, nil
}

// maxVolumeSize keeps byte offsets far from overflow.
const maxVolumeSize = 1 << 60

// The commit record is the payload of the two alternating slots
// (meta.DualSlot adds sequence number and checksums):
//
//	magic "ROWR" (u32), version (u32)
//	txn: the generation of this commit (u64)
//	next volume id, snapshots expired (u64 each)
//	volume-table root address (u64, 0 when empty)
//	geometry: chunk size, area size, node blocks, data chunks, space-map
//	stride, index pages, data offset, node offset (u64 each)
//	index slot bits (u32 length, then one bit per index page: which copy
//	is current)
const (
	recordMagic    = 0x52574f52 // "ROWR"
	recordVersion  = 1
	recordFixedLen = 4 + 4 + 8*4 + 8*8 + 4
)

// commitRecord is the decoded commit record.
type commitRecord struct {
	txn     uint64
	nextID  uint64
	expired uint64
	volRoot uint64
	lay     layout // only the recorded fields are set
	idxBits []byte
}

func (r commitRecord) encode() []byte {
	e := meta.Encoder{B: make([]byte, 0, recordFixedLen+len(r.idxBits))}
	e.U32(recordMagic)
	e.U32(recordVersion)
	e.U64(r.txn)
	e.U64(r.nextID)
	e.U64(r.expired)
	e.U64(r.volRoot)
	e.U64(uint64(r.lay.chunk))
	e.U64(uint64(r.lay.area))
	e.U64(r.lay.metaBlocks)
	e.U64(r.lay.dataChunks)
	e.U64(r.lay.smStride)
	e.U64(r.lay.idxPages)
	e.U64(uint64(r.lay.dataOff))
	e.U64(uint64(r.lay.metaOff))
	e.Bytes(r.idxBits)
	return e.B
}

// decodeCommitRecord decodes a commit record; it never panics.
func decodeCommitRecord(b []byte) (commitRecord, error) {
	d := meta.Decoder{B: b}
	var r commitRecord
	magic, version := d.U32(), d.U32()
	r.txn, r.nextID, r.expired, r.volRoot = d.U64(), d.U64(), d.U64(), d.U64()
	r.lay.chunk = int64(d.U64())
	r.lay.area = int64(d.U64())
	r.lay.metaBlocks = d.U64()
	r.lay.dataChunks = d.U64()
	r.lay.smStride = d.U64()
	r.lay.idxPages = d.U64()
	r.lay.dataOff = int64(d.U64())
	r.lay.metaOff = int64(d.U64())
	r.idxBits = d.Bytes(1 << 24)
	switch {
	case d.Err() != nil:
		return commitRecord{}, fmt.Errorf("%w: commit record: %v", strategies.ErrCorrupt, d.Err())
	case magic != recordMagic:
		return commitRecord{}, fmt.Errorf("%w: commit record: bad magic %#x", strategies.ErrCorrupt, magic)
	case version != recordVersion:
		return commitRecord{}, fmt.Errorf("%w: commit record version %d (this engine reads %d)", strategies.ErrCorrupt, version, recordVersion)
	case d.Remaining() != 0:
		return commitRecord{}, fmt.Errorf("%w: commit record: %d trailing bytes", strategies.ErrCorrupt, d.Remaining())
	case r.txn == 0 || r.nextID == 0:
		return commitRecord{}, fmt.Errorf("%w: commit record: txn %d next id %d", strategies.ErrCorrupt, r.txn, r.nextID)
	case uint64(len(r.idxBits)) != ceilDiv(r.lay.idxPages, 8):
		return commitRecord{}, fmt.Errorf("%w: commit record: %d index bit bytes for %d index pages", strategies.ErrCorrupt, len(r.idxBits), r.lay.idxPages)
	}
	return r, nil
}

// sameGeometry compares the recorded geometry with the computed one.
func (r commitRecord) sameGeometry(l layout) bool {
	g := r.lay
	return g.chunk == l.chunk && g.area == l.area && g.metaBlocks == l.metaBlocks && g.dataChunks == l.dataChunks &&
		g.smStride == l.smStride && g.idxPages == l.idxPages && g.dataOff == l.dataOff && g.metaOff == l.metaOff
}

// idxBit reports index page i's current copy.
func idxBit(bits []byte, i uint64) int { return int(bits[i/8]>>(i%8)) & 1 }
