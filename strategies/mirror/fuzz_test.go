package mirror

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

// The on-device decoders of the engine, fuzzed: the volume table's
// records (decodeRecord), bitmap and write-intent blocks (decodeBlock, loadBlock,
// intentLog.load), and Open on a real image with one structure replaced.
// Seeds are real encodings taken from a small engine image (fuzzImage); they
// run in plain go test.

const (
	fuzzDevSize = 4 << 20
	fuzzChunk   = 64 << 10
)

// fuzzOpts are the engine's options with every parameter at its default
// (Format and Open are called directly, without the registry's defaults).
var fuzzOpts = strategies.Options{ChunkSize: fuzzChunk, Params: map[string]string{
	paramAutoMirrors: "0", paramBackground: "false", paramIntentRegion: "0"}}

// fuzzImage is a small engine image with every on-device structure in use:
// a base with an attached synchronised mirror and a half-synchronised one,
// a split clone that tracks the base with changes on both sides, and
// unflushed base writes so that the intent block has bits set.
type fuzzImage struct {
	mem        *device.Mem // the image, closed; copy with Reopen
	geo        geometry
	records    [][]byte // the table's records: every volume's and mirror's
	intent     []byte   // the intent block
	bitmaps    [][]byte // bitmap blocks: the split's change map, the mirrors' out-of-sync maps
	bitmapOffs []int64
}

func newFuzzImage(tb testing.TB) *fuzzImage {
	tb.Helper()
	mem, err := device.NewMem(fuzzDevSize, device.MemOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := Format(mem, fuzzOpts)
	if err != nil {
		tb.Fatal(err)
	}
	e := eng.(*Engine)
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	const size = 8 * fuzzChunk
	base, err := e.Create("base", size)
	must(err)
	_, err = e.Establish(base)
	must(err)
	_, err = e.Sync(base, 0)
	must(err)
	v, err := e.Open(base)
	must(err)
	p := device.Alloc(8192)
	for i := range p {
		p[i] = byte(i * 7)
	}
	_, err = v.WriteAt(p, 3*fuzzChunk)
	must(err)
	clone, err := e.Clone(base, "clone")
	must(err)
	for range 2 {
		_, err = e.Establish(base)
		must(err)
	}
	_, err = e.Sync(base, size+2*fuzzChunk) // the first in sync, the second partly
	must(err)
	c, err := e.Open(clone)
	must(err)
	_, err = c.WriteAt(p, 5*fuzzChunk)
	must(err)
	_, err = v.WriteAt(p, 1*fuzzChunk)
	must(err)
	must(e.Flush())
	_, err = v.WriteAt(p, 6*fuzzChunk) // unflushed: its intent bit stays set
	must(err)

	img := &fuzzImage{geo: e.geo}
	for _, v := range e.vols {
		b := make([]byte, recSize)
		encodeVolume(b, v.volRecord)
		img.records = append(img.records, b)
	}
	for _, m := range e.mirs {
		b := make([]byte, recSize)
		encodeMirror(b, m.mirRecord)
		img.records = append(img.records, b)
	}
	read := func(off int64) []byte {
		b := device.Alloc(blockSize)
		_, err := mem.ReadAt(b, off)
		must(err)
		return b
	}
	img.intent = read(0)
	for _, x := range e.vols {
		if x.changed != nil {
			img.bitmaps = append(img.bitmaps, read(x.ext))
			img.bitmapOffs = append(img.bitmapOffs, x.ext)
		}
	}
	for _, m := range e.mirs {
		img.bitmaps = append(img.bitmaps, read(m.ext))
		img.bitmapOffs = append(img.bitmapOffs, m.ext)
	}
	if len(img.bitmaps) != 3 {
		tb.Fatalf("image has %d bitmaps, want 3", len(img.bitmaps))
	}
	v.Close()
	c.Close()
	must(e.Close())
	img.mem = mem
	again, err := Open(mem.Reopen(), fuzzOpts) // the seeds are a valid image
	must(err)
	must(again.Check())
	must(again.Close())
	return img
}

// FuzzDecodeRecord: decoding any table record never panics; a record that
// decodes encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	img := newFuzzImage(f)
	for _, r := range img.records {
		f.Add(r)
	}
	f.Add(make([]byte, recSize))
	f.Add(img.records[0][:volRecLen])
	long := bytes.Clone(img.records[0])
	binary.LittleEndian.PutUint16(long[42:], 1<<15) // name length
	f.Add(long)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var tab table
		if err := decodeRecord(rec, &tab); err != nil {
			return
		}
		again := make([]byte, recSize)
		switch {
		case len(tab.vols) == 1 && len(tab.mirs) == 0:
			encodeVolume(again, tab.vols[0])
		case len(tab.mirs) == 1 && len(tab.vols) == 0:
			encodeMirror(again, tab.mirs[0])
		default:
			t.Fatalf("one record gave %d volumes and %d mirrors", len(tab.vols), len(tab.mirs))
		}
		if !bytes.Equal(again, rec) {
			t.Fatal("decode/encode is not the identity")
		}
	})
}

