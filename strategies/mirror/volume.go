package mirror

import (
	"fmt"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// handle is an open volume. Reads and writes are safe for concurrent use and
// never take the engine lock.
type handle struct {
	lifecycle.Handle
	v *volume
}

// newHandle opens a handle of v; the caller holds the engine's lock and
// has counted it in v.open.
func newHandle(v *volume) *handle {
	h := &handle{v: v}
	h.Init(fmt.Sprintf("mirror: %q", v.name), nil, lifecycle.Uncount(&v.e.mu, &v.open))
	return h
}

// ID returns the volume's id.
func (h *handle) ID() strategies.VolumeID { return h.v.id }

// Size returns the volume's size in bytes.
func (h *handle) Size() int64 { return h.v.size }

// SectorSize is the device's sector size.
func (h *handle) SectorSize() int { return h.v.e.dev.SectorSize() }

func (h *handle) check(p []byte, off int64) error {
	return h.CheckIO(p, off, h.SectorSize(), 1, h.v.size)
}

// ReadAt reads the volume's own extent: one device read, no lock.
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	v := h.v
	if _, err := v.e.dev.ReadAt(p, v.dataOff()+off); err != nil {
		return 0, fmt.Errorf("mirror: read %q at %d: %w", v.name, off, err)
	}
	return len(p), nil
}

// WriteAt writes in place into the volume's extent and into every attached
// mirror whose chunks are in sync (behind the copy cursor); chunks a mirror
// has not copied yet are left to the copy. It returns when every copy has
// acknowledged the write: 1 + attached mirrors device writes. A paired
// volume (with mirrors or change tracking) first makes the write intent of
// the regions durable (a block write and a flush, once per region between
// flushes) and sets the change bits of the splits that track it or that it
// is.
//
// Concurrent writes to the same sectors of a mirrored volume may leave its
// copies holding different ones of the values, as with md RAID1; like the
// device, the engine promises only that each copy holds one of them.
func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	v := h.v
	if v.kind == strategies.KindSnapshot {
		return 0, fmt.Errorf("mirror: write to %q: %w", v.name, strategies.ErrReadOnly)
	}
	if len(p) == 0 {
		return 0, nil
	}
	e := v.e
	v.rw.RLock()
	defer v.rw.RUnlock()
	at := v.dataOff() + off
	end := at + int64(len(p))
	if v.changed != nil || len(v.trackers) > 0 || len(v.mirrors) > 0 {
		if err := e.intent.acquire(at, end); err != nil {
			return 0, err
		}
		defer e.intent.release(at, end)
	}
	c0, c1 := off/e.chunk, (off+int64(len(p))-1)/e.chunk
	if v.changed != nil {
		v.changed.setRange(c0, c1)
	}
	for _, t := range v.trackers {
		t.changed.setRange(c0, c1)
	}
	if _, err := e.dev.WriteAt(p, at); err != nil {
		return 0, fmt.Errorf("mirror: write %q at %d: %w", v.name, off, err)
	}
	var ferr error
	for _, m := range v.mirrors {
		if err := e.writeMirror(m, p, off, c0, c1); err != nil {
			// The copy may hold part of the write: resync those chunks.
			m.oos.setRange(c0, c1)
			if ferr == nil {
				ferr = fmt.Errorf("mirror: write mirror %d of %q at %d: %w", m.id, v.name, off, err)
			}
		}
	}
	if ferr != nil {
		return 0, ferr
	}
	return len(p), nil
}

// writeMirror copies a base write to mirror m, skipping the chunks m has not
// synchronised yet. The caller holds the source's IO lock shared, so no sync
// step changes m's bits for these chunks meanwhile.
func (e *Engine) writeMirror(m *mirror, p []byte, off, c0, c1 int64) error {
	if !m.oos.anySet(c0, c1) {
		if _, err := e.dev.WriteAt(p, m.dataOff()+off); err != nil {
			return err
		}
		e.st.mirrorWrites.Add(1)
		e.st.mirrorBytes.Add(int64(len(p)))
		return nil
	}
	end := off + int64(len(p))
	for c := c0; c <= c1; {
		if m.oos.test(c) {
			c++
			continue
		}
		r := c
		for r+1 <= c1 && !m.oos.test(r+1) {
			r++
		}
		lo, hi := max(off, c*e.chunk), min(end, (r+1)*e.chunk)
		// part starts a multiple of the sector size into p, which the
		// device has just accepted, so it keeps the device's alignment.
		if _, err := e.dev.WriteAt(p[lo-off:hi-off], m.dataOff()+lo); err != nil {
			return err
		}
		e.st.mirrorWrites.Add(1)
		e.st.mirrorBytes.Add(hi - lo)
		c = r + 1
	}
	return nil
}

// Flush makes the volume's acknowledged writes durable (every volume's: the
// device flush is global).
func (h *handle) Flush() error {
	if err := h.Err(); err != nil {
		return err
	}
	return h.v.e.Flush()
}
