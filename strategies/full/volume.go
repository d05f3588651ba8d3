package full

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// volume is one volume's in-memory state.
type volume struct {
	e      *Engine
	id     strategies.VolumeID
	parent strategies.VolumeID
	kind   strategies.Kind
	name   string
	size   int64
	ext    int64 // extent start: bitmap, then data
	bmLen  int64
	open   int // guarded by e.mu
	slot   int // volume-table record slot, guarded by e.mu

	// rw: IO holds it shared; copying the volume holds it exclusively.
	rw sync.RWMutex
	// first serialises first writes to chunks (zero-fill and bit setting)
	// and guards dirty.
	first   sync.Mutex
	written []uint64 // one bit per chunk, read atomically on the fast path
	dirty   []uint64 // one bit per bitmap block changed since last persisted
}

func (e *Engine) newVolume(r record) *volume {
	chunks := (r.size + e.chunk - 1) / e.chunk
	bm := e.bitmapLen(r.size)
	return &volume{e: e, id: r.id, parent: r.parent, kind: r.kind, name: r.name, size: r.size, ext: r.ext, slot: r.slot,
		bmLen: bm, written: make([]uint64, (chunks+63)/64), dirty: make([]uint64, (bm/bitmapBlock+63)/64)}
}

// record is v's volume-table entry.
func (v *volume) record() record {
	return record{id: v.id, parent: v.parent, kind: v.kind, size: v.size, ext: v.ext, name: v.name, slot: v.slot}
}

func (v *volume) extentLen() int64 { return v.bmLen + v.size }
func (v *volume) dataOff() int64   { return v.ext + v.bmLen }

func (v *volume) isWritten(c int64) bool {
	return atomic.LoadUint64(&v.written[c/64])&(1<<(c%64)) != 0
}

// setWritten sets chunk c's bit and marks its bitmap block dirty. Caller
// holds v.first.
func (v *volume) setWritten(c int64) {
	w := &v.written[c/64]
	atomic.StoreUint64(w, atomic.LoadUint64(w)|1<<(c%64))
	v.markDirtyLocked(c / (8 * bitmapBlock))
}

func (v *volume) markDirtyLocked(block int64) {
	v.dirty[block/64] |= 1 << (block % 64)
	v.e.noteDirty(v)
}

func (v *volume) markDirty(block int64) {
	v.first.Lock()
	v.markDirtyLocked(block)
	v.first.Unlock()
}

// bitmapWrite is a captured bitmap block waiting to be written.
type bitmapWrite struct {
	v     *volume
	block int64
	off   int64
	buf   []byte
}

// blockBytes renders bitmap block b (little-endian words, bit c%64 of word
// c/64 is chunk c).
func (v *volume) blockBytes(b int64, buf []byte) {
	clear(buf)
	words := bitmapBlock / 8
	for i := 0; i < words; i++ {
		wi := int(b)*words + i
		if wi >= len(v.written) {
			break
		}
		binary.LittleEndian.PutUint64(buf[8*i:], atomic.LoadUint64(&v.written[wi]))
	}
}

// takeDirty appends a capture of every dirty bitmap block and clears the
// dirty marks, in block order.
func (v *volume) takeDirty(out []bitmapWrite) []bitmapWrite {
	v.first.Lock()
	defer v.first.Unlock()
	for wi, word := range v.dirty {
		for word != 0 {
			bit := int64(trailingZeros(word))
			word &^= 1 << bit
			b := int64(wi)*64 + bit
			buf := device.GetBuffer(bitmapBlock)
			v.blockBytes(b, buf)
			out = append(out, bitmapWrite{v: v, block: b, off: v.ext + b*bitmapBlock, buf: buf})
		}
		v.dirty[wi] = 0
	}
	return out
}

func trailingZeros(x uint64) int {
	n := 0
	for x&1 == 0 {
		x >>= 1
		n++
	}
	return n
}

// writeWholeBitmap writes every bitmap block (a new copy's bitmap).
func (v *volume) writeWholeBitmap() error {
	buf := device.GetBuffer(bitmapBlock)
	defer device.PutBuffer(buf)
	for b := int64(0); b*bitmapBlock < v.bmLen; b++ {
		v.blockBytes(b, buf)
		if _, err := v.e.dev.WriteAt(buf, v.ext+b*bitmapBlock); err != nil {
			return fmt.Errorf("full: write bitmap: %w", err)
		}
	}
	return nil
}

