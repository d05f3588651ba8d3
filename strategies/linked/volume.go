package linked

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

const stripes = 16

// volumeOverhead approximates the memory of one volume's state.
const volumeOverhead = 256 + stripes*8

// volume is a volume's metadata and shared IO state (one per volume, shared
// by all its handles).
type volume struct {
	id        strategies.VolumeID
	name      string
	kind      strategies.Kind
	role      uint8
	size      int64
	readOnly  bool
	parentVol strategies.VolumeID
	// link: for a base, its current replica (0: none); for a replica, its
	// base (0 once the base is deleted).
	link strategies.VolumeID
	// replicaClean: the base has not been written since its replica was
	// made, so the next Clone reuses the replica. Cleared, durably, before
	// the first write that follows.
	replicaClean atomic.Bool

	// mu is the IO lock: IO holds it shared; changing d or the chain below
	// it holds it exclusively (with Engine.mu).
	mu sync.RWMutex
	// d is the delta the volume owns: its writable top, or its frozen delta
	// for read-only volumes.
	d *delta
	// first-write locks: allocation of grain g is serialised by stripe g%stripes
	stripe [stripes]sync.Mutex
	open   int // handles; guarded by Engine.mu
}

// handle is an open volume.
type handle struct {
	lifecycle.Handle
	e *Engine
	v *volume
}

// newHandle opens a handle of v; the caller holds e.mu and has counted it
// in v.open.
func newHandle(e *Engine, v *volume) *handle {
	h := &handle{e: e, v: v}
	h.Init(fmt.Sprintf("linked: %q", v.name), &e.closed, lifecycle.Uncount(&e.mu, &v.open))
	return h
}

// Open returns a handle for IO. Internal volumes (replicas, layers) are not
// opened: they come and go with the volumes that depend on them.
func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return nil, fmt.Errorf("linked: %w", strategies.ErrClosed)
	}
	v := e.vols[id]
	if v == nil {
		return nil, fmt.Errorf("linked: volume %d: %w", id, strategies.ErrNotFound)
	}
	if v.role != roleUser {
		return nil, fmt.Errorf("linked: open %s: %w: internal volume", v.name, strategies.ErrInvalidArgument)
	}
	v.open++
	return newHandle(e, v), nil
}

// ID, Size and SectorSize describe the volume; the sector size is the
// device's.
func (h *handle) ID() strategies.VolumeID { return h.v.id }
func (h *handle) Size() int64             { return h.v.size }
func (h *handle) SectorSize() int         { return h.e.geo.sector }

func (h *handle) check(p []byte, off int64) error {
	return h.CheckIO(p, off, h.e.geo.sector, h.e.memAlign, h.v.size)
}

// ReadAt reads through the chain: for each grain, the first delta from the
// top that maps it, else zeros. Runs of grains that are contiguous in the
// pool, on one device (or all zeros), are read in one device IO. Safe for
// concurrent use.
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	e, v := h.e, h.v
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(p), e.readChain(v.d, p, off)
}

// readChain reads p at off of the volume whose top delta is top.
func (e *Engine) readChain(top *delta, p []byte, off int64) error {
	g := e.geo
	mask := int64(g.chunk - 1)
	runStart, runLen := 0, 0 // pending run: p[runStart:runStart+runLen]
	var runDev int64 = -1    // device offset of the run, -1: zeros
	runRep := false          // the run is on the replica device
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		b := p[runStart : runStart+runLen]
		dev := e.dev
		if runRep {
			dev = e.rdev
		}
		if runDev < 0 {
			clear(b)
		} else if _, err := dev.ReadAt(b, runDev); err != nil {
			return fmt.Errorf("linked: read: %w", err)
		}
		return nil
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		in := pos & mask
		n := int(min(int64(g.chunk)-in, int64(len(p)-done)))
		var dev int64 = -1
		rep := false
		if phys := lookup(top, uint32(pos>>g.shift)); phys != 0 {
			dev, rep = g.grainOff(phys)+in, phys > g.nPool
		}
		if runLen > 0 && ((runDev < 0 && dev < 0) || (runDev >= 0 && dev == runDev+int64(runLen) && rep == runRep)) {
			runLen += n
		} else {
			if err := flush(); err != nil {
				return err
			}
			runStart, runLen, runDev, runRep = done, n, dev, rep
		}
		done += n
	}
	return flush()
}

