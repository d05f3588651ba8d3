package cow

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// seedHeaders returns encoded header blocks: an empty table, and one with
// inline records, a segment and a page list.
func seedHeaders() [][]byte {
	empty := device.Alloc(blockSize)
	encodeHeader(empty, &header{seq: 1, nonce: 1, nextID: 1})
	h := &header{seq: 9, nonce: 7, nextID: 4, invalidated: 1, pagesUsed: 1,
		segs: []segment{{off: 2 << 20, pages: firstSegPages, nonce: 5}}, dirty: []uint32{0}}
	h.recs[0] = volRec{id: 1, kind: kindBase, size: 4 * testChunk, off: 3 << 20, length: 4 * testChunk, name: "base"}
	h.recs[2] = volRec{id: 3, kind: kindSnapshot, invalid: true, parent: 1, size: 4 * testChunk, off: 4 << 20,
		length: testChunk + 8192, capChunks: 1, name: "s", slot: 2}
	full := device.Alloc(blockSize)
	encodeHeader(full, h)
	return [][]byte{empty, full}
}

// FuzzTableHeader: decoding any block never panics; a header that decodes
// encodes back to the same bytes; validating what it holds never panics.
func FuzzTableHeader(f *testing.F) {
	for _, s := range seedHeaders() {
		f.Add(s)
	}
	g, err := newGeometry(48<<20, testOpts("20", 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < blockSize {
			b = append(b, make([]byte, blockSize-len(b))...)
		}
		b = b[:blockSize]
		// Make the checksum right so the decoder's other checks are reached.
		binary.LittleEndian.PutUint32(b[hdrCRCOff:], meta.Checksum(b[:hdrCRCOff]))
		h, ok, err := decodeHeader(b)
		if !ok || err != nil {
			return
		}
		again := device.Alloc(blockSize)
		encodeHeader(again, &h)
		if !bytes.Equal(again, b) {
			t.Fatalf("decode/encode is not the identity")
		}
		tab := volTable{seq: h.seq, nonce: h.nonce, nextID: h.nextID, invalidated: h.invalidated, pagesUsed: h.pagesUsed, segs: h.segs}
		for _, r := range h.recs {
			if r.id != 0 {
				tab.vols = append(tab.vols, r)
			}
		}
		_ = g.validate(tab)
	})
}

// FuzzTablePage: decoding any page never panics, never believes a page of
// another identity, and a page that decodes re-encodes to the same bytes.
func FuzzTablePage(f *testing.F) {
	id := pageID{nonce: 3, segNonce: 4, index: 2}
	b := device.Alloc(blockSize)
	r := volRec{id: 9, kind: kindClone, parent: 1, size: testChunk, off: 1 << 20, length: 2 * testChunk, capChunks: 1, name: "c"}
	encodePage(b, id, 6, []*volRec{nil, &r})
	f.Add(append([]byte(nil), b...), uint32(2))
	f.Add(make([]byte, blockSize), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, index uint32) {
		if len(b) < blockSize {
			b = append(b, make([]byte, blockSize-len(b))...)
		}
		b = b[:blockSize]
		binary.LittleEndian.PutUint32(b[hdrCRCOff:], meta.Checksum(b[:hdrCRCOff]))
		want := pageID{nonce: 3, segNonce: 4, index: index}
		var recs [recsPerPage]volRec
		seq, ok, err := decodePage(b, want, &recs)
		if !ok || err != nil {
			return
		}
		if binary.LittleEndian.Uint32(b[4:]) != index {
			t.Fatal("page of another index believed")
		}
		ptrs := make([]*volRec, recsPerPage)
		for i := range recs {
			ptrs[i] = &recs[i]
		}
		again := device.Alloc(blockSize)
		encodePage(again, want, seq, ptrs)
		if !bytes.Equal(again, b) {
			t.Fatal("decode/encode is not the identity")
		}
	})
}

// FuzzExceptionBlock: decoding any block never panics, and what decodes
// re-encodes to a block that decodes to the same entries.
func FuzzExceptionBlock(f *testing.F) {
	buf := device.Alloc(blockSize)
	encodeBlock(buf, blockID{nonce: 1, vol: 2, index: 0}, 3, []entry{{1, 0}, {9, 1}})
	f.Add(append([]byte(nil), buf...), uint64(1), uint64(2), uint32(0))
	f.Add(make([]byte, blockSize), uint64(0), uint64(0), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, nonce, vol uint64, index uint32) {
		id := blockID{nonce: nonce, vol: strategies.VolumeID(vol), index: index}
		seq, ents, ok := decodeBlock(data, id, nil)
		if !ok {
			return
		}
		if len(ents) > entriesPerBlock {
			t.Fatalf("%d entries", len(ents))
		}
		b := device.Alloc(blockSize)
		encodeBlock(b, id, seq, ents)
		seq2, ents2, ok := decodeBlock(b, id, nil)
		if !ok || seq2 != seq || len(ents2) != len(ents) {
			t.Fatal("re-encoded block does not decode the same")
		}
	})
}

