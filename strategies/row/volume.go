package row

import (
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// handle is an open volume. ReadAt and WriteAt are safe for concurrent use
// and hold no engine-wide lock exclusively: IO on different volumes, and
// IO on one volume that does not change its tree, proceeds in parallel.
type handle struct {
	lifecycle.Handle
	e *Engine
	v *volState
}

// newHandle opens a handle of v; the caller has counted it in v.open.
func newHandle(e *Engine, v *volState) *handle {
	h := &handle{e: e, v: v}
	h.Init(fmt.Sprintf("row: volume %q", v.name), nil, func() error { v.open.Add(-1); return nil })
	return h
}

// ID returns the volume's id.
func (h *handle) ID() strategies.VolumeID { return h.v.id }

// Size returns the volume's size in bytes.
func (h *handle) Size() int64 { return h.v.size }

// SectorSize is the device's sector size.
func (h *handle) SectorSize() int { return h.e.sector }

// Info describes the volume as a device, so engines can be stacked.
func (h *handle) Info() device.Info {
	return device.Info{Kind: device.KindVolume, Size: h.v.size, LogicalSector: h.e.sector,
		PhysicalSector: h.e.sector, MemAlign: h.e.memAlign, DirectIO: device.Describe(h.e.dev).DirectIO}
}

// Flush commits the engine's open transaction: this volume's writes (and
// every other volume's) are durable on return.
func (h *handle) Flush() error {
	if err := h.Err(); err != nil {
		return err
	}
	return h.e.Flush()
}

func (h *handle) check(p []byte, off int64) error {
	return h.CheckIO(p, off, h.e.sector, h.e.memAlign, h.v.size)
}

// ReadAt reads p at off: per chunk, one tree lookup (through the node
// cache) and one device read, or zeros where nothing was ever written.
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	e, v := h.e, h.v
	e.mu.RLock()
	defer e.mu.RUnlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	c := e.lay.chunk
	for done := 0; done < len(p); {
		pos := off + int64(done)
		in := pos % c
		n := int(min(int64(len(p)-done), c-in))
		seg := p[done : done+n]
		v.mu.RLock()
		m, found, _, err := e.lookup(v.root, uint64(pos/c))
		v.mu.RUnlock()
		if err != nil {
			return done, fmt.Errorf("row: read %q at %d: %w", v.name, pos, err)
		}
		if !found {
			clear(seg)
		} else if _, err := e.dev.ReadAt(seg, e.lay.chunkOff(m.chunk)+in); err != nil {
			return done, fmt.Errorf("row: read %q at %d: %w", v.name, pos, err)
		}
		done += n
	}
	return len(p), nil
}

// WriteAt writes p at off, chunk by chunk (see writeChunk). When the pool
// is full it makes room (a commit that releases this transaction's frees,
// then, with expire-snapshots-on-full, the oldest snapshots) and retries;
// failing that it returns ErrNoSpace, with each chunk either old or new.
func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	e, v := h.e, h.v
	if v.kind == strategies.KindSnapshot {
		return 0, fmt.Errorf("row: write to snapshot %q: %w", v.name, strategies.ErrReadOnly)
	}
	done := 0
	for done < len(p) {
		n, err := e.writeSome(v, p[done:], off+int64(done))
		done += n
		if err == nil {
			continue
		}
		if !errors.Is(err, strategies.ErrNoSpace) {
			return done, err
		}
		ok, rerr := e.makeRoom()
		if rerr != nil {
			return done, rerr
		}
		if !ok {
			return done, err
		}
	}
	return done, nil
}

// writeSome writes as much of p as it can under one shared hold of e.mu.
func (e *Engine) writeSome(v *volState, p []byte, off int64) (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	c := e.lay.chunk
	for done := 0; done < len(p); {
		pos := off + int64(done)
		in := pos % c
		n := int(min(int64(len(p)-done), c-in))
		if err := e.writeChunk(v, uint64(pos/c), in, p[done:done+n]); err != nil {
			return done, fmt.Errorf("row: write %q at %d: %w", v.name, pos, err)
		}
		done += n
	}
	return len(p), nil
}

