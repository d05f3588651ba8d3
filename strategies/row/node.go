package row

import (
	"encoding/binary"
	"fmt"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// A B-tree node is one 4 KiB block, little endian:
//
//	0   magic "ROWN"
//	4   CRC-32C of bytes [8, 4096)
//	8   own address (u64): a node read from the wrong place is detected
//	16  generation (u64): the transaction that wrote this copy
//	24  tree (u8): 1 volume mapping, 2 volume table
//	25  level (u8): 0 for leaves
//	26  entry count (u16), at least 1
//	28  reserved (u32, zero)
//	32  keys: max u64s, strictly increasing
//	    values: max values of the node's value size
//
// Mapping leaves map a logical chunk to (pool chunk u64, generation u64): 169
// entries. Volume-table leaves map a volume id to a 128-byte volume record:
// 29 entries. Internal nodes map the smallest key of each child to the
// child's address (u64): 254 entries. For every internal node, key i equals
// the first key of child i.
const (
	nodeHeader   = 32
	nodeMagic    = 0x4e574f52 // "ROWN"
	treeMap      = 1
	treeVol      = 2
	mapValSize   = 16
	childValSize = 8
	maxLevels    = 12
)

// geom is the entry geometry of one kind of node.
type geom struct {
	max     int // entries that fit
	vsize   int // value size
	valBase int // offset of value 0
}

var geoms [4][2]geom // [tree][internal]; invalid trees have max 0

func init() {
	mk := func(vsize int) geom {
		m := (blockSize - nodeHeader) / (8 + vsize)
		return geom{max: m, vsize: vsize, valBase: nodeHeader + 8*m}
	}
	geoms[treeMap][0] = mk(mapValSize)
	geoms[treeMap][1] = mk(childValSize)
	geoms[treeVol][0] = mk(volRecSize)
	geoms[treeVol][1] = mk(childValSize)
}

func geomOf(b []byte) geom {
	in := 0
	if b[25] > 0 {
		in = 1
	}
	return geoms[b[24]&3][in]
}

func nAddr(b []byte) uint64       { return binary.LittleEndian.Uint64(b[8:]) }
func nGen(b []byte) uint64        { return binary.LittleEndian.Uint64(b[16:]) }
func nTree(b []byte) uint8        { return b[24] }
func nLevel(b []byte) int         { return int(b[25]) }
func nCount(b []byte) int         { return int(binary.LittleEndian.Uint16(b[26:])) }
func setCount(b []byte, n int)    { binary.LittleEndian.PutUint16(b[26:], uint16(n)) }
func nKey(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[nodeHeader+8*i:]) }
func setKey(b []byte, i int, k uint64) {
	binary.LittleEndian.PutUint64(b[nodeHeader+8*i:], k)
}

func nVal(b []byte, g geom, i int) []byte {
	o := g.valBase + g.vsize*i
	return b[o : o+g.vsize : o+g.vsize]
}

func nChild(b []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(b[geoms[1][1].valBase+8*i:])
}

func setChild(b []byte, i int, a uint64) {
	binary.LittleEndian.PutUint64(b[geoms[1][1].valBase+8*i:], a)
}

// initNode writes the header of an empty node.
func initNode(b []byte, addr, gen uint64, tree uint8, level int) {
	clear(b[:nodeHeader])
	binary.LittleEndian.PutUint32(b, nodeMagic)
	relabel(b, addr, gen)
	b[24] = tree
	b[25] = uint8(level)
}

// relabel sets a node copy's address and generation.
func relabel(b []byte, addr, gen uint64) {
	binary.LittleEndian.PutUint64(b[8:], addr)
	binary.LittleEndian.PutUint64(b[16:], gen)
}

// sealNode stores the checksum; done just before every write.
func sealNode(b []byte) { binary.LittleEndian.PutUint32(b[4:], meta.Checksum(b[8:blockSize])) }

// search finds key in a node: its index and true, or the insertion index
// and false.
func search(b []byte, key uint64) (int, bool) {
	lo, hi := 0, nCount(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		k := nKey(b, m)
		switch {
		case k == key:
			return m, true
		case k < key:
			lo = m + 1
		default:
			hi = m
		}
	}
	return lo, false
}

// childIndex is the child of an internal node whose range holds key: the
// last i with key(i) <= key, or 0.
func childIndex(b []byte, key uint64) int {
	i, found := search(b, key)
	if found || i == 0 {
		return i
	}
	return i - 1
}

// insertAt inserts (key, val) at index i of a node that has room.
func insertAt(b []byte, i int, key uint64, val []byte) {
	g := geomOf(b)
	n := nCount(b)
	copy(b[nodeHeader+8*(i+1):nodeHeader+8*(n+1)], b[nodeHeader+8*i:nodeHeader+8*n])
	copy(b[g.valBase+g.vsize*(i+1):g.valBase+g.vsize*(n+1)], b[g.valBase+g.vsize*i:g.valBase+g.vsize*n])
	setKey(b, i, key)
	copy(nVal(b, g, i), val)
	setCount(b, n+1)
}