// block returns a copy of a real block of img (the intent block, then the
// bitmap blocks, by which modulo their number) with patch written at at,
// resealed with its own tag when seal is set (so that the decoder gets past
// the checksum), and cut to cut%blockSize bytes when cut is not zero. Small
// patches keep the fuzzer's inputs (and their minimisation) small.
func (img *fuzzImage) block(which uint8, at uint16, patch []byte, seal bool, cut uint16) (b []byte, tag uint32) {
	i := int(which) % (1 + len(img.bitmaps))
	src, tag := img.intent, uint32(intentTag)
	if i > 0 {
		src, tag = img.bitmaps[i-1], 0
	}
	b = device.Alloc(blockSize)
	copy(b, src)
	copy(b[int(at)%blockSize:], patch)
	if seal {
		sealBlock(b, tag)
	}
	if cut != 0 {
		b = b[:int(cut)%blockSize]
	}
	return b, tag
}

// FuzzDecodeBlock: decoding any bitmap or intent block with any expected tag
// never panics; a block that decodes is re-encoded (sealed) to the same
// bytes.
func FuzzDecodeBlock(f *testing.F) {
	img := newFuzzImage(f)
	for which := range 1 + len(img.bitmaps) {
		f.Add(uint8(which), uint16(0), []byte{}, false, uint16(0), true)
		f.Add(uint8(which), uint16(8), []byte{0xff, 0x01}, true, uint16(0), true)
	}
	f.Add(uint8(1), uint16(0), []byte{}, false, uint16(0), false)   // wrong tag
	f.Add(uint8(0), uint16(100), []byte{1}, false, uint16(0), true) // bad checksum
	f.Add(uint8(2), uint16(0), []byte{}, false, uint16(4095), true) // truncated
	f.Add(uint8(0), uint16(4088), []byte{7, 0, 0, 0}, true, uint16(0), true)
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, seal bool, cut uint16, rightTag bool) {
		buf, tag := img.block(which, at, patch, seal, cut)
		if !rightTag {
			tag ^= 1
		}
		words := make([]uint64, wordsPerBlock)
		if err := decodeBlock(buf, tag, words); err != nil {
			return
		}
		again := make([]byte, blockSize)
		for i, w := range words {
			binary.LittleEndian.PutUint64(again[8*i:], w)
		}
		sealBlock(again, tag)
		if !bytes.Equal(again, buf[:blockSize]) {
			t.Fatal("decode/seal is not the identity")
		}
	})
}

// FuzzLoadBlock: installing any block image as any block of a bitmap of any
// size never panics, never sets a bit past the last chunk, and reports a
// repair (and marks the block dirty) exactly when the image is not the
// encoding of what it installed.
func FuzzLoadBlock(f *testing.F) {
	img := newFuzzImage(f)
	for which := range 1 + len(img.bitmaps) {
		f.Add(uint8(which), uint16(0), []byte{}, false, uint16(0), uint32(8), uint8(0))
	}
	f.Add(uint8(1), uint16(0), []byte{0xff}, true, uint16(0), uint32(3), uint8(0))           // bits past the last chunk
	f.Add(uint8(2), uint16(0), []byte{}, false, uint16(0), uint32(2*bitsPerBlock), uint8(1)) // second block: wrong tag
	f.Add(uint8(3), uint16(0), []byte{}, false, uint16(100), uint32(8), uint8(0))            // truncated
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, seal bool, cut uint16, chunks uint32, blk uint8) {
		n := max(int64(chunks%(4*bitsPerBlock)), 1)
		b := newChunkBitmap(n)
		i := int64(blk) % b.blocks()
		buf, _ := img.block(which, at, patch, false, cut)
		if seal && len(buf) == blockSize {
			sealBlock(buf, uint32(i))
		}
		repaired := b.loadBlock(i, buf)
		for w := int64(0); w < int64(len(b.words)); w++ {
			if b.words[w]&^b.validMask(w) != 0 {
				t.Fatalf("bit past chunk %d set in word %d", n, w)
			}
		}
		if b.isDirty(i) != repaired {
			t.Fatalf("repaired %v, dirty %v", repaired, b.isDirty(i))
		}
		enc := make([]byte, blockSize)
		b.encodeBlock(i, enc)
		if exact := len(buf) >= blockSize && bytes.Equal(enc, buf[:blockSize]); exact == repaired {
			t.Fatalf("repaired %v, but the block encodes what was installed: %v", repaired, exact)
		}
	})
}

