package strategies

import (
	"errors"

	"github.com/snapbench/snapbench/device"
)

// Sentinel errors shared by every engine. Engines wrap them with %w and a
// message prefixed with the engine name ("cow: delta of snap-3 full").
var (
	// ErrUnsupported: the engine's mechanism does not offer this operation
	// (see Caps). Reports show it as "unsupported", not as a failure.
	ErrUnsupported = errors.New("unsupported by this engine")
	// ErrReadOnly: a write to a snapshot (or another read-only volume).
	// It is device.ErrReadOnly.
	ErrReadOnly = device.ErrReadOnly
	// ErrNoSpace: the device has no room for the operation. Every other
	// volume stays consistent. It is device.ErrNoSpace.
	ErrNoSpace = device.ErrNoSpace
	// ErrNotFound: no volume with that id or name.
	ErrNotFound = errors.New("volume not found")
	// ErrExists: a volume with that name exists.
	ErrExists = errors.New("volume name exists")
	// ErrHasChildren: the volume still has snapshots or clones that depend on
	// it and the engine cannot delete it before them.
	ErrHasChildren = errors.New("volume has dependent snapshots or clones")
	// ErrBusy: the volume is open; close every handle first.
	ErrBusy = errors.New("volume is open")
	// ErrInvalidated: the volume was invalidated by the engine's policy
	// (a classic COW snapshot whose delta area overflowed).
	ErrInvalidated = errors.New("volume invalidated")
	// ErrCorrupt: on-device metadata is damaged or inconsistent.
	ErrCorrupt = errors.New("metadata corrupt")
	// ErrInvalidArgument: a bad name, size, option or engine name. It is
	// device.ErrInvalidArgument.
	ErrInvalidArgument = device.ErrInvalidArgument
	// ErrNoSuperblock: the device does not hold a snapbench superblock.
	ErrNoSuperblock = errors.New("no snapbench superblock on device")
	// ErrClosed: the engine or volume handle was closed. It is
	// device.ErrClosed, so a closed device below matches too.
	ErrClosed = device.ErrClosed
)
