package linked

import (
	"encoding/binary"
	"testing"

	"github.com/snapbench/snapbench/strategies"
)

// FuzzDecodeRoot: decoding any bytes as a catalog root never panics, and a
// root that decodes re-encodes to the same bytes.
func FuzzDecodeRoot(f *testing.F) {
	geo, err := newGeometry(64<<20, 64<<10, 512)
	if err != nil {
		f.Fatal(err)
	}
	r := &root{chunk: uint32(geo.chunk), sector: uint32(geo.sector), nPool: geo.nPool, nextVol: 4, nextDelta: 4,
		buckets: []bucketRef{{idx: 0, length: 300, crc: 7, grains: []uint32{5}}, {idx: 3, length: 70000, crc: 1, grains: []uint32{6, 9}}}}
	f.Add(encodeRoot(r))
	r.hasRep, r.nRep = true, 9
	f.Add(encodeRoot(r))
	f.Add(encodeRoot(&root{chunk: uint32(geo.chunk), sector: 512, nPool: geo.nPool, nextVol: 1, nextDelta: 1}))
	f.Add([]byte{3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRoot(b)
		if err != nil {
			return
		}
		for _, br := range r.buckets {
			if len(br.grains) != int((br.length+r.chunk-1)/r.chunk) {
				t.Fatalf("bucket %d of %d bytes in %d grains accepted", br.idx, br.length, len(br.grains))
			}
		}
		if got := encodeRoot(r); string(got) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeBucket: decoding any bytes as a catalog bucket never panics;
// an accepted bucket holds volumes of its range, each with its own delta's
// record and a directory of the right length, re-encodes to the same
// bytes, and its assembled catalog validates without panicking.
func FuzzDecodeBucket(f *testing.F) {
	geo, err := newGeometry(64<<20, 64<<10, 512)
	if err != nil {
		f.Fatal(err)
	}
	es := []entry{
		{v: volRec{id: 1, name: "b", kind: uint8(strategies.KindBase), size: 8 << 16, delta: 2, link: 3},
			d: deltaRec{id: 2, parent: 1, nGrains: 8, gd: []uint32{2}}},
		{v: volRec{id: 2, name: "c", kind: uint8(strategies.KindClone), size: 8 << 16, delta: 3, parentVol: 1},
			d: deltaRec{id: 3, parent: 1, nGrains: 8, gd: []uint32{0}}},
		{v: volRec{id: 3, name: "replica/3", kind: uint8(strategies.KindInternal), role: roleReplica, readOnly: true, size: 8 << 16, delta: 1, link: 1},
			d: deltaRec{id: 1, nGrains: 8, frozen: true, gd: []uint32{1}}}}
	f.Add(encodeBucket(es), uint32(0))
	f.Add(encodeBucket(es[:1]), uint32(1))
	f.Add([]byte{1, 0, 0, 0, 0xff}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, idx uint32) {
		got, err := decodeBucket(b, idx, geo)
		if err != nil {
			return
		}
		for _, e := range got {
			if e.v.id>>bucketShift != uint64(idx) || e.v.delta != e.d.id || len(e.d.gd) != geo.gdLen(e.d.nGrains) {
				t.Fatalf("bad entry accepted: %+v", e)
			}
		}
		if string(encodeBucket(got)) != string(b) {
			t.Fatalf("re-encoding differs")
		}
		c := assemble(&root{chunk: uint32(geo.chunk), sector: uint32(geo.sector), nPool: geo.nPool, nextVol: 1 << 40, nextDelta: 1 << 40}, [][]entry{got})
		_ = c.validate(geo)
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
