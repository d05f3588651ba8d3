package cow

import (
	"fmt"
	"math/bits"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// handle is an open volume. ReadAt, WriteAt and Flush are safe for
// concurrent use; alignment is the device's (sector size, buffer address).
type handle struct {
	lifecycle.Handle
	e *Engine
	v *vol
}

// newHandle opens a handle of v; the caller holds e.mu and has counted it
// in v.open.
func newHandle(e *Engine, v *vol) *handle {
	h := &handle{e: e, v: v}
	h.Init(fmt.Sprintf("cow: %q", v.name), &e.closed, lifecycle.Uncount(&e.mu, &v.open))
	return h
}

func (h *handle) ID() strategies.VolumeID { return h.v.id }
func (h *handle) Size() int64             { return h.v.size }
func (h *handle) SectorSize() int         { return h.e.sector }

// Info describes the volume as a device, for stacking engines.
func (h *handle) Info() device.Info {
	return device.Info{Kind: device.KindVolume, Size: h.v.size, LogicalSector: h.e.sector,
		PhysicalSector: h.e.sector, MemAlign: h.e.memAlign}
}

func (h *handle) check(p []byte, off int64) error {
	return h.CheckIO(p, off, h.e.sector, h.e.memAlign, h.v.size)
}

func (h *handle) invalidErr() error {
	return fmt.Errorf("cow: %s %q: %w (its delta overflowed)", h.v.kind, h.v.name, strategies.ErrInvalidated)
}

// ReadAt reads a base in place (one device read), or a snapshot or clone
// through its exception table: chunks it holds from its delta, the others
// from the base; contiguous runs are merged into one device read each.
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	v := h.v
	if v.kind == kindBase {
		if _, err := h.e.dev.ReadAt(p, v.off+off); err != nil {
			return 0, fmt.Errorf("cow: read %q at %d: %w", v.name, off, err)
		}
		return len(p), nil
	}
	if v.d.invalid.Load() {
		return 0, h.invalidErr()
	}
	if err := h.e.readDelta(v, p, off); err != nil {
		return 0, err
	}
	// A concurrent invalidation may have let the base move on under chunks
	// this read took from it: report it rather than return mixed content.
	if v.d.invalid.Load() {
		return 0, h.invalidErr()
	}
	return len(p), nil
}

// WriteAt writes a base in place (after copy-out where needed) or a clone
// into its delta; snapshots are read-only.
func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	v := h.v
	switch v.kind {
	case kindSnapshot:
		return 0, fmt.Errorf("cow: write to snapshot %q: %w", v.name, strategies.ErrReadOnly)
	case kindBase:
		return h.e.writeBase(v, p, off)
	}
	if v.d.invalid.Load() {
		return 0, h.invalidErr()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := h.e.writeClone(v, p, off); err != nil {
		return 0, err
	}
	if v.d.invalid.Load() {
		return 0, h.invalidErr()
	}
	return len(p), nil
}

// Flush makes the volume's acknowledged writes durable: a device flush, and
// for a clone the commit of the exceptions its writes recorded.
func (h *handle) Flush() error {
	if err := h.Err(); err != nil {
		return err
	}
	v := h.v
	if v.d != nil && v.d.invalid.Load() {
		return h.invalidErr()
	}
	if v.kind == kindClone {
		return h.e.flushDeltas([]*delta{v.d})
	}
	return h.e.fl.flush()
}

// ioRun accumulates contiguous pieces of one IO that map to contiguous
// device ranges, so each run costs one device call. A run from the base
// holds the stripes (shared) of its chunks, acquired in ascending order.
type ioRun struct {
	start, end int   // p[start:end]
	dev        int64 // device offset of p[start]
	fromBase   bool
	held       uint64 // stripes read-locked for a base run
}

func (r *ioRun) extends(pos int, dev int64, fromBase bool) bool {
	return r.end > r.start && r.end == pos && r.fromBase == fromBase && r.dev+int64(r.end-r.start) == dev
}

