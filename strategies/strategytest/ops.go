package strategytest

import (
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// step performs one random operation, checks its outcome against the model
// and the listing, and returns the first discrepancy.
func (h *harness) step() error {
	var err error
	switch r := h.rng.IntN(100); {
	case r < 8 || len(h.m.names) == 0:
		err = h.opCreate()
	case r < 40:
		err = h.opWrite()
	case r < 58:
		err = h.opRead()
	case r < 66:
		err = h.opCopy(strategies.KindSnapshot)
	case r < 74:
		err = h.opCopy(strategies.KindClone)
	case r < 81:
		err = h.opDelete()
	case r < 87:
		err = h.opFlushVolume()
	case r < 91:
		h.logf("flush engine")
		if err = h.eng.Flush(); err == nil {
			h.m.flushAll()
		}
		err = crashed(err, pendingOp{kind: "flush"})
	case r < 95:
		h.logf("reopen")
		err = h.reopen()
	default:
		h.logf("check")
		if err = h.eng.Check(); err != nil {
			err = crashed(fmt.Errorf("engine.Check: %w", err), pendingOp{kind: "check"})
		}
	}
	if err != nil {
		return err
	}
	return h.verifyListing()
}

func (h *harness) opCreate() error {
	name := h.newName()
	size := h.cfg.volSize(1 + h.rng.IntN(h.cfg.MaxVolumeChunks))
	h.logf("create %s size %d", name, size)
	id, err := h.eng.Create(name, size)
	if err := crashed(err, pendingOp{kind: "create", name: name, content: make([]byte, size)}); err != nil {
		var c *errCrashed
		if errors.As(err, &c) {
			return err
		}
	}
	switch {
	case !h.caps.MultiVolume && len(h.m.names) > 0:
		if !errors.Is(err, strategies.ErrUnsupported) {
			return fmt.Errorf("second Create on a single-volume engine: got %v, want ErrUnsupported", err)
		}
		return nil
	case errors.Is(err, strategies.ErrNoSpace):
		return nil
	case err != nil:
		return fmt.Errorf("create %s: %w", name, err)
	}
	h.m.add(newMVol(name, id, strategies.KindBase, size))
	return nil
}

// writeRange picks a sector-aligned range of one sector to two chunks.
func (h *harness) pickRange(v *mvol) (int64, int) {
	sec := int64(h.cfg.SectorSize)
	sectors := v.size / sec
	n := 1 + h.rng.Int64N(min(sectors, 2*int64(h.cfg.Options.ChunkSize)/sec))
	if h.rng.IntN(4) == 0 { // often a whole, aligned chunk
		cs := int64(h.cfg.Options.ChunkSize) / sec
		c := h.rng.Int64N(sectors / cs)
		return c * cs * sec, int(cs * sec)
	}
	off := h.rng.Int64N(sectors-n+1) * sec
	return off, int(n * sec)
}

func (h *harness) opWrite() error {
	v := h.pick()
	off, n := h.pickRange(v)
	data := h.randomData(n)
	h.logf("write %s off %d len %d", v.name, off, n)
	hv, err := h.handle(v)
	if err != nil {
		return fmt.Errorf("open %s: %w", v.name, err)
	}
	if !v.readOnly && !v.invalid {
		h.m.write(v, off, data) // before the call: a crash leaves it ambiguous
	}
	_, err = hv.WriteAt(data, off)
	if err := crashed(err, pendingOp{kind: "write", name: v.name}); err != nil {
		var c *errCrashed
		if errors.As(err, &c) {
			return err
		}
	}
	switch {
	case v.readOnly:
		if !errors.Is(err, strategies.ErrReadOnly) {
			return fmt.Errorf("write to snapshot %s: got %v, want ErrReadOnly", v.name, err)
		}
	case v.invalid:
		if !errors.Is(err, strategies.ErrInvalidated) {
			return fmt.Errorf("write to invalidated %s: got %v, want ErrInvalidated", v.name, err)
		}
	case errors.Is(err, strategies.ErrNoSpace) || errors.Is(err, strategies.ErrInvalidated):
		// Out of space (or the write invalidated this very volume): each
		// sector is old or new; adopt what the engine holds.
		if errors.Is(err, strategies.ErrInvalidated) {
			v.invalid = true
			return nil
		}
		got := device.Alloc(n)
		if _, rerr := hv.ReadAt(got, off); rerr != nil {
			return fmt.Errorf("read back after ErrNoSpace: %w", rerr)
		}
		copy(v.cur[off:], got)
	case err != nil:
		return fmt.Errorf("write %s off %d len %d: %w", v.name, off, n, err)
	}
	return nil
}

func (h *harness) opRead() error {
	v := h.pick()
	off, n := h.pickRange(v)
	h.logf("read %s off %d len %d", v.name, off, n)
	hv, err := h.handle(v)
	if err != nil {
		return fmt.Errorf("open %s: %w", v.name, err)
	}
	buf := device.Alloc(n)
	_, err = hv.ReadAt(buf, off)
	if v.invalid {
		if !errors.Is(err, strategies.ErrInvalidated) {
			return fmt.Errorf("read of invalidated %s: got %v, want ErrInvalidated", v.name, err)
		}
		return nil
	}
	if err != nil {
		return crashed(fmt.Errorf("read %s off %d len %d: %w", v.name, off, n, err), pendingOp{kind: "read", name: v.name})
	}
	return h.m.checkExact(v, off, buf)
}

func (h *harness) opCopy(kind strategies.Kind) error {
	src := h.pick()
	name := h.newName()
	h.logf("%s %s of %s", kind, name, src.name)
	var id strategies.VolumeID
	var err error
	if kind == strategies.KindSnapshot {
		id, err = h.eng.Snapshot(src.id, name)
	} else {
		id, err = h.eng.Clone(src.id, name)
	}
	content := append([]byte(nil), src.cur...)
	if err := crashed(err, pendingOp{kind: kind.String(), name: name, src: src.name, content: content}); err != nil {
		var c *errCrashed
		if errors.As(err, &c) {
			return err
		}
	}
	supported := (kind == strategies.KindSnapshot && h.caps.Snapshot) || (kind == strategies.KindClone && h.caps.Clone)
	switch {
	case !supported || (src.kind != strategies.KindBase && !h.caps.Nested):
		if !errors.Is(err, strategies.ErrUnsupported) {
			return fmt.Errorf("%s of %s %s: got %v, want ErrUnsupported", kind, src.kind, src.name, err)
		}
		return nil
	case src.invalid:
		if err == nil {
			return fmt.Errorf("%s of invalidated %s succeeded", kind, src.name)
		}
		return nil
	case errors.Is(err, strategies.ErrNoSpace):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s of %s: %w", kind, name, src.name, err)
	}
	h.m.add(h.m.copyOf(src, name, id, kind))
	return nil
}

func (h *harness) opDelete() error {
	v := h.pick()
	h.logf("delete %s (%s, %d children)", v.name, v.kind, h.m.children(v.name))
	if err := h.closeHandle(v.name); err != nil {
		return fmt.Errorf("close %s: %w", v.name, err)
	}
	err := h.eng.Delete(v.id)
	if err := crashed(err, pendingOp{kind: "delete", name: v.name}); err != nil {
		var c *errCrashed
		if errors.As(err, &c) {
			return err
		}
	}
	if h.m.children(v.name) > 0 && !h.caps.DeleteParent {
		if !errors.Is(err, strategies.ErrHasChildren) {
			return fmt.Errorf("delete of %s with children: got %v, want ErrHasChildren", v.name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", v.name, err)
	}
	h.m.remove(v.name)
	return nil
}

func (h *harness) opFlushVolume() error {
	v := h.pick()
	h.logf("flush %s", v.name)
	hv, err := h.handle(v)
	if err != nil {
		return fmt.Errorf("open %s: %w", v.name, err)
	}
	if err := hv.Flush(); err != nil {
		if v.invalid && errors.Is(err, strategies.ErrInvalidated) {
			return nil
		}
		return crashed(fmt.Errorf("flush %s: %w", v.name, err), pendingOp{kind: "flush", name: v.name})
	}
	h.m.makeDurable(v)
	return nil
}