// FuzzIntentLoad: recovery's read of any intent block never panics; a block
// that does not decode counts as damaged, every region dirty; one that does
// yields its bits.
func FuzzIntentLoad(f *testing.F) {
	img := newFuzzImage(f)
	f.Add(uint8(0), uint16(0), []byte{}, false)
	f.Add(uint8(0), uint16(0), []byte{0xff, 0xff, 0xff}, true)
	f.Add(uint8(0), uint16(0), []byte{0xff}, false)
	f.Add(uint8(1), uint16(0), []byte{}, false) // a bitmap block: tag mismatch
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte, seal bool) {
		b, _ := img.block(which, at, patch, false, 0)
		if seal {
			sealBlock(b, intentTag)
		}
		mem, err := device.NewMem(64<<10, device.MemOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mem.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		l := newIntentLog(mem, 0, fuzzChunk, fuzzDevSize)
		words, damaged, err := l.load()
		if err != nil {
			t.Fatal(err)
		}
		if len(words) != wordsPerBlock {
			t.Fatalf("%d words", len(words))
		}
		want := make([]uint64, wordsPerBlock)
		if decodeBlock(b, intentTag, want) != nil {
			for i := range want {
				want[i] = ^uint64(0)
			}
			if !damaged {
				t.Fatal("undecodable intent block not reported damaged")
			}
		} else if damaged {
			t.Fatal("valid intent block reported damaged")
		}
		if !slices.Equal(words, want) {
			t.Fatal("intent bits differ from the block's")
		}
	})
}

// Structures FuzzOpen replaces.
const (
	fuzzTable = iota
	fuzzIntent
	fuzzBitmap
	fuzzKinds
)

// FuzzOpen opens the engine on a real image with one structure changed:
// patch written at at into one of the table's header blocks (resealed with
// a valid checksum when seal is set, so that the table's loader gets past
// it), or into the intent block or a bitmap block (resealed with a valid
// checksum and tag when seal is set). Open and what follows never panic; an engine that opens answers
// Check, Space, Mirrors and reads of every volume.
func FuzzOpen(f *testing.F) {
	img := newFuzzImage(f)
	f.Add(uint8(fuzzTable), uint8(0), uint16(0), []byte{}, true)
	f.Add(uint8(fuzzTable), uint8(1), uint16(24), []byte{0xff, 0xff}, true) // segment count
	f.Add(uint8(fuzzTable), uint8(0), uint16(28), []byte{0xff}, true)       // pages in use
	f.Add(uint8(fuzzTable), uint8(1), uint16(0), []byte{0}, false)          // bad magic
	f.Add(uint8(fuzzIntent), uint8(0), uint16(0), []byte{}, false)
	f.Add(uint8(fuzzIntent), uint8(0), uint16(0), []byte{0xff, 0xff}, true)
	f.Add(uint8(fuzzIntent), uint8(0), uint16(7), []byte{0xff}, false)
	for i := range img.bitmaps {
		f.Add(uint8(fuzzBitmap), uint8(i), uint16(0), []byte{}, false)
		f.Add(uint8(fuzzBitmap), uint8(i), uint16(0), []byte{0xff, 0xff}, true)
		f.Add(uint8(fuzzBitmap), uint8(i), uint16(0), []byte{0xff}, false)
	}
	f.Fuzz(func(t *testing.T, kind, which uint8, at uint16, patch []byte, seal bool) {
		dev := img.mem.Reopen()
		switch kind % fuzzKinds {
		case fuzzTable:
			off := int64(blockSize + int(which%2)*paged.BlockSize)
			b := device.Alloc(paged.BlockSize)
			if _, err := dev.ReadAt(b, off); err != nil {
				t.Fatal(err)
			}
			copy(b[int(at)%paged.CRCOff:], patch)
			if seal {
				binary.LittleEndian.PutUint32(b[paged.CRCOff:], meta.Checksum(b[:paged.CRCOff]))
			}
			if _, err := dev.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		case fuzzIntent, fuzzBitmap:
			off, tag := int64(0), uint32(intentTag)
			if kind%fuzzKinds == fuzzBitmap {
				off, tag = img.bitmapOffs[int(which)%len(img.bitmapOffs)], 0
			}
			b := device.Alloc(blockSize)
			if _, err := dev.ReadAt(b, off); err != nil {
				t.Fatal(err)
			}
			copy(b[int(at)%blockSize:], patch)
			if seal {
				sealBlock(b, tag)
			}
			if _, err := dev.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		}
		eng, err := Open(dev, fuzzOpts)
		if err != nil {
			return
		}
		defer eng.Close()
		_ = eng.Check()
		_ = eng.Space()
		r := device.Alloc(fuzzChunk)
		for _, vi := range eng.Volumes() {
			_ = eng.(*Engine).Mirrors(vi.ID)
			v, err := eng.Open(vi.ID)
			if err != nil {
				t.Fatalf("open listed volume %q: %v", vi.Name, err)
			}
			for off := int64(0); off < vi.Size; off += fuzzChunk {
				if _, err := v.ReadAt(r, off); err != nil {
					t.Fatalf("read %q at %d: %v", vi.Name, off, err)
				}
			}
			v.Close()
		}
	})
}
