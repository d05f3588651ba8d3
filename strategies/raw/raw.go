// Package raw is the physical-limit baseline engine: one volume that is the
// device itself (after the superblock and a small metadata area), with no
// snapshots or clones. Its IO path is one bounds check and the device call.
package raw

import (
	"errors"
	"fmt"
	"sync"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/lifecycle"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// Layout of the engine area: two 4 KiB metadata slots at 0 and 4 KiB, then
// data from metaBytes on.
const metaBytes = 1 << 20

func init() {
	strategies.Register(strategies.Factory{
		Order:    10,
		Baseline: true, // the bare device: the physical limit the others are compared with
		Name:     "raw",
		Doc:      "the bare device as one volume, no snapshots or clones: the physical limit",
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

// Engine is the raw engine. Safe for concurrent use.
type Engine struct {
	mu     sync.Mutex
	dev    device.Device
	data   *device.Sub
	slots  *meta.DualSlot
	chunk  int
	nextID strategies.VolumeID
	vol    *volumeRecord // nil: no volume
	open   int           // open handles of vol
	closed bool
}

type volumeRecord struct {
	id   strategies.VolumeID
	name string
	size int64
}

// Validate checks what Format would refuse (options, space for the
// layout) without writing to dev.
func Validate(dev device.Device, opts strategies.Options) error {
	_, err := newEngine(dev, opts)
	return err
}

// Format lays an empty raw engine on dev.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	e.nextID = 1
	if err := e.slots.Format(e.encode()); err != nil {
		return nil, fmt.Errorf("raw: format: %w", err)
	}
	return e, nil
}

// Open reads the engine's metadata from dev.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	rec, err := loadRecord(e.slots)
	if err != nil {
		return nil, err
	}
	if err := e.decode(rec); err != nil {
		return nil, err
	}
	return e, nil
}

func newEngine(dev device.Device, opts strategies.Options) (*Engine, error) {
	if dev.Size() <= metaBytes+int64(opts.ChunkSize) {
		return nil, fmt.Errorf("raw: %w: device area of %d bytes too small", strategies.ErrNoSpace, dev.Size())
	}
	data, err := device.NewSub(dev, metaBytes, dev.Size()-metaBytes)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	return &Engine{dev: dev, data: data, chunk: opts.ChunkSize, slots: meta.NewDualSlot(dev, 0, 4096, 4096)}, nil
}

func (e *Engine) encode() []byte {
	var enc meta.Encoder
	enc.U64(uint64(e.nextID))
	if e.vol == nil {
		enc.U8(0)
	} else {
		enc.U8(1)
		enc.U64(uint64(e.vol.id))
		enc.String(e.vol.name)
		enc.I64(e.vol.size)
	}
	return enc.B
}

func (e *Engine) decode(rec []byte) error {
	d := meta.Decoder{B: rec}
	e.nextID = strategies.VolumeID(d.U64())
	if d.U8() == 1 {
		e.vol = &volumeRecord{id: strategies.VolumeID(d.U64()), name: d.String(strategies.MaxNameLen), size: d.I64()}
	}
	if d.Err() != nil {
		return fmt.Errorf("raw: %w: metadata record: %v", strategies.ErrCorrupt, d.Err())
	}
	return e.checkLocked()
}

func (e *Engine) Name() string          { return "raw" }
func (e *Engine) Caps() strategies.Caps { return strategies.Caps{} }

func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName("raw", name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize("raw", size, e.chunk); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, fmt.Errorf("raw: %w", strategies.ErrClosed)
	}
	if e.vol != nil {
		return 0, fmt.Errorf("raw: a second volume: %w (one volume per device)", strategies.ErrUnsupported)
	}
	if size > e.data.Size() {
		return 0, fmt.Errorf("raw: volume of %d bytes: %w (%d available)", size, strategies.ErrNoSpace, e.data.Size())
	}
	// A new volume reads as zeros: zero the range durably before the
	// record that makes it visible.
	if err := device.Zero(e.data, 0, size); err != nil {
		return 0, fmt.Errorf("raw: create: zero volume: %w", err)
	}
	if err := e.dev.Flush(); err != nil {
		return 0, fmt.Errorf("raw: create: %w", err)
	}
	vol := &volumeRecord{id: e.nextID, name: name, size: size}
	e.vol, e.nextID = vol, e.nextID+1
	if err := e.slots.Commit(e.encode()); err != nil {
		e.vol, e.nextID = nil, e.nextID-1
		return 0, fmt.Errorf("raw: create: %w", err)
	}
	return vol.id, nil
}

func (e *Engine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	return 0, fmt.Errorf("raw: snapshot: %w", strategies.ErrUnsupported)
}

func (e *Engine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	return 0, fmt.Errorf("raw: clone: %w", strategies.ErrUnsupported)
}

func (e *Engine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.vol == nil || e.vol.id != id {
		return fmt.Errorf("raw: volume %d: %w", id, strategies.ErrNotFound)
	}
	if e.open > 0 {
		return fmt.Errorf("raw: delete %q: %w", e.vol.name, strategies.ErrBusy)
	}
	old := e.vol
	e.vol = nil
	if err := e.slots.Commit(e.encode()); err != nil {
		e.vol = old
		return fmt.Errorf("raw: delete: %w", err)
	}
	return nil
}

func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("raw: %w", strategies.ErrClosed)
	}
	if e.vol == nil || e.vol.id != id {
		return nil, fmt.Errorf("raw: volume %d: %w", id, strategies.ErrNotFound)
	}
	e.open++
	v := &volume{e: e, id: id, size: e.vol.size, data: e.data}
	v.Init("raw", nil, lifecycle.Uncount(&e.mu, &e.open))
	return v, nil
}

