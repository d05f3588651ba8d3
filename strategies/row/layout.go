package row

import (
	"fmt"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// blockSize is the metadata IO unit: B-tree nodes, space-map pages and index
// pages are all one block.
const blockSize = 4096

// minMetaBlocks is the smallest node area Format accepts (256 KiB).
const minMetaBlocks = 64

// layout is the geometry of the engine area, derived from its size, the
// chunk size and the metadata-percent option, and recorded in every commit
// record so that Open can refuse a mismatch.
//
//	[0, 2*slotSize)                 two commit-record slots (meta.DualSlot)
//	[idxOff, +2*idxPages*4K)        index pages, copy 0 then copy 1
//	[smOff, +2*smStride*4K)         space-map pages, copy 0 then copy 1
//	[metaOff, +metaBlocks*4K)       B-tree nodes (address a at metaOff+(a-1)*4K)
//	[dataOff, +dataChunks*chunk)    data chunks (chunk c at dataOff+c*chunk)
type layout struct {
	area       int64
	chunk      int64
	slotSize   int64
	idxOff     int64
	smOff      int64
	metaOff    int64
	dataOff    int64
	idxPages   uint64 // index pages (one copy)
	smStride   uint64 // space-map pages one copy has room for
	dataPages  uint64 // pages of the data space map
	metaPages  uint64 // pages of the node space map
	dataChunks uint64
	metaBlocks uint64
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

func roundUp(a, b int64) int64 { return (a + b - 1) / b * b }

// computeLayout lays out an engine area of area bytes.
func computeLayout(area int64, chunk int, metaPct float64) (layout, error) {
	const B = blockSize
	l := layout{area: area, chunk: int64(chunk)}
	if !(metaPct > 0 && metaPct <= 50) {
		return layout{}, fmt.Errorf("row: metadata-percent %v: %w: must be in (0, 50]", metaPct, strategies.ErrInvalidArgument)
	}
	m := int64(float64(area) * metaPct / 100 / B)
	l.metaBlocks = uint64(max(m, minMetaBlocks))
	dmax := uint64(area / l.chunk)
	l.smStride = ceilDiv(dmax, smPerPage) + ceilDiv(l.metaBlocks, smPerPage)
	l.idxPages = ceilDiv(l.smStride, idxPerPage)
	l.slotSize = roundUp(meta.SlotHeaderSize+recordFixedLen+int64(ceilDiv(l.idxPages, 8)), B)
	l.idxOff = 2 * l.slotSize
	l.smOff = l.idxOff + 2*int64(l.idxPages)*B
	l.metaOff = l.smOff + 2*int64(l.smStride)*B
	l.dataOff = roundUp(l.metaOff+int64(l.metaBlocks)*B, l.chunk)
	if l.dataOff+l.chunk > area {
		return layout{}, fmt.Errorf("row: %w: engine area of %d bytes too small (metadata alone needs %d)", strategies.ErrNoSpace, area, l.dataOff)
	}
	l.dataChunks = uint64((area - l.dataOff) / l.chunk)
	l.dataPages = ceilDiv(l.dataChunks, smPerPage)
	l.metaPages = ceilDiv(l.metaBlocks, smPerPage)
	return l, nil
}

// fixedBytes is the part of the area that is neither a node block nor a data
// chunk: record slots, index and space-map pages, alignment, the tail.
func (l layout) fixedBytes() int64 {
	return l.area - int64(l.dataChunks)*l.chunk - int64(l.metaBlocks)*blockSize
}

// nodeOff is the device offset of node address a (1-based).
func (l layout) nodeOff(a uint64) int64 { return l.metaOff + int64(a-1)*blockSize }

// chunkOff is the device offset of data chunk c.
func (l layout) chunkOff(c uint64) int64 { return l.dataOff + int64(c)*l.chunk }

// pageOff is the device offset of copy slot of space-map page p.
func (l layout) pageOff(p uint64, slot int) int64 {
	return l.smOff + (int64(slot)*int64(l.smStride)+int64(p))*blockSize
}

// idxOffOf is the device offset of copy slot of index page i.
func (l layout) idxOffOf(i uint64, slot int) int64 {
	return l.idxOff + (int64(slot)*int64(l.idxPages)+int64(i))*blockSize
}

// pages is the number of space-map pages in use (data, then nodes).
func (l layout) pages() uint64 { return l.dataPages + l.metaPages }