// writeChunk writes data at offset in of logical chunk l.
//
// The sharing rule (as dm-thin's): a mapping written after the volume's last
// snapshot or clone (gen > snapGen) points to a chunk that only this volume
// references, now and in the last commit, so the write goes in place with
// no metadata change. Otherwise (unmapped, or possibly shared) the data goes
// to a newly allocated chunk; a partial write first copies the rest of the
// old chunk (or zeros) there, the read-modify-write. The new mapping is
// installed under the volume's tree lock, after the data write completed:
// a lookup that raced with another writer of the same chunk is detected
// and retried.
func (e *Engine) writeChunk(v *volState, l uint64, in int64, data []byte) error {
	for {
		v.mu.RLock()
		m, found, _, err := e.lookup(v.root, l)
		v.mu.RUnlock()
		if err != nil {
			return err
		}
		if found && m.gen > v.snapGen {
			if _, err := e.dev.WriteAt(data, e.lay.chunkOff(m.chunk)+in); err != nil {
				return err
			}
			e.st.inPlace.Add(1)
			return nil
		}
		done, err := e.redirect(v, l, in, data, m, found)
		if done || err != nil {
			return err
		}
		e.st.raceRetries.Add(1)
	}
}

// redirect writes data to a new chunk and installs it in place of old. It
// returns false when the mapping changed meanwhile (the caller retries).
func (e *Engine) redirect(v *volState, l uint64, in int64, data []byte, old mapping, found bool) (bool, error) {
	c := e.lay.chunk
	x, err := e.sm.alloc(dataMap)
	if err != nil {
		return false, err
	}
	whole := in == 0 && int64(len(data)) == c
	if whole {
		_, err = e.dev.WriteAt(data, e.lay.chunkOff(x))
	} else {
		buf := device.GetBuffer(int(c))
		if found {
			_, err = e.dev.ReadAt(buf, e.lay.chunkOff(old.chunk))
			e.st.cowCopies.Add(1)
		} else {
			clear(buf)
			e.st.zeroFills.Add(1)
		}
		if err == nil {
			copy(buf[in:], data)
			_, err = e.dev.WriteAt(buf, e.lay.chunkOff(x))
		}
		device.PutBuffer(buf)
	}
	if err != nil {
		if uerr := e.sm.unalloc(dataMap, x); uerr != nil {
			return false, e.fail(uerr)
		}
		return false, err
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	m2, found2, levels, err := e.lookup(v.root, l)
	if err == nil && (found2 != found || m2 != old) {
		err = errRaced
	}
	var r resv
	if err == nil {
		r, err = e.sm.reserve(int64(2*levels + 3))
	}
	if err == nil && !v.recDirty && !v.isNew {
		if err = e.sm.vtGrow(1, 0, false); err != nil {
			e.sm.release(&r)
		}
	}
	if err != nil {
		if uerr := e.sm.unalloc(dataMap, x); uerr != nil {
			return false, e.fail(uerr)
		}
		if err == errRaced {
			return false, nil
		}
		return false, err
	}
	e.markRec(v)
	e.dirty.Store(true)
	var val [mapValSize]byte
	mapping{chunk: x, gen: e.txn}.encode(val[:])
	o := treeOp{e: e, tree: treeMap, r: &r}
	err = o.set(&v.root, l, val[:], !found)
	if err == nil && found {
		_, err = e.sm.adjust(dataMap, []uint64{old.chunk}, -1)
	}
	e.sm.release(&r)
	if err != nil {
		return false, e.fail(err)
	}
	e.st.chunksAllocated.Add(1)
	if found {
		e.st.cowRemaps.Add(1)
	}
	return true, nil
}

var errRaced = errors.New("row: mapping changed during copy-on-write")