func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.vol == nil {
		return nil
	}
	return []strategies.VolumeInfo{{ID: e.vol.id, Name: e.vol.name, Kind: strategies.KindBase,
		Size: e.vol.size, Valid: true, PrivateBytes: e.vol.size}}
}

func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spaceLocked()
}

func (e *Engine) spaceLocked() strategies.Space {
	s := strategies.Space{Capacity: e.dev.Size(), Metadata: metaBytes}
	if e.vol != nil {
		s.Data = e.vol.size
	}
	s.Free = s.Capacity - s.Metadata - s.Data
	return s
}

func (e *Engine) Flush() error { return e.dev.Flush() }

func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, err := loadRecord(e.slots)
	if err != nil {
		return err
	}
	disk := &Engine{dev: e.dev, data: e.data, chunk: e.chunk}
	if err := disk.decode(rec); err != nil {
		return err
	}
	if (disk.vol == nil) != (e.vol == nil) || (disk.vol != nil && *disk.vol != *e.vol) || disk.nextID != e.nextID {
		return fmt.Errorf("raw: %w: on-device record differs from memory", strategies.ErrCorrupt)
	}
	return e.checkLocked()
}

func (e *Engine) checkLocked() error {
	var errs []error
	if e.vol != nil {
		if e.vol.id == 0 || e.vol.id >= e.nextID {
			errs = append(errs, fmt.Errorf("volume id %d outside [1,%d)", e.vol.id, e.nextID))
		}
		if e.vol.size <= 0 || e.vol.size > e.data.Size() || e.vol.size%int64(e.chunk) != 0 {
			errs = append(errs, fmt.Errorf("volume size %d invalid for area %d", e.vol.size, e.data.Size()))
		}
	}
	if s := e.spaceLocked(); s.Free < 0 || s.Data+s.Metadata+s.Free != s.Capacity {
		errs = append(errs, fmt.Errorf("space accounting %+v", s))
	}
	if len(errs) > 0 {
		return fmt.Errorf("raw: %w: %v", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("raw: %w", strategies.ErrClosed)
	}
	e.closed = true
	return nil
}

// volume is an open handle: a bounds check and a device call.
type volume struct {
	lifecycle.Handle
	e    *Engine
	id   strategies.VolumeID
	size int64
	data *device.Sub
}

func (v *volume) ID() strategies.VolumeID { return v.id }
func (v *volume) Size() int64             { return v.size }
func (v *volume) SectorSize() int         { return v.data.SectorSize() }

// check is the closed flag and the volume's bounds (the data area may be
// larger); alignment is the device's own check, not repeated here.
func (v *volume) check(p []byte, off int64) error {
	if err := v.Err(); err != nil {
		return err
	}
	if off < 0 || off > v.size || int64(len(p)) > v.size-off {
		return fmt.Errorf("raw: %w: offset %d length %d, volume size %d", device.ErrOutOfRange, off, len(p), v.size)
	}
	return nil
}

func (v *volume) ReadAt(p []byte, off int64) (int, error) {
	if err := v.check(p, off); err != nil {
		return 0, err
	}
	return v.data.ReadAt(p, off)
}

func (v *volume) WriteAt(p []byte, off int64) (int, error) {
	if err := v.check(p, off); err != nil {
		return 0, err
	}
	return v.data.WriteAt(p, off)
}

func (v *volume) Flush() error {
	if err := v.Err(); err != nil {
		return err
	}
	return v.data.Flush()
}

// Info lets device.Describe see through a raw volume to the device below.
func (v *volume) Unwrap() device.Device { return v.data }

// loadRecord reads the newest metadata record: device errors pass through,
// a missing or damaged record is ErrCorrupt.
func loadRecord(slots *meta.DualSlot) ([]byte, error) {
	rec, err := slots.Load()
	switch {
	case errors.Is(err, meta.ErrNoRecord):
		return nil, fmt.Errorf("raw: %w: no valid metadata record", strategies.ErrCorrupt)
	case err != nil:
		return nil, fmt.Errorf("raw: %w", err)
	}
	return rec, nil
}
