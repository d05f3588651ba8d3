package cow

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// Exception-table blocks (see doc.go for the whole layout). A delta's table
// is a log of (base chunk, delta slot) entries in commit order, stored in
// 4 KiB blocks of entriesPerBlock entries; every block has two copies, A and
// B, written alternately, so that a torn write of one copy leaves the other
// with the previous content.
const (
	blockSize       = 4096
	blockHeaderSize = 48
	blockCRCOff     = blockSize - 4
	entriesPerBlock = (blockCRCOff - blockHeaderSize) / 8 // 505
	blockMagic      = 0x58574f43                          // "COWX"
)

// entry is one exception: base chunk c is copied in delta slot slot.
type entry struct {
	chunk uint32
	slot  uint32
}

// blockID says which table block a buffer must be: the format nonce, the
// owning volume and the block index. Blocks left by another format, a
// deleted volume or another position do not match.
type blockID struct {
	nonce uint64
	vol   strategies.VolumeID
	index uint32
}

// encodeBlock fills buf (blockSize bytes) with a table block.
func encodeBlock(buf []byte, id blockID, seq uint64, ents []entry) {
	clear(buf[:blockSize])
	le := binary.LittleEndian
	le.PutUint32(buf[0:], blockMagic)
	le.PutUint32(buf[4:], uint32(len(ents)))
	le.PutUint64(buf[8:], id.nonce)
	le.PutUint64(buf[16:], uint64(id.vol))
	le.PutUint64(buf[24:], seq)
	le.PutUint32(buf[32:], id.index)
	for i, e := range ents {
		le.PutUint32(buf[blockHeaderSize+8*i:], e.chunk)
		le.PutUint32(buf[blockHeaderSize+8*i+4:], e.slot)
	}
	meta.Seal(buf, blockCRCOff)
}

// decodeBlock checks one copy of a table block and returns its sequence
// number and entries (appended to ents). ok is false for anything that is
// not a complete block of this id: garbage, a torn write, another volume's
// or format's block. It never panics.
func decodeBlock(buf []byte, id blockID, ents []entry) (seq uint64, out []entry, ok bool) {
	if len(buf) < blockSize {
		return 0, ents, false
	}
	le := binary.LittleEndian
	if le.Uint32(buf[0:]) != blockMagic || !meta.Sealed(buf, blockCRCOff) {
		return 0, ents, false
	}
	n := le.Uint32(buf[4:])
	if le.Uint64(buf[8:]) != id.nonce || strategies.VolumeID(le.Uint64(buf[16:])) != id.vol ||
		le.Uint32(buf[32:]) != id.index || n > entriesPerBlock || le.Uint32(buf[36:]) != 0 || le.Uint64(buf[40:]) != 0 {
		return 0, ents, false
	}
	for i := 0; i < int(n); i++ {
		ents = append(ents, entry{le.Uint32(buf[blockHeaderSize+8*i:]), le.Uint32(buf[blockHeaderSize+8*i+4:])})
	}
	return le.Uint64(buf[24:]), ents, true
}

// tableLoad rebuilds a delta's exception table from its blocks, fed in
// order as pairs (copy A then copy B). It validates every entry: chunk in
// the base, slot in the delta, no chunk or slot twice.
type tableLoad struct {
	nonce      uint64
	vol        strategies.VolumeID
	baseChunks uint32
	capChunks  uint32
	blocks     int64

	table      chunkMap
	used       []uint64 // bitset of slots in use
	count      uint64
	seq        uint64 // highest sequence number seen
	tailBlock  uint32 // the block the next commit writes
	tailNewest int8   // its newest valid copy (0 A, 1 B), -1 none
	tailEnt    []entry
	done       bool
	scratch    [2][]entry
}

