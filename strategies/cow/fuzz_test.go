package cow

import (
	"bytes"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

func seedTables() [][]byte {
	return [][]byte{
		encodeVolTable(volTable{nonce: 1, nextID: 1}),
		encodeVolTable(volTable{nonce: 7, nextID: 4, invalidated: 1, vols: []volRec{
			{id: 1, kind: kindBase, size: 4 * testChunk, off: 2 << 20, length: 4 * testChunk, name: "base"},
			{id: 3, kind: kindSnapshot, invalid: true, parent: 1, size: 4 * testChunk, off: 3 << 20,
				length: testChunk + 8192, capChunks: 1, name: "s"},
		}}),
	}
}

// FuzzVolTable: decoding any record never panics; a record that decodes
// encodes back to the same bytes; validation never panics.
func FuzzVolTable(f *testing.F) {
	for _, s := range seedTables() {
		f.Add(s)
	}
	g, err := newGeometry(48<<20, testOpts("20", 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		tab, err := decodeVolTable(rec)
		if err != nil {
			return
		}
		if again := encodeVolTable(tab); !bytes.Equal(again, rec) {
			t.Fatalf("decode/encode is not the identity")
		}
		_ = g.validate(tab)
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

// FuzzOpen commits an arbitrary (checksummed) volume table and opens the
// engine on it: Open and Check never panic, whatever the table says.
func FuzzOpen(f *testing.F) {
	for _, s := range seedTables() {
		f.Add(s)
	}
	mem := device.MustMem(16 << 20)
	opts := testOpts("20", 0)
	if _, err := strategies.Format("cow", mem, opts); err != nil {
		f.Fatal(err)
	}
	pristine := mem.Reopen()
	f.Fuzz(func(t *testing.T, rec []byte) {
		m := pristine.Reopen()
		area, err := device.NewSub(m, strategies.ReservedBytes, m.Size()-strategies.ReservedBytes)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := newGeometry(area.Size(), opts)
		if len(rec) > int(g.slotSize)-meta.SlotHeaderSize {
			return
		}
		slots := meta.NewDualSlot(area, 0, g.slotSize, g.slotSize)
		if _, err := slots.Load(); err != nil {
			t.Fatal(err)
		}
		if err := slots.Commit(rec); err != nil {
			t.Fatal(err)
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
