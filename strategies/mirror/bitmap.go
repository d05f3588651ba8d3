package mirror

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"sync/atomic"

	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// On-device bitmap blocks. Every per-chunk bitmap (a mirror's out-of-sync
// map, a split volume's change map) and the write-intent map are stored as
// 4 KiB blocks:
//
//	[0, 4088)     511 little-endian u64 words; bit c%64 of word c/64 is item c
//	[4088, 4092)  tag (u32): the block's index within its bitmap, or intentTag
//	[4092, 4096)  CRC-32C of bytes [0, 4092)
//
// A block is written whole; after a crash it may be torn (device sectors are
// atomic, 4 KiB blocks need not be), which the checksum reveals. Torn or
// damaged bitmap blocks are recovered conservatively (all bits set: resync
// or recopy everything the block covers), which is always safe because a set
// bit only ever costs a copy.
const (
	blockSize     = 4096
	wordsPerBlock = (blockSize - 8) / 8 // 511
	bitsPerBlock  = wordsPerBlock * 64  // 32704
	blockTagOff   = wordsPerBlock * 8   // 4088
	blockCRCOff   = blockSize - 4       // 4092
)

var (
	errBlockShort    = errors.New("bitmap block truncated")
	errBlockChecksum = errors.New("bitmap block checksum mismatch")
	errBlockTag      = errors.New("bitmap block tag mismatch")
)

// blocksFor is the number of bitmap blocks that hold n bits.
func blocksFor(n int64) int64 { return (n + bitsPerBlock - 1) / bitsPerBlock }

// sealBlock stamps a rendered block with its tag and checksum.
func sealBlock(buf []byte, tag uint32) {
	binary.LittleEndian.PutUint32(buf[blockTagOff:], tag)
	meta.Seal(buf, blockCRCOff)
}

// decodeBlock verifies a block's checksum and tag and fills words (at least
// wordsPerBlock long) with its bits. It never panics.
func decodeBlock(buf []byte, tag uint32, words []uint64) error {
	if len(buf) < blockSize || len(words) < wordsPerBlock {
		return errBlockShort
	}
	if !meta.Sealed(buf, blockCRCOff) {
		return errBlockChecksum
	}
	if binary.LittleEndian.Uint32(buf[blockTagOff:]) != tag {
		return errBlockTag
	}
	for i := 0; i < wordsPerBlock; i++ {
		words[i] = binary.LittleEndian.Uint64(buf[8*i:])
	}
	return nil
}

// chunkBitmap is one bit per chunk of a volume-sized extent, mirrored on the
// device in the extent's bitmap area. Bits are read and changed with atomic
// operations, so IO paths can set them concurrently; dirty has one bit per
// block changed since the block was last written. A bit is always set before
// its block is marked dirty, and a flush takes the dirty mark before it
// renders the block, so a rendered block holds every bit whose dirty mark it
// consumed.
type chunkBitmap struct {
	chunks int64
	words  []uint64 // whole blocks; bits at or past chunks stay 0
	dirty  []uint64
}

func newChunkBitmap(chunks int64) *chunkBitmap {
	nb := blocksFor(chunks)
	return &chunkBitmap{chunks: chunks, words: make([]uint64, nb*wordsPerBlock), dirty: make([]uint64, (nb+63)/64)}
}

func (b *chunkBitmap) blocks() int64 { return int64(len(b.words)) / wordsPerBlock }

// rangeMask is the mask of bits of word w that fall in [c0, c1].
func rangeMask(w, c0, c1 int64) uint64 {
	lo := max(c0, w*64) - w*64
	hi := min(c1, w*64+63) - w*64
	return (^uint64(0) >> (63 - hi)) &^ (1<<lo - 1)
}

func (b *chunkBitmap) test(c int64) bool {
	return atomic.LoadUint64(&b.words[c>>6])&(1<<(c&63)) != 0
}

// setRange sets bits [c0, c1] and marks the blocks that changed dirty.
func (b *chunkBitmap) setRange(c0, c1 int64) {
	for w := c0 >> 6; w <= c1>>6; w++ {
		m := rangeMask(w, c0, c1)
		if atomic.LoadUint64(&b.words[w])&m == m {
			continue
		}
		atomic.OrUint64(&b.words[w], m)
		b.markDirty(w / wordsPerBlock)
	}
}