// FuzzTableLoad drives the table loader with well-formed, checksummed
// blocks built from the input: entry values, counts, sequence numbers,
// missing and torn copies. Loading never panics; a table that loads has
// unique chunks and slots in range and a consistent tail.
func FuzzTableLoad(f *testing.F) {
	f.Add([]byte{0, 3, 1, 2, 3, 4, 5, 6, 1, 0, 2})
	f.Add(bytes.Repeat([]byte{0xff, 0x10}, 64))
	const baseChunks, capChunks = 2000, 1100
	f.Fuzz(func(t *testing.T, in []byte) {
		l := newTableLoad(11, 5, baseChunks, capChunks)
		pair := device.Alloc(2 * blockSize)
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		seq := uint64(1)
		for k := uint32(0); int64(k) < l.blocks && !l.done; k++ {
			clear(pair)
			for cp := 0; cp < 2; cp++ {
				mode := next()
				if mode%4 == 0 {
					continue // no valid copy
				}
				n := int(next())
				if mode%4 == 3 {
					n = entriesPerBlock
				}
				ents := make([]entry, n)
				for i := range ents {
					if mode&0x80 != 0 { // arbitrary values: duplicates, out of range
						ents[i] = entry{uint32(next()) * 9, uint32(next()) * 5}
					} else {
						ents[i] = entry{uint32(int(k)*entriesPerBlock + i), uint32(int(k)*entriesPerBlock + i)}
					}
				}
				seq += uint64(next() % 3)
				encodeBlock(pair[cp*blockSize:], blockID{nonce: 11, vol: 5, index: k}, seq, ents)
				if mode&0x40 != 0 {
					pair[cp*blockSize+int(next())*16] ^= 1 // torn
				}
			}
			if err := l.feed(k, pair); err != nil {
				return
			}
		}
		if uint64(l.table.len()) != l.count || l.count > capChunks {
			t.Fatalf("count %d, table %d", l.count, l.table.len())
		}
		seen := make(map[uint32]bool)
		l.table.each(func(c, s uint32) {
			if c >= baseChunks || s >= capChunks || seen[s] || l.used[s/64]&(1<<(s%64)) == 0 {
				t.Fatalf("entry %d -> %d", c, s)
			}
			seen[s] = true
		})
		if l.done && len(l.tailEnt) >= entriesPerBlock {
			t.Fatalf("tail of %d entries", len(l.tailEnt))
		}
	})
}

// FuzzOpen writes an arbitrary (checksummed) header block into either
// header slot and arbitrary bytes into the first table segment's place, then
// opens the engine: Open and Check never panic, whatever the table says.
func FuzzOpen(f *testing.F) {
	for _, s := range seedHeaders() {
		f.Add(s, byte(0), []byte{})
	}
	mem := device.MustMem(16 << 20)
	opts := testOpts("20", 0)
	if _, err := strategies.Format("cow", mem, opts); err != nil {
		f.Fatal(err)
	}
	pristine := mem.Reopen()
	f.Fuzz(func(t *testing.T, hdr []byte, slot byte, pages []byte) {
		m := pristine.Reopen()
		area, err := device.NewSub(m, strategies.ReservedBytes, m.Size()-strategies.ReservedBytes)
		if err != nil {
			t.Fatal(err)
		}
		b := device.Alloc(blockSize)
		copy(b, hdr)
		binary.LittleEndian.PutUint32(b[hdrCRCOff:], meta.Checksum(b[:hdrCRCOff]))
		if _, err := area.WriteAt(b, int64(slot%2)*blockSize); err != nil {
			t.Fatal(err)
		}
		if h, ok, _ := decodeHeader(b); ok && len(h.segs) > 0 && len(pages) > 0 {
			p := device.Alloc(int(roundUp(int64(len(pages)), blockSize)))
			copy(p, pages)
			if h.segs[0].off >= 0 && h.segs[0].off%blockSize == 0 && h.segs[0].off+int64(len(p)) <= area.Size() {
				area.WriteAt(p, h.segs[0].off)
			}
		}
		e, err := strategies.Open(m)
		if err != nil {
			return
		}
		_ = e.Check()
		e.Volumes()
		e.Space()
		e.Close()
	})
}