// loadBitmap reads the volume's bitmap from the device.
func (v *volume) loadBitmap() error {
	buf := device.GetBuffer(bitmapBlock)
	defer device.PutBuffer(buf)
	words := bitmapBlock / 8
	for b := int64(0); int(b)*words < len(v.written); b++ {
		if _, err := v.e.dev.ReadAt(buf, v.ext+b*bitmapBlock); err != nil {
			return fmt.Errorf("full: read bitmap of %q: %w", v.name, err)
		}
		for i := 0; i < words && int(b)*words+i < len(v.written); i++ {
			v.written[int(b)*words+i] = binary.LittleEndian.Uint64(buf[8*i:])
		}
	}
	// Bits past the last chunk are meaningless: clear them.
	chunks := v.size / v.e.chunk
	if r := chunks % 64; r != 0 {
		v.written[len(v.written)-1] &= 1<<r - 1
	}
	return nil
}

// handle is an open volume.
type handle struct {
	lifecycle.Handle
	v *volume
}

// newHandle opens a handle of v; the caller holds the engine's lock and
// has counted it in v.open.
func newHandle(v *volume) *handle {
	h := &handle{v: v}
	h.Init(fmt.Sprintf("full: %q", v.name), nil, lifecycle.Uncount(&v.e.mu, &v.open))
	return h
}

func (h *handle) ID() strategies.VolumeID { return h.v.id }
func (h *handle) Size() int64             { return h.v.size }
func (h *handle) SectorSize() int         { return h.v.e.dev.SectorSize() }

func (h *handle) check(p []byte, off int64) error {
	return h.CheckIO(p, off, h.SectorSize(), 1, h.v.size)
}

// ReadAt reads written chunks from the extent and zeros for the others.
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	v := h.v
	v.rw.RLock()
	defer v.rw.RUnlock()
	chunk := v.e.chunk
	for done := int64(0); done < int64(len(p)); {
		pos := off + done
		c := pos / chunk
		state := v.isWritten(c)
		end := (c + 1) * chunk
		for end < off+int64(len(p)) && v.isWritten(end/chunk) == state {
			end += chunk
		}
		end = min(end, off+int64(len(p)))
		seg := p[done : end-off]
		if state {
			if _, err := v.e.dev.ReadAt(seg, v.dataOff()+pos); err != nil {
				return int(done), fmt.Errorf("full: read: %w", err)
			}
		} else {
			clear(seg)
		}
		done = end - off
	}
	return len(p), nil
}

// WriteAt writes in place. A chunk's first write zero-fills the rest of the
// chunk (its extent space holds stale data) and sets its written bit.
func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	v := h.v
	if v.kind == strategies.KindSnapshot {
		return 0, fmt.Errorf("full: write to %q: %w", v.name, strategies.ErrReadOnly)
	}
	v.rw.RLock()
	defer v.rw.RUnlock()
	chunk := v.e.chunk
	first, last := off/chunk, (off+int64(len(p))-1)/chunk
	all := true
	for c := first; c <= last && all; c++ {
		all = v.isWritten(c)
	}
	if all {
		if _, err := v.e.dev.WriteAt(p, v.dataOff()+off); err != nil {
			return 0, fmt.Errorf("full: write: %w", err)
		}
		return len(p), nil
	}
	v.first.Lock()
	defer v.first.Unlock()
	for c := first; c <= last; c++ {
		lo, hi := max(off, c*chunk), min(off+int64(len(p)), (c+1)*chunk)
		part := p[lo-off : hi-off]
		if v.isWritten(c) || hi-lo == chunk {
			if _, err := v.e.dev.WriteAt(part, v.dataOff()+lo); err != nil {
				return 0, fmt.Errorf("full: write: %w", err)
			}
		} else {
			buf := device.GetBuffer(int(chunk))
			clear(buf)
			copy(buf[lo-c*chunk:], part)
			_, err := v.e.dev.WriteAt(buf, v.dataOff()+c*chunk)
			device.PutBuffer(buf)
			if err != nil {
				return 0, fmt.Errorf("full: write: %w", err)
			}
		}
		if !v.isWritten(c) {
			v.setWritten(c)
		}
	}
	return len(p), nil
}

// Flush makes the volume's acknowledged writes durable (all volumes', in
// fact: the device flush is global).
func (h *handle) Flush() error {
	if err := h.Err(); err != nil {
		return err
	}
	return h.v.e.Flush()
}
