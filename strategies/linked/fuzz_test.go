package linked

import (
	"encoding/binary"
	"testing"

	"github.com/snapbench/snapbench/strategies"
)

// FuzzDecodeCatalog: decoding and validating any bytes never panics, and a
// catalog that decodes re-encodes to the same bytes.
func FuzzDecodeCatalog(f *testing.F) {
	geo, err := newGeometry(64<<20, 64<<10, 512)
	if err != nil {
		f.Fatal(err)
	}
	c := &catalog{chunk: uint32(geo.chunk), sector: uint32(geo.sector), nPool: geo.nPool, nextVol: 4, nextDelta: 4,
		deltas: []deltaRec{{id: 1, nGrains: 8, frozen: true, gd: []uint32{1}}, {id: 2, parent: 1, nGrains: 8, gd: []uint32{2}},
			{id: 3, parent: 1, nGrains: 8, gd: []uint32{3}}},
		vols: []volRec{{id: 1, name: "b", kind: uint8(strategies.KindBase), size: 8 << 16, delta: 2, link: 3},
			{id: 2, name: "c", kind: uint8(strategies.KindClone), size: 8 << 16, delta: 3, parentVol: 1},
			{id: 3, name: "replica/3", kind: uint8(strategies.KindInternal), role: roleReplica, readOnly: true, size: 8 << 16, delta: 1, link: 1}}}
	f.Add(encodeCatalog(c))
	f.Add(encodeCatalog(&catalog{chunk: uint32(geo.chunk), sector: 512, nPool: geo.nPool, nextVol: 1, nextDelta: 1}))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCatalog(b)
		if err != nil {
			return
		}
		_ = c.validate(geo)
		if got := encodeCatalog(c); string(got) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeGTBlock: any block content, id and index decode without panic;
// accepted entries are inside the pool; a sealed block of random entries
// decodes to them.
func FuzzDecodeGTBlock(f *testing.F) {
	blk := make([]byte, 512)
	binary.LittleEndian.PutUint32(blk, 3)
	sealGTBlock(blk, 9, 2)
	f.Add(blk, uint64(9), uint32(2), uint16(127), false)
	f.Add(make([]byte, 512), uint64(1), uint32(0), uint16(10), false)
	f.Add(make([]byte, 4096), uint64(1), uint32(0), uint16(1023), true)
	f.Fuzz(func(t *testing.T, b []byte, id uint64, idx uint32, n uint16, seal bool) {
		const nPool = 5000
		if seal && len(b) >= 8 && len(b)%4 == 0 {
			sealGTBlock(b, id, idx)
		}
		dst := make([]uint32, int(n)%1100)
		if err := decodeGTBlock(b, id, idx, dst, nPool); err != nil {
			return
		}
		for i, v := range dst {
			if v > nPool {
				t.Fatalf("entry %d = %d accepted outside the pool", i, v)
			}
		}
	})
}