// WriteAt writes to the volume's top delta: in place where the delta
// already maps the grain; otherwise into a new grain, copying the rest of
// the grain from the chain first when the write does not cover it
// (copy-up). New mappings are committed at the next Flush: no data another
// volume can see is ever overwritten. Safe for concurrent use.
func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check(p, off); err != nil {
		return 0, err
	}
	e, v := h.e, h.v
	if v.readOnly {
		return 0, fmt.Errorf("linked: write to %s: %w", v.name, strategies.ErrReadOnly)
	}
	for {
		v.mu.RLock()
		if !v.replicaClean.Load() {
			break
		}
		v.mu.RUnlock()
		if err := e.markReplicaStale(v); err != nil {
			return 0, err
		}
	}
	defer v.mu.RUnlock()
	if err := e.writeTop(v, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (e *Engine) writeTop(v *volume, p []byte, off int64) error {
	g := e.geo
	top := v.d
	mask := int64(g.chunk - 1)
	runStart, runLen := 0, 0
	var runDev int64
	flush := func() error {
		if runLen == 0 {
			return nil
		}
		if _, err := e.dev.WriteAt(p[runStart:runStart+runLen], runDev); err != nil {
			return fmt.Errorf("linked: write: %w", err)
		}
		runLen = 0
		return nil
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		in := pos & mask
		n := int(min(int64(g.chunk)-in, int64(len(p)-done)))
		gi := uint32(pos >> g.shift)
		if phys := top.get(gi) &^ pendingBit; phys != 0 {
			dev := g.grainOff(phys) + in
			if runLen > 0 && dev == runDev+int64(runLen) {
				runLen += n
			} else {
				if err := flush(); err != nil {
					return err
				}
				runStart, runLen, runDev = done, n, dev
			}
		} else {
			if err := flush(); err != nil {
				return err
			}
			if err := e.writeNewGrain(v, top, gi, int(in), p[done:done+n]); err != nil {
				return err
			}
		}
		done += n
	}
	return flush()
}

// writeNewGrain writes data at offset in of grain gi, which top does not
// map yet: a new grain, filled from the chain below where data does not
// cover it, then mapped (pending until the next commit).
func (e *Engine) writeNewGrain(v *volume, top *delta, gi uint32, in int, data []byte) error {
	g := e.geo
	mu := &v.stripe[gi%stripes]
	mu.Lock()
	defer mu.Unlock()
	if phys := top.get(gi) &^ pendingBit; phys != 0 { // mapped by a concurrent writer
		if _, err := e.dev.WriteAt(data, g.grainOff(phys)+int64(in)); err != nil {
			return fmt.Errorf("linked: write: %w", err)
		}
		return nil
	}
	if err := e.ensureTable(top, gi, false); err != nil {
		return fmt.Errorf("linked: write to %s: %w", v.name, err)
	}
	n := e.alloc.alloc(false)
	if n == 0 {
		return fmt.Errorf("linked: write to %s: %w", v.name, strategies.ErrNoSpace)
	}
	var err error
	if len(data) == g.chunk {
		_, err = e.dev.WriteAt(data, g.grainOff(n))
	} else {
		buf := device.GetBuffer(g.chunk)
		if src := lookup(top.parent, gi); src != 0 {
			if _, rerr := e.devOf(src).ReadAt(buf, g.grainOff(src)); rerr != nil {
				err = fmt.Errorf("linked: copy-up read: %w", rerr)
			}
			e.stats.copyups.Add(1)
			e.stats.copyupBytes.Add(int64(g.chunk))
		} else {
			clear(buf)
		}
		if err == nil {
			copy(buf[in:], data)
			_, err = e.dev.WriteAt(buf, g.grainOff(n))
		}
		device.PutBuffer(buf)
	}
	if err != nil {
		e.freeGrain(n, false) // never mapped: nothing refers to it
		return fmt.Errorf("linked: write: %w", err)
	}
	top.set(gi, n|pendingBit)
	top.used.Add(1)
	top.addDirty(gi)
	return nil
}

// Flush makes this volume's acknowledged writes durable: a device flush,
// then its top delta's new mappings, then a second flush; plus a catalog
// commit when a write needed a new grain-table grain.
func (h *handle) Flush() error {
	if err := h.Err(); err != nil {
		return err
	}
	if err := h.e.usable(); err != nil {
		return err
	}
	e, v := h.e, h.v
	v.mu.RLock() // keeps v.d (and its grain tables) from being merged away
	if !v.d.hasNewTables() {
		_, err := e.commitDeltas(false, v.d)
		v.mu.RUnlock()
		return err
	}
	v.mu.RUnlock()
	// A grain table was allocated since the last catalog commit: the
	// catalog must name it, so the commit takes the engine lock (before
	// the IO lock, in lock order). The writes acknowledged before this
	// Flush allocated their tables before it began, so they are in gdNew
	// now or already in a committed catalog.
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	needRoot, err := e.commitDeltas(true, v.d)
	if err != nil || !needRoot {
		return err
	}
	return e.commitRoot()
}