// clearRange clears bits [c0, c1] and marks the blocks that changed dirty.
func (b *chunkBitmap) clearRange(c0, c1 int64) {
	for w := c0 >> 6; w <= c1>>6; w++ {
		m := rangeMask(w, c0, c1)
		if atomic.LoadUint64(&b.words[w])&m == 0 {
			continue
		}
		atomic.AndUint64(&b.words[w], ^m)
		b.markDirty(w / wordsPerBlock)
	}
}

// anySet reports whether any bit in [c0, c1] is set.
func (b *chunkBitmap) anySet(c0, c1 int64) bool {
	for w := c0 >> 6; w <= c1>>6; w++ {
		if atomic.LoadUint64(&b.words[w])&rangeMask(w, c0, c1) != 0 {
			return true
		}
	}
	return false
}

// nextSet returns the first set bit at or after from, or -1.
func (b *chunkBitmap) nextSet(from int64) int64 {
	if from < 0 {
		from = 0
	}
	if from >= b.chunks {
		return -1
	}
	w := from >> 6
	x := atomic.LoadUint64(&b.words[w]) &^ (1<<(from&63) - 1)
	for {
		if x != 0 {
			c := w*64 + int64(bits.TrailingZeros64(x))
			if c >= b.chunks {
				return -1
			}
			return c
		}
		w++
		if w >= int64(len(b.words)) || w*64 >= b.chunks {
			return -1
		}
		x = atomic.LoadUint64(&b.words[w])
	}
}

// count returns the number of set bits.
func (b *chunkBitmap) count() int64 {
	var n int
	for i := range b.words {
		n += bits.OnesCount64(atomic.LoadUint64(&b.words[i]))
	}
	return int64(n)
}

// setAll sets every chunk's bit.
func (b *chunkBitmap) setAll() {
	if b.chunks > 0 {
		b.setRange(0, b.chunks-1)
	}
}

func (b *chunkBitmap) markDirty(blk int64) {
	atomic.OrUint64(&b.dirty[blk>>6], 1<<(blk&63))
}

func (b *chunkBitmap) isDirty(blk int64) bool {
	return atomic.LoadUint64(&b.dirty[blk>>6])&(1<<(blk&63)) != 0
}

// takeDirtyWord atomically takes (and clears) the dirty marks of blocks
// [64*i, 64*i+64).
func (b *chunkBitmap) takeDirtyWord(i int) uint64 { return atomic.SwapUint64(&b.dirty[i], 0) }

// encodeBlock renders block blk into buf (blockSize bytes).
func (b *chunkBitmap) encodeBlock(blk int64, buf []byte) {
	base := blk * wordsPerBlock
	for i := int64(0); i < wordsPerBlock; i++ {
		binary.LittleEndian.PutUint64(buf[8*i:], atomic.LoadUint64(&b.words[base+i]))
	}
	sealBlock(buf, uint32(blk))
}

// loadBlock installs block blk from its on-device image. A block that does
// not decode, or that has bits past the last chunk, is replaced by all ones
// and marked dirty (the conservative recovery); repaired reports it.
func (b *chunkBitmap) loadBlock(blk int64, buf []byte) (repaired bool) {
	var words [wordsPerBlock]uint64
	err := decodeBlock(buf, uint32(blk), words[:])
	base := blk * wordsPerBlock
	for i := int64(0); i < wordsPerBlock; i++ {
		w := base + i
		valid := b.validMask(w)
		x := words[i]
		if err != nil {
			x = valid
		} else if x&^valid != 0 {
			x &= valid
			repaired = true
		}
		b.words[w] = x
	}
	if err != nil || repaired {
		b.markDirty(blk)
		return true
	}
	return false
}

// validMask is the mask of bits of word w that stand for chunks.
func (b *chunkBitmap) validMask(w int64) uint64 {
	switch {
	case w*64 >= b.chunks:
		return 0
	case (w+1)*64 <= b.chunks:
		return ^uint64(0)
	}
	return 1<<(b.chunks-w*64) - 1
}

// equalBlock compares block blk with decoded words.
func (b *chunkBitmap) equalBlock(blk int64, words []uint64) bool {
	base := blk * wordsPerBlock
	for i := int64(0); i < wordsPerBlock; i++ {
		if atomic.LoadUint64(&b.words[base+i]) != words[i] {
			return false
		}
	}
	return true
}

// memoryBytes is the in-memory size of the bitmap.
func (b *chunkBitmap) memoryBytes() int64 { return int64(8*(len(b.words)+len(b.dirty))) + 48 }
