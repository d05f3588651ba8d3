package row

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The fuzz targets feed every on-device decoder arbitrary bytes: none may
// panic, and what one accepts must satisfy the invariants its callers rely
// on. Their seeds come from a real engine image (fuzzImage) and run in
// plain go test. Fuzz one with, for example:
//
//	go test -run '^$' -fuzz FuzzCheckNode -fuzztime 60s -fuzzminimizetime 5s ./strategies/row/
//
// (Minimizing a 4 KiB input can take the whole default minute.)

const fuzzDevSize = 4 << 20

// fuzzOpts are the options of fuzzImage, defaults spelled out (Format and
// Open here are the engine's own, below strategies.Format's resolution).
var fuzzOpts = strategies.Options{ChunkSize: 4096, Params: map[string]string{
	"cache-mb": "64", "expire-snapshots-on-full": "false", "metadata-percent": "2"}}

// fuzzImage is a committed engine on a 4 MiB device with 4 KiB chunks: a
// base with a two-level mapping tree, snapshots, clones (some deleted), so
// that mapping leaves and internal nodes, volume-table leaves, space-map
// and index pages and the commit record all exist on the device.
var fuzzImage = sync.OnceValues(func() ([]byte, error) {
	dev, err := device.NewMem(fuzzDevSize, device.MemOptions{})
	if err != nil {
		return nil, err
	}
	eng, err := Format(dev, fuzzOpts)
	if err != nil {
		return nil, err
	}
	e := eng.(*Engine)
	defer e.Close()
	base, err := e.Create("base", 1<<20)
	if err != nil {
		return nil, err
	}
	v, err := e.Open(base)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	p := device.Alloc(4096)
	for c := int64(0); c < 200; c++ { // more than a leaf holds
		p[0] = byte(c)
		if _, err := v.WriteAt(p, c*4096); err != nil {
			return nil, err
		}
	}
	s, err := e.Snapshot(base, "snap")
	if err != nil {
		return nil, err
	}
	if _, err := e.CloneMany(s, []string{"c1", "c2", "c3"}); err != nil {
		return nil, err
	}
	for c := int64(0); c < 10; c++ {
		if _, err := v.WriteAt(p, c*8192); err != nil {
			return nil, err
		}
	}
	for i := range 40 { // a two-level volume table
		if _, err := e.Clone(base, fmt.Sprintf("k%d", i)); err != nil {
			return nil, err
		}
	}
	if err := e.Delete(s); err != nil {
		return nil, err
	}
	if err := e.Flush(); err != nil {
		return nil, err
	}
	img := device.Alloc(fuzzDevSize)
	for off := 0; off < len(img); off += 1 << 20 {
		if _, err := dev.ReadAt(img[off:off+1<<20], int64(off)); err != nil {
			return nil, err
		}
	}
	return img, nil
})

