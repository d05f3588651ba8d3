package rbd

import (
	"fmt"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// sectorSize is the IO alignment the engine asks of its callers; librbd
// itself takes any byte range.
const sectorSize = 512

// volume is an open image (or, read-only, an image's snapshot) through its
// own librbd handle. ReadAt and WriteAt are safe for concurrent use: each
// call is one synchronous librbd request on the caller's thread, so the
// queue depth is the number of goroutines calling.
type volume struct {
	lifecycle.Handle
	e        *Engine
	id       strategies.VolumeID
	im       *image
	size     int64
	readOnly bool
}

func (v *volume) ID() strategies.VolumeID { return v.id }
func (v *volume) Size() int64             { return v.size }
func (v *volume) SectorSize() int         { return sectorSize }

func (v *volume) check(p []byte, off int64) error {
	return v.CheckIO(p, off, sectorSize, 1, v.size)
}

func (v *volume) ReadAt(p []byte, off int64) (int, error) {
	if err := v.check(p, off); err != nil {
		return 0, err
	}
	n, err := v.im.readAt(p, off)
	if err == nil && n < len(p) {
		err = fmt.Errorf("rbd: short read of %d bytes at %d: %d", len(p), off, n)
	}
	if err != nil {
		return n, fmt.Errorf("rbd: %w", err)
	}
	return n, nil
}

func (v *volume) WriteAt(p []byte, off int64) (int, error) {
	if v.readOnly {
		return 0, fmt.Errorf("rbd: write to snapshot volume %d: %w", v.id, strategies.ErrReadOnly)
	}
	if err := v.check(p, off); err != nil {
		return 0, err
	}
	n, err := v.im.writeAt(p, off)
	if err == nil && n < len(p) {
		err = fmt.Errorf("rbd: short write of %d bytes at %d: %d", len(p), off, n)
	}
	if err != nil {
		return n, fmt.Errorf("rbd: %w", err)
	}
	return n, nil
}

// Flush waits for this handle's writes in flight (rbd_flush).
func (v *volume) Flush() error {
	if err := v.Err(); err != nil {
		return err
	}
	if v.readOnly {
		return nil
	}
	if err := v.im.flush(); err != nil {
		return fmt.Errorf("rbd: %w", err)
	}
	return nil
}