// readDelta reads a snapshot or clone. Per chunk: its slot when the delta
// holds it; otherwise the base chunk, read under the chunk's stripe (shared)
// so that no copy-out can overwrite it meanwhile (the table is checked
// again under the stripe).
func (e *Engine) readDelta(v *vol, p []byte, off int64) error {
	d := v.d
	b := d.base.b
	var r ioRun
	flushRun := func() error {
		var err error
		if r.end > r.start {
			if _, rerr := e.dev.ReadAt(p[r.start:r.end], r.dev); rerr != nil {
				err = fmt.Errorf("cow: read %q at %d: %w", v.name, off+int64(r.start), rerr)
			}
		}
		if r.held != 0 {
			for m := r.held; m != 0; m &= m - 1 {
				b.stripes[bits.TrailingZeros64(m)].RUnlock()
			}
		}
		r = ioRun{}
		return err
	}
	cs := e.geo.chunk
	for pos := 0; pos < len(p); {
		at := off + int64(pos)
		c := uint32(at >> e.geo.shift)
		in := at & (cs - 1)
		n := int(min(cs-in, int64(len(p)-pos)))
		slot, ok := d.lookup(c)
		if !ok {
			si := c % baseStripes
			// A base run may take stripes only in ascending order.
			if !(r.fromBase && r.end == pos && r.held != 0 && r.held>>si == 0) {
				if err := flushRun(); err != nil {
					return err
				}
			}
			b.stripes[si].RLock()
			if slot, ok = d.lookup(c); !ok {
				dev := d.base.off + at
				if !r.extends(pos, dev, true) {
					if err := flushRun(); err != nil {
						b.stripes[si].RUnlock()
						return err
					}
					r = ioRun{start: pos, end: pos, dev: dev, fromBase: true}
				}
				r.held |= 1 << si
				r.end += n
				pos += n
				continue
			}
			b.stripes[si].RUnlock()
		}
		dev := d.dataOff + int64(slot)<<e.geo.shift + in
		if !r.extends(pos, dev, false) {
			if err := flushRun(); err != nil {
				return err
			}
			r = ioRun{start: pos, end: pos, dev: dev}
		}
		r.end += n
		pos += n
	}
	return flushRun()
}

// writeClone writes a clone: chunks its delta holds are written in place
// (contiguous slots merged into one device write); a chunk written for the
// first time gets a new slot (cloneFirstWrite). The new exceptions are
// committed at the next Flush: no shared data is overwritten, so until then
// a crash just loses the unflushed write.
func (e *Engine) writeClone(v *vol, p []byte, off int64) error {
	d := v.d
	var r ioRun
	flushRun := func() error {
		if r.end > r.start {
			if _, err := e.dev.WriteAt(p[r.start:r.end], r.dev); err != nil {
				return fmt.Errorf("cow: write %q at %d: %w", v.name, off+int64(r.start), err)
			}
		}
		r = ioRun{}
		return nil
	}
	cs := e.geo.chunk
	for pos := 0; pos < len(p); {
		at := off + int64(pos)
		c := uint32(at >> e.geo.shift)
		in := at & (cs - 1)
		n := int(min(cs-in, int64(len(p)-pos)))
		slot, ok := d.lookup(c)
		if !ok {
			if err := flushRun(); err != nil {
				return err
			}
			if err := e.cloneFirstWrite(v, c, in, p[pos:pos+n]); err != nil {
				return err
			}
			pos += n
			continue
		}
		dev := d.dataOff + int64(slot)<<e.geo.shift + in
		if !r.extends(pos, dev, false) {
			if err := flushRun(); err != nil {
				return err
			}
			r = ioRun{start: pos, end: pos, dev: dev}
		}
		r.end += n
		pos += n
	}
	return flushRun()
}

// cloneFirstWrite writes seg at offset in of chunk c of a clone whose delta
// lacks the chunk: a new slot receives seg, merged with the base chunk when
// seg is not the whole chunk (read-modify-write). The clone's stripe keeps
// two writers of the clone from both allocating the chunk; the base stripe
// (shared) keeps the base chunk from being copied out and overwritten
// meanwhile. A full delta invalidates the clone.
func (e *Engine) cloneFirstWrite(v *vol, c uint32, in int64, seg []byte) error {
	d := v.d
	b := d.base.b
	cst := &d.cstripes[c%cloneStripes]
	cst.Lock()
	defer cst.Unlock()
	bst := &b.stripes[c%baseStripes]
	bst.RLock()
	defer bst.RUnlock()
	slotOff := func(s uint32) int64 { return d.dataOff + int64(s)<<e.geo.shift }
	if s, ok := d.lookup(c); ok { // another writer got there first
		if _, err := e.dev.WriteAt(seg, slotOff(s)+in); err != nil {
			return fmt.Errorf("cow: write %q: %w", v.name, err)
		}
		return nil
	}
	if d.invalid.Load() {
		return fmt.Errorf("cow: clone %q: %w", v.name, strategies.ErrInvalidated)
	}
	d.mu.Lock()
	s, ok := d.allocLocked()
	d.mu.Unlock()
	if !ok {
		if err := e.invalidate(v); err != nil {
			return err
		}
		return fmt.Errorf("cow: clone %q: %w: its delta of %d chunks is full", v.name, strategies.ErrInvalidated, d.capacity)
	}
	var err error
	if int64(len(seg)) == e.geo.chunk {
		_, err = e.dev.WriteAt(seg, slotOff(s))
	} else {
		buf := device.GetBuffer(int(e.geo.chunk))
		if _, err = e.dev.ReadAt(buf, d.base.off+int64(c)<<e.geo.shift); err == nil {
			copy(buf[in:], seg)
			_, err = e.dev.WriteAt(buf, slotOff(s))
		}
		device.PutBuffer(buf)
		e.stats.cloneMerges.Add(1)
	}
	d.mu.Lock()
	if err != nil {
		d.freeLocked(s)
	} else {
		d.recordLocked(c, s)
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cow: write %q chunk %d: %w", v.name, c, err)
	}
	e.stats.cloneAllocs.Add(1)
	return nil
}
