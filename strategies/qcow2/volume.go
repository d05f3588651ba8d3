package qcow2

import (
	"fmt"
	"sync"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
)

// served is an open volume: the qemu-nbd serving its top layer, shared by
// every handle of the volume (the engine's handle count says when the last
// one goes). A snapshot or clone of an open volume swaps
// the server for one on the volume's new top layer while holding mu, so IO
// waits for the swap and never sees a half-made chain.
type served struct {
	mu  sync.RWMutex
	srv *server
}

// volume is a handle. ReadAt, WriteAt and Flush are safe for concurrent
// use.
type volume struct {
	lifecycle.Handle
	e        *Engine
	sv       *served
	id       strategies.VolumeID
	size     int64
	sector   int
	readOnly bool
}

func (v *volume) ID() strategies.VolumeID { return v.id }
func (v *volume) Size() int64             { return v.size }
func (v *volume) SectorSize() int         { return v.sector }

func (v *volume) check(p []byte, off int64) error {
	return v.CheckIO(p, off, v.sector, 1, v.size)
}

func (v *volume) ReadAt(p []byte, off int64) (int, error) {
	if err := v.check(p, off); err != nil {
		return 0, err
	}
	v.sv.mu.RLock()
	defer v.sv.mu.RUnlock()
	if v.sv.srv == nil {
		return 0, fmt.Errorf("qcow2: volume %d: %w", v.id, strategies.ErrClosed)
	}
	n, err := v.sv.srv.client.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("qcow2: read volume %d: %w", v.id, err)
	}
	return n, nil
}

func (v *volume) WriteAt(p []byte, off int64) (int, error) {
	if err := v.check(p, off); err != nil {
		return 0, err
	}
	if v.readOnly {
		return 0, fmt.Errorf("qcow2: volume %d: %w", v.id, strategies.ErrReadOnly)
	}
	v.sv.mu.RLock()
	defer v.sv.mu.RUnlock()
	if v.sv.srv == nil {
		return 0, fmt.Errorf("qcow2: volume %d: %w", v.id, strategies.ErrClosed)
	}
	n, err := v.sv.srv.client.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("qcow2: write volume %d: %w", v.id, err)
	}
	return n, nil
}

// Flush sends NBD_CMD_FLUSH: qemu flushes its caches and fdatasyncs the
// image.
func (v *volume) Flush() error {
	if err := v.Err(); err != nil {
		return err
	}
	v.sv.mu.RLock()
	defer v.sv.mu.RUnlock()
	if v.sv.srv == nil {
		return fmt.Errorf("qcow2: volume %d: %w", v.id, strategies.ErrClosed)
	}
	if err := v.sv.srv.client.Flush(); err != nil {
		return fmt.Errorf("qcow2: flush volume %d: %w", v.id, err)
	}
	return nil
}
