package full

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

// FuzzRecord: the record decoder never panics, and what decodes encodes
// back to the same bytes.
func FuzzRecord(f *testing.F) {
	b := make([]byte, recSize)
	encodeRecord(b, record{id: 2, parent: 1, kind: strategies.KindClone, size: 65536, ext: 2 << 20, name: "b"})
	f.Add(b)
	f.Add(make([]byte, recSize))
	f.Fuzz(func(t *testing.T, in []byte) {
		b := make([]byte, recSize)
		copy(b, in)
		r, err := decodeRecord(b, 3)
		if err != nil {
			return
		}
		again := make([]byte, recSize)
		encodeRecord(again, r)
		if !bytes.Equal(again, b) {
			t.Fatal("decode/encode is not the identity")
		}
	})
}

// FuzzOpen writes an arbitrary (checksummed) header block into either
// header slot and arbitrary bytes where its first segment says, then opens
// the engine: Open and Check never panic, whatever the table says.
func FuzzOpen(f *testing.F) {
	mem := device.MustMem(16 << 20)
	e, err := strategies.Format("full", mem, strategies.Options{ChunkSize: 65536})
	if err != nil {
		f.Fatal(err)
	}
	names := make([]string, 40)
	for i := range names {
		names[i] = "c" + string(rune('A'+i))
	}
	base, _ := e.Create("base", 65536)
	e.(strategies.BatchCloner).CloneMany(base, names)
	pristine := mem.Reopen()
	hdr := device.Alloc(paged.BlockSize)
	area, _ := device.NewSub(pristine, strategies.ReservedBytes, pristine.Size()-strategies.ReservedBytes)
	area.ReadAt(hdr, 0)
	f.Add(append([]byte(nil), hdr...), byte(0), []byte{})
	area.ReadAt(hdr, paged.BlockSize)
	f.Add(append([]byte(nil), hdr...), byte(1), []byte("FULP"))
	f.Fuzz(func(t *testing.T, h []byte, slot byte, pages []byte) {
		m := pristine.Reopen()
		area, err := device.NewSub(m, strategies.ReservedBytes, m.Size()-strategies.ReservedBytes)
		if err != nil {
			t.Fatal(err)
		}
		b := device.Alloc(paged.BlockSize)
		copy(b, h)
		binary.LittleEndian.PutUint32(b[paged.CRCOff:], meta.Checksum(b[:paged.CRCOff]))
		area.WriteAt(b, int64(slot%2)*paged.BlockSize)
		if len(pages) > 0 {
			off := int64(binary.LittleEndian.Uint64(b[paged.SegmentsOff:]))
			p := device.Alloc(int((int64(len(pages)) + paged.BlockSize - 1) / paged.BlockSize * paged.BlockSize))
			copy(p, pages)
			if off >= 0 && off%paged.BlockSize == 0 && off <= area.Size()-int64(len(p)) {
				area.WriteAt(p, off)
			}
		}
		e, err := strategies.Open(m)
		if err != nil {
			return
		}
		_ = e.(interface{ Check() error }).Check()
		e.Volumes()
		e.Space()
		e.Close()
	})
}