// fuzzLayout is the layout of fuzzImage.
func fuzzLayout(tb testing.TB) layout {
	l, err := computeLayout(fuzzDevSize, 4096, 2)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func loadFuzzImage(tb testing.TB) []byte {
	img, err := fuzzImage()
	if err != nil {
		tb.Fatalf("building the seed image: %v", err)
	}
	return img
}

// imageNodes returns the node blocks of the image that pass checkNode, by
// address.
func imageNodes(tb testing.TB) map[uint64][]byte {
	img, l := loadFuzzImage(tb), fuzzLayout(tb)
	out := map[uint64][]byte{}
	for a := uint64(1); a <= l.metaBlocks; a++ {
		b := img[l.nodeOff(a) : l.nodeOff(a)+blockSize]
		if checkNode(b, a, 1<<62) == nil {
			out[a] = b
		}
	}
	return out
}

func reseal(b []byte) {
	if len(b) >= 8 {
		binary.LittleEndian.PutUint32(b[4:], meta.Checksum(b[8:]))
	}
}

// FuzzCheckNode: node validation never panics; an accepted node can be
// searched and its entries decoded, and the volume records in it decode
// without panic.
func FuzzCheckNode(f *testing.F) {
	kinds := map[[2]int]bool{}
	for a, b := range imageNodes(f) {
		k := [2]int{int(nTree(b)), min(nLevel(b), 1)}
		if !kinds[k] {
			kinds[k] = true
			f.Add(bytes.Clone(b), a, nGen(b), uint64(7), false)
		}
	}
	if len(kinds) != 4 {
		f.Fatalf("seed image has node kinds %v, want mapping and volume-table leaves and internal nodes", kinds)
	}
	f.Add(make([]byte, blockSize), uint64(1), uint64(1), uint64(0), true)
	f.Add([]byte("ROWN"), uint64(1), uint64(1), uint64(0), false)
	f.Fuzz(func(t *testing.T, b []byte, addr, maxGen, key uint64, seal bool) {
		if seal {
			reseal(b)
		}
		err := checkNode(b, addr, maxGen)
		if berr := checkNodeBody(b, addr, maxGen); err == nil && berr != nil {
			t.Fatalf("checkNode accepts what checkNodeBody refuses: %v", berr)
		}
		if err != nil {
			if !errors.Is(err, strategies.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		n := nCount(b)
		g := geomOf(b)
		i, found := search(b, key)
		if i < 0 || i > n || (found && nKey(b, i) != key) {
			t.Fatalf("search(%d) = %d, %v in a node of %d entries", key, i, found, n)
		}
		for j := 0; j < n; j++ {
			switch {
			case nLevel(b) > 0:
				_ = nChild(b, childIndex(b, key))
			case nTree(b) == treeMap:
				_ = decodeMapping(nVal(b, g, j))
			default:
				if r, err := decodeVolRecord(nVal(b, g, j)); err == nil {
					var again [volRecSize]byte
					r.encode(again[:])
					if !bytes.Equal(again[:], nVal(b, g, j)) {
						t.Fatalf("volume record %d re-encodes differently", j)
					}
				}
			}
		}
	})
}

// FuzzDecodeVolRecord: a volume record decodes without panic, and one that
// decodes re-encodes to the same bytes.
func FuzzDecodeVolRecord(f *testing.F) {
	seeds := 0
	for _, b := range imageNodes(f) {
		if nTree(b) == treeVol && nLevel(b) == 0 && seeds < 6 {
			for i := 0; i < min(nCount(b), 3); i++ {
				f.Add(bytes.Clone(nVal(b, geoms[treeVol][0], i)))
				seeds++
			}
		}
	}
	f.Add(make([]byte, volRecSize))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeVolRecord(b)
		if err != nil {
			return
		}
		if r.size <= 0 || r.size > maxVolumeSize || len(r.name) == 0 || len(r.name) > strategies.MaxNameLen {
			t.Fatalf("accepted record %+v", r)
		}
		var again [volRecSize]byte
		r.encode(again[:])
		if !bytes.Equal(again[:], b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeCommitRecord: a commit record decodes without panic or an
// allocation beyond its own length, and one that decodes re-encodes to the
// same bytes.
func FuzzDecodeCommitRecord(f *testing.F) {
	img, l := loadFuzzImage(f), fuzzLayout(f)
	dev, err := device.NewMem(fuzzDevSize, device.MemOptions{})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := dev.WriteAt(img[:l.idxOff], 0); err != nil {
		f.Fatal(err)
	}
	rec, err := meta.NewDualSlot(dev, 0, l.slotSize, l.slotSize).Load()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(commitRecord{txn: 1, nextID: 1, lay: l, idxBits: make([]byte, ceilDiv(l.idxPages, 8))}.encode())
	f.Add(rec[:len(rec)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeCommitRecord(b)
		if err != nil {
			if !errors.Is(err, strategies.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(r.idxBits) > len(b) {
			t.Fatalf("%d index bit bytes from a %d-byte record", len(r.idxBits), len(b))
		}
		if got := r.encode(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs")
		}
		_ = r.sameGeometry(l)
	})
}

// FuzzDecodeIdxPage: an index page decodes without panic; every entry it
// accepts names a space-map page it covers, and no more free entries than
// that page holds.
func FuzzDecodeIdxPage(f *testing.F) {
	img, l := loadFuzzImage(f), fuzzLayout(f)
	for slot := range 2 {
		off := l.idxOffOf(0, slot)
		f.Add(bytes.Clone(img[off:off+blockSize]), uint64(0), uint64(1<<20), l.pages(), false)
	}
	f.Add(make([]byte, blockSize), uint64(0), uint64(1), uint64(3000), true)
	f.Fuzz(func(t *testing.T, b []byte, i, maxGen, pages uint64, seal bool) {
		if seal {
			reseal(b)
		}
		entries := func(p uint64) int {
			if p >= pages {
				t.Fatalf("entries(%d) asked beyond %d pages", p, pages)
			}
			if p == pages-1 {
				return int(pages % smPerPage)
			}
			return smPerPage
		}
		err := decodeIdxPage(b, i, maxGen, pages, entries, func(p uint64, st, free uint32) {
			if p >= pages || p/idxPerPage != i {
				t.Fatalf("entry for page %d from index page %d of %d pages", p, i, pages)
			}
			if int(free) > entries(p) || st&^(stCur|stMat) != 0 {
				t.Fatalf("page %d: state %#x free %d", p, st, free)
			}
		})
		if err != nil && !errors.Is(err, strategies.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

// FuzzCheckSMPage: space-map page validation never panics, whatever the
// entry count it is given.
func FuzzCheckSMPage(f *testing.F) {
	img, l := loadFuzzImage(f), fuzzLayout(f)
	for p := range l.pages() {
		for slot := range 2 {
			off := l.pageOff(p, slot)
			b := img[off : off+blockSize]
			if binary.LittleEndian.Uint32(b) == smMagic {
				f.Add(bytes.Clone(b), p, uint64(1<<20), smPerPage, false)
			}
		}
	}
	f.Add(make([]byte, blockSize), uint64(0), uint64(1), 5, true)
	f.Add(make([]byte, blockSize), uint64(0), uint64(1), -1, true)
	f.Fuzz(func(t *testing.T, b []byte, p, maxGen uint64, entries int, seal bool) {
		if seal {
			reseal(b)
		}
		err := checkSMPage(b, p, maxGen, entries)
		if err != nil && !errors.Is(err, strategies.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if err == nil && (len(b) != blockSize || entries < 0 || entries > smPerPage) {
			t.Fatalf("accepted a page of %d bytes with %d entries", len(b), entries)
		}
	})
}

// FuzzComputeLayout: any area, chunk size and metadata share give either an
// error or a layout whose regions are aligned, in order, and inside the
// area.
func FuzzComputeLayout(f *testing.F) {
	f.Add(int64(fuzzDevSize), uint8(0), 2.0)
	f.Add(int64(1<<40), uint8(4), 0.01)
	f.Add(int64(300<<10), uint8(8), 50.0)
	f.Fuzz(func(t *testing.T, area int64, shift uint8, pct float64) {
		chunk := 4096 << (shift % 9) // 4 KiB to 1 MiB, as Options allows
		if area <= 0 || area > 1<<50 {
			return
		}
		l, err := computeLayout(area, chunk, pct)
		if err != nil {
			return
		}
		switch {
		case l.dataOff%l.chunk != 0 || l.metaOff%blockSize != 0 || l.smOff%blockSize != 0 || l.idxOff%blockSize != 0:
			t.Fatalf("unaligned layout %+v", l)
		case !(l.idxOff >= 2*l.slotSize && l.smOff >= l.idxOff && l.metaOff >= l.smOff && l.dataOff >= l.metaOff+int64(l.metaBlocks)*blockSize):
			t.Fatalf("overlapping layout %+v", l)
		case l.dataOff+int64(l.dataChunks)*l.chunk > area || l.dataChunks == 0:
			t.Fatalf("data beyond the area: %+v", l)
		case l.pages() > l.smStride || ceilDiv(l.smStride, idxPerPage) != l.idxPages:
			t.Fatalf("space map does not fit: %+v", l)
		case l.fixedBytes() < 0:
			t.Fatalf("negative fixed bytes: %+v", l)
		}
	})
}

// FuzzOpenImage: an engine image with one 4 KiB metadata block overwritten
// (optionally with a valid checksum) opens or fails with an error; an
// engine that opens survives Check, Volumes, Space and reading every
// volume (every fourth chunk).
func FuzzOpenImage(f *testing.F) {
	img, l := loadFuzzImage(f), fuzzLayout(f)
	blocks := uint32(l.metaOff/blockSize) + uint32(l.metaBlocks)
	kinds := map[[2]int]bool{}
	for a, b := range imageNodes(f) {
		k := [2]int{int(nTree(b)), min(nLevel(b), 1)}
		if kinds[k] {
			continue
		}
		kinds[k] = true
		b = bytes.Clone(b)
		b[nodeHeader] ^= 1 // the first key
		f.Add(uint32(l.nodeOff(a)/blockSize), b, true)
	}
	f.Add(uint32(0), []byte("garbage"), false)
	f.Add(uint32(l.idxOff/blockSize), []byte{}, true)
	f.Add(uint32(l.smOff/blockSize), bytes.Repeat([]byte{0xff}, 64), true)
	f.Fuzz(func(t *testing.T, blk uint32, patch []byte, seal bool) {
		blk %= blocks
		dev, err := device.NewMem(fuzzDevSize, device.MemOptions{})
		if err != nil {
			t.Fatal(err)
		}
		buf := device.Alloc(1 << 20)
		for off := 0; off < len(img); off += len(buf) {
			copy(buf, img[off:])
			if _, err := dev.WriteAt(buf, int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		b := device.Alloc(blockSize)
		copy(b, img[int64(blk)*blockSize:])
		copy(b, patch)
		if seal {
			reseal(b)
		}
		if _, err := dev.WriteAt(b, int64(blk)*blockSize); err != nil {
			t.Fatal(err)
		}
		eng, err := Open(dev, fuzzOpts)
		if err != nil {
			return
		}
		defer eng.Close()
		_ = eng.Check()
		_ = eng.Space()
		r := device.Alloc(4096)
		for _, vi := range eng.Volumes() {
			v, err := eng.Open(vi.ID)
			if err != nil {
				t.Fatalf("open listed volume %q: %v", vi.Name, err)
			}
			for off := int64(0); off < vi.Size; off += 4 * 4096 {
				if _, err := v.ReadAt(r, off); err != nil {
					break
				}
			}
			v.Close()
		}
	})
}