// removeAt removes entry i.
func removeAt(b []byte, i int) {
	g := geomOf(b)
	n := nCount(b)
	copy(b[nodeHeader+8*i:], b[nodeHeader+8*(i+1):nodeHeader+8*n])
	copy(b[g.valBase+g.vsize*i:], b[g.valBase+g.vsize*(i+1):g.valBase+g.vsize*n])
	setCount(b, n-1)
	clear(b[nodeHeader+8*(n-1) : nodeHeader+8*n])
	clear(b[g.valBase+g.vsize*(n-1) : g.valBase+g.vsize*n])
}

// moveTail moves entries [from, count) of src to the empty node dst.
func moveTail(dst, src []byte, from int) {
	g := geomOf(src)
	n := nCount(src)
	k := n - from
	copy(dst[nodeHeader:nodeHeader+8*k], src[nodeHeader+8*from:nodeHeader+8*n])
	copy(dst[g.valBase:g.valBase+g.vsize*k], src[g.valBase+g.vsize*from:g.valBase+g.vsize*n])
	clear(src[nodeHeader+8*from : nodeHeader+8*n])
	clear(src[g.valBase+g.vsize*from : g.valBase+g.vsize*n])
	setCount(dst, k)
	setCount(src, from)
}

// mapping is a mapping-tree leaf value: logical chunk -> pool chunk, with
// the transaction that wrote it (for the sharing rule, see doc.go).
type mapping struct {
	chunk uint64
	gen   uint64
}

func decodeMapping(v []byte) mapping {
	return mapping{chunk: binary.LittleEndian.Uint64(v), gen: binary.LittleEndian.Uint64(v[8:])}
}

func (m mapping) encode(v []byte) {
	binary.LittleEndian.PutUint64(v, m.chunk)
	binary.LittleEndian.PutUint64(v[8:], m.gen)
}

// checkNode validates a node image read from address addr: magic,
// checksum, address, tree, level, count and key order; maxGen bounds its
// generation. It never panics, whatever b holds.
func checkNode(b []byte, addr, maxGen uint64) error {
	if len(b) != blockSize {
		return fmt.Errorf("%w: node %d: %d bytes", strategies.ErrCorrupt, addr, len(b))
	}
	if binary.LittleEndian.Uint32(b) != nodeMagic {
		return fmt.Errorf("%w: node %d: bad magic", strategies.ErrCorrupt, addr)
	}
	if binary.LittleEndian.Uint32(b[4:]) != meta.Checksum(b[8:]) {
		return fmt.Errorf("%w: node %d: checksum mismatch", strategies.ErrCorrupt, addr)
	}
	return checkNodeBody(b, addr, maxGen)
}

// checkNodeBody is checkNode without the checksum, for node images in memory
// (a dirty node is sealed only when written).
func checkNodeBody(b []byte, addr, maxGen uint64) error {
	if len(b) != blockSize || binary.LittleEndian.Uint32(b) != nodeMagic {
		return fmt.Errorf("%w: node %d: bad magic", strategies.ErrCorrupt, addr)
	}
	if nAddr(b) != addr {
		return fmt.Errorf("%w: node %d: holds the node of address %d (misdirected write)", strategies.ErrCorrupt, addr, nAddr(b))
	}
	if g := nGen(b); g == 0 || g > maxGen {
		return fmt.Errorf("%w: node %d: generation %d outside [1, %d]", strategies.ErrCorrupt, addr, g, maxGen)
	}
	if t := nTree(b); t != treeMap && t != treeVol {
		return fmt.Errorf("%w: node %d: tree kind %d", strategies.ErrCorrupt, addr, t)
	}
	if nLevel(b) >= maxLevels {
		return fmt.Errorf("%w: node %d: level %d", strategies.ErrCorrupt, addr, nLevel(b))
	}
	n := nCount(b)
	if n < 1 || n > geomOf(b).max {
		return fmt.Errorf("%w: node %d: %d entries (tree %d level %d holds 1 to %d)", strategies.ErrCorrupt, addr, n, nTree(b), nLevel(b), geomOf(b).max)
	}
	if binary.LittleEndian.Uint32(b[28:]) != 0 {
		return fmt.Errorf("%w: node %d: reserved header field set", strategies.ErrCorrupt, addr)
	}
	for i := 1; i < n; i++ {
		if nKey(b, i-1) >= nKey(b, i) {
			return fmt.Errorf("%w: node %d: keys out of order at entry %d", strategies.ErrCorrupt, addr, i)
		}
	}
	return nil
}
