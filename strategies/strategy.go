package strategies

import (
	"fmt"

	"github.com/snapbench/snapbench/device"
)

// VolumeID identifies a volume within one engine instance. IDs are assigned
// by the engine, never reused within a device's lifetime, and persist across
// reopen. 0 is never a valid id.
type VolumeID uint64

// NoVolume is the zero VolumeID: "no parent".
const NoVolume VolumeID = 0

// Kind is what a volume is.
type Kind uint8

const (
	KindBase     Kind = iota + 1 // created empty with Create
	KindSnapshot                 // read-only point-in-time copy
	KindClone                    // writable point-in-time copy
	KindInternal                 // made by the engine for its own use (a linked replica); not created by the user
)

func (k Kind) String() string {
	switch k {
	case KindBase:
		return "base"
	case KindSnapshot:
		return "snapshot"
	case KindClone:
		return "clone"
	case KindInternal:
		return "internal"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Caps says which operations an engine's mechanism supports. An operation
// outside them fails with an error wrapping ErrUnsupported.
type Caps struct {
	Snapshot     bool `json:"snapshot"`      // Snapshot of a base
	Clone        bool `json:"clone"`         // Clone of a base
	Nested       bool `json:"nested"`        // Snapshot/Clone of a snapshot or clone
	DeleteParent bool `json:"delete_parent"` // Delete a volume that still has snapshots or clones
	MultiVolume  bool `json:"multi_volume"`  // more than one base volume
	Thin         bool `json:"thin"`          // space is allocated on write, not at create
}

// VolumeInfo describes one volume.
type VolumeInfo struct {
	ID       VolumeID `json:"id"`
	Name     string   `json:"name"`
	Parent   VolumeID `json:"parent,omitempty"` // the volume it was snapshotted or cloned from (NoVolume if none, or if deleted)
	Kind     Kind     `json:"kind"`
	Size     int64    `json:"size"`
	ReadOnly bool     `json:"read_only"`
	Valid    bool     `json:"valid"` // false once invalidated (ErrInvalidated)
	// PrivateBytes is the device space held by this volume alone: freed if
	// it alone were deleted (data chunks, delta areas, exception tables).
	PrivateBytes int64 `json:"private_bytes"`
}

// Space is the engine's accounting of its part of the device. The invariant
// Data + Metadata + Free == Capacity holds whenever the engine is quiescent,
// and Check verifies it.
type Space struct {
	Capacity int64 `json:"capacity"` // bytes of the device the engine manages
	Data     int64 `json:"data"`     // allocated or reserved for volume data
	Metadata int64 `json:"metadata"` // allocated to metadata, including fixed areas
	Free     int64 `json:"free"`
	// Invalidated counts volumes invalidated by the engine's policy (for
	// example classic COW snapshots whose delta overflowed) since format.
	Invalidated int64 `json:"invalidated"`
	// Expired counts snapshots deleted by the engine to make room.
	Expired int64 `json:"expired"`
}

// Engine is one snapshot/clone mechanism laid on one device.
//
// Concurrency: every method is safe for concurrent use; engines may
// serialise metadata operations internally.
//
// Durability: Create, Snapshot, Clone and Delete are durable when they
// return. Snapshot and Clone capture every write acknowledged to the source
// before the call, and make those writes durable in the source too. Flush
// makes every acknowledged write of every volume durable. After a crash at
// any point, reopening finds every volume consistent: flushed data intact,
// each snapshot exactly its point-in-time content, unflushed sectors either
// old or new.
type Engine interface {
	// Name is the registered engine name.
	Name() string
	Caps() Caps
	// Create makes an empty (all zeros) base volume. size must be a positive
	// multiple of the chunk size.
	Create(name string, size int64) (VolumeID, error)
	// Snapshot makes a read-only point-in-time copy of src.
	Snapshot(src VolumeID, name string) (VolumeID, error)
	// Clone makes a writable point-in-time copy of src.
	Clone(src VolumeID, name string) (VolumeID, error)
	// Delete removes a volume. It fails with ErrBusy while the volume is
	// open, and with ErrHasChildren where Caps().DeleteParent is false and
	// the volume has snapshots or clones.
	Delete(id VolumeID) error
	// Open returns a handle for IO. A volume may be open several times.
	Open(id VolumeID) (Volume, error)
	// Volumes lists every volume, ordered by id.
	Volumes() []VolumeInfo
	Space() Space
	// Flush makes every acknowledged write durable.
	Flush() error
	// Check verifies the on-device metadata against itself (reference
	// counts, leaked or doubly owned chunks, space accounting) and returns
	// an error wrapping ErrCorrupt describing every problem found.
	Check() error
	// Close releases the engine. It does not flush unflushed writes: an
	// engine closed without Flush behaves as after a crash. Close does not
	// close the device.
	Close() error
}

// Volume is an open volume. It satisfies device.Device, so an engine can be
// laid on another engine's volume. IO alignment is that of the underlying
// device (sector size); writes smaller than a chunk cost a read-modify-write
// where the mechanism needs one. ReadAt/WriteAt are safe for concurrent use.
// Flush makes this volume's acknowledged writes durable (an engine may make
// more durable). Close releases the handle and does not flush.
type Volume interface {
	device.Device
	ID() VolumeID
}

// BatchCloner is implemented by engines that can create a burst of clones and
// commit it once. The clones are durable together when CloneMany returns.
type BatchCloner interface {
	CloneMany(src VolumeID, names []string) ([]VolumeID, error)
}

// CloneMany creates clones of src with the engine's BatchCloner when it has
// one, else one Clone at a time. On error it returns the ids created so far.
func CloneMany(e Engine, src VolumeID, names []string) ([]VolumeID, error) {
	if bc, ok := e.(BatchCloner); ok {
		return bc.CloneMany(src, names)
	}
	ids := make([]VolumeID, 0, len(names))
	for _, n := range names {
		id, err := e.Clone(src, n)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// BatchDeleter is implemented by engines that can delete a batch of volumes
// and commit once (refreshing a bush of clones). The deletions are durable
// together when DeleteMany returns. The same rules as Delete apply to each
// id (ErrBusy, ErrHasChildren, ErrNotFound); an engine checks every id before
// it removes any, so on error nothing was deleted.
type BatchDeleter interface {
	DeleteMany(ids []VolumeID) error
}

// DeleteMany deletes ids with the engine's BatchDeleter when it has one, else
// one Delete at a time in the order given (a parent listed after its
// children is then deletable). On error from the fallback, the ids before the
// failing one are deleted.
func DeleteMany(e Engine, ids []VolumeID) error {
	if bd, ok := e.(BatchDeleter); ok {
		return bd.DeleteMany(ids)
	}
	for _, id := range ids {
		if err := e.Delete(id); err != nil {
			return fmt.Errorf("delete %d: %w", id, err)
		}
	}
	return nil
}

// Lookup returns the id of the volume named name.
func Lookup(e Engine, name string) (VolumeID, error) {
	for _, v := range e.Volumes() {
		if v.Name == name {
			return v.ID, nil
		}
	}
	return NoVolume, fmt.Errorf("%s: %q: %w", e.Name(), name, ErrNotFound)
}

// Info returns the VolumeInfo of id.
func Info(e Engine, id VolumeID) (VolumeInfo, error) {
	for _, v := range e.Volumes() {
		if v.ID == id {
			return v, nil
		}
	}
	return VolumeInfo{}, fmt.Errorf("%s: volume %d: %w", e.Name(), id, ErrNotFound)
}

// MaxNameLen is the longest volume name engines must store.
const MaxNameLen = 64

// ValidateName checks a volume name: 1 to MaxNameLen bytes of printable
// ASCII without '/'.
func ValidateName(engine, name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("%s: volume name %q: %w: must be 1 to %d bytes", engine, name, ErrInvalidArgument, MaxNameLen)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c > '~' || c == '/' {
			return fmt.Errorf("%s: volume name %q: %w: printable ASCII without spaces or '/'", engine, name, ErrInvalidArgument)
		}
	}
	return nil
}

// ValidateSize checks a volume size against the chunk size.
func ValidateSize(engine string, size int64, chunk int) error {
	if size <= 0 || size%int64(chunk) != 0 {
		return fmt.Errorf("%s: volume size %d: %w: must be a positive multiple of the chunk size %d", engine, size, ErrInvalidArgument, chunk)
	}
	return nil
}

// MemoryReporter is implemented by engines that can say how much memory
// their in-memory metadata (maps, caches, bitmaps) uses, so reports can show
// memory per volume. The figure is an estimate from the structures' sizes.
type MemoryReporter interface {
	MemoryBytes() int64
}

// Statser is implemented by engines with mechanism-specific counters worth
// reporting (chunks copied on write, deltas merged, mirrors resynchronised,
// snapshots expired...). Names are lower_snake_case with a unit suffix where
// one applies ("cow_copies", "merge_bytes"). Values only grow.
type Statser interface {
	Stats() map[string]int64
}