func newTableLoad(nonce uint64, vol strategies.VolumeID, baseChunks, capChunks uint32) *tableLoad {
	return &tableLoad{nonce: nonce, vol: vol, baseChunks: baseChunks, capChunks: capChunks,
		blocks: tableBlocks(capChunks), used: make([]uint64, (int64(capChunks)+63)/64), tailNewest: -1}
}

// feed takes block k's two copies (2*blockSize bytes). After the last block
// of the log, done is set and further feeds are ignored.
func (l *tableLoad) feed(k uint32, pair []byte) error {
	if l.done {
		return nil
	}
	if int64(k) >= l.blocks || len(pair) < 2*blockSize {
		return fmt.Errorf("cow: %w: table of volume %d: block %d fed out of range", strategies.ErrCorrupt, l.vol, k)
	}
	id := blockID{nonce: l.nonce, vol: l.vol, index: k}
	seqA, entsA, okA := decodeBlock(pair[:blockSize], id, l.scratch[0][:0])
	seqB, entsB, okB := decodeBlock(pair[blockSize:2*blockSize], id, l.scratch[1][:0])
	l.scratch[0], l.scratch[1] = entsA, entsB
	var ents []entry
	switch {
	case okA && okB && seqA == seqB:
		return fmt.Errorf("cow: %w: table of volume %d: block %d has two copies with sequence %d", strategies.ErrCorrupt, l.vol, k, seqA)
	case okA && (!okB || seqA > seqB):
		ents, l.tailNewest = entsA, 0
	case okB:
		ents, l.tailNewest = entsB, 1
	default:
		l.tailBlock, l.tailNewest, l.done = k, -1, true
		return nil
	}
	l.seq = max(l.seq, seqA*b2u(okA), seqB*b2u(okB))
	for _, e := range ents {
		if e.chunk >= l.baseChunks || e.slot >= l.capChunks {
			return fmt.Errorf("cow: %w: table of volume %d: exception %d -> %d outside base (%d chunks) or delta (%d chunks)",
				strategies.ErrCorrupt, l.vol, e.chunk, e.slot, l.baseChunks, l.capChunks)
		}
		if _, dup := l.table.get(e.chunk); dup {
			return fmt.Errorf("cow: %w: table of volume %d: chunk %d has two exceptions", strategies.ErrCorrupt, l.vol, e.chunk)
		}
		if l.used[e.slot/64]&(1<<(e.slot%64)) != 0 {
			return fmt.Errorf("cow: %w: table of volume %d: delta slot %d holds two chunks", strategies.ErrCorrupt, l.vol, e.slot)
		}
		l.used[e.slot/64] |= 1 << (e.slot % 64)
		l.table.put(e.chunk, e.slot)
	}
	l.count += uint64(len(ents))
	if len(ents) < entriesPerBlock {
		l.tailBlock, l.done = k, true
		l.tailEnt = append([]entry(nil), ents...)
		return nil
	}
	if int64(k)+1 == l.blocks {
		l.tailBlock, l.tailNewest, l.done = k+1, -1, true
	}
	return nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// loadPairs is how many block pairs loadTable reads per device IO.
const loadPairs = 32

// loadTable reads a delta's exception table from the device.
func loadTable(dev device.Device, tableOff int64, l *tableLoad) error {
	buf := device.GetBuffer(loadPairs * 2 * blockSize)
	defer device.PutBuffer(buf)
	for k := int64(0); k < l.blocks && !l.done; k += loadPairs {
		n := min(loadPairs, l.blocks-k)
		b := buf[:n*2*blockSize]
		if _, err := dev.ReadAt(b, tableOff+k*2*blockSize); err != nil {
			return fmt.Errorf("cow: read exception table of volume %d: %w", l.vol, err)
		}
		for i := int64(0); i < n && !l.done; i++ {
			if err := l.feed(uint32(k+i), b[i*2*blockSize:(i+1)*2*blockSize]); err != nil {
				return err
			}
		}
	}
	if !l.done {
		return errors.New("cow: internal: table load did not finish")
	}
	return nil
}
