package peer

import (
	"errors"
	"fmt"
	"sort"

	"github.com/snapbench/snapbench/strategies"
)

// This file is the volume bookkeeping every real-system peer shares,
// whatever holds its volumes (files on a kernel file system, qcow2 layers,
// RBD images): the part of a volume record the engine contract speaks of,
// the list of records with its lookups and checks, and the count of open
// handles per volume. None of it is safe for concurrent use: the engine's
// metadata lock guards it. Lookups are O(N) in the number of volumes: a
// peer's metadata operations cost far more in the real system (a syscall,
// a qemu-img run, a cluster round trip) than a scan of its table.

// VolumeMeta is what every peer records of a volume. Embedded without a
// JSON tag in a peer's record, its fields are the record's own in JSON.
type VolumeMeta struct {
	ID       strategies.VolumeID `json:"id"`
	Name     string              `json:"name"`
	Parent   strategies.VolumeID `json:"parent,omitempty"`
	Kind     strategies.Kind     `json:"kind"`
	Size     int64               `json:"size"`
	ReadOnly bool                `json:"read_only,omitempty"`
}

// Meta returns m itself: a record embedding VolumeMeta satisfies RecordPtr.
func (m *VolumeMeta) Meta() *VolumeMeta { return m }

// Info is the contract's description of the volume.
func (m *VolumeMeta) Info() strategies.VolumeInfo {
	return strategies.VolumeInfo{ID: m.ID, Name: m.Name, Parent: m.Parent, Kind: m.Kind,
		Size: m.Size, ReadOnly: m.ReadOnly, Valid: true}
}

// RecordPtr is a pointer to a peer's record type R, which embeds
// VolumeMeta.
type RecordPtr[R any] interface {
	*R
	Meta() *VolumeMeta
}

// Records is a peer's volume table: its records in id order once sorted.
type Records[R any, P RecordPtr[R]] []R

// Find returns the record of id, or nil.
func (rs Records[R, P]) Find(id strategies.VolumeID) P {
	for i := range rs {
		if p := P(&rs[i]); p.Meta().ID == id {
			return p
		}
	}
	return nil
}

// Named returns the record called name, or nil.
func (rs Records[R, P]) Named(name string) P {
	for i := range rs {
		if p := P(&rs[i]); p.Meta().Name == name {
			return p
		}
	}
	return nil
}

// Children returns the records whose parent is id.
func (rs Records[R, P]) Children(id strategies.VolumeID) []P {
	var out []P
	for i := range rs {
		if p := P(&rs[i]); p.Meta().Parent == id {
			out = append(out, p)
		}
	}
	return out
}

// Without returns the records less id, with id cleared as a parent. It
// reuses rs's array: the caller keeps the result, not rs.
func (rs Records[R, P]) Without(id strategies.VolumeID) Records[R, P] {
	out := rs[:0]
	for _, r := range rs {
		m := P(&r).Meta()
		if m.ID == id {
			continue
		}
		if m.Parent == id {
			m.Parent = strategies.NoVolume
		}
		out = append(out, r)
	}
	return out
}

// Copy returns a copy of the records (to roll back a failed change).
func (rs Records[R, P]) Copy() Records[R, P] { return append(Records[R, P](nil), rs...) }

// Sort orders the records by id.
func (rs Records[R, P]) Sort() {
	sort.Slice(rs, func(i, j int) bool { return P(&rs[i]).Meta().ID < P(&rs[j]).Meta().ID })
}

// Infos describes every volume, ordered by id.
func (rs Records[R, P]) Infos() []strategies.VolumeInfo {
	out := make([]strategies.VolumeInfo, 0, len(rs))
	for i := range rs {
		out = append(out, P(&rs[i]).Meta().Info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Validate checks the records against themselves: ids in 1..nextID-1 and
// unique, names unique, sizes positive, kinds known; more checks the rest
// of each record (nil: nothing more). Problems wrap strategies.ErrCorrupt.
func (rs Records[R, P]) Validate(engine string, nextID strategies.VolumeID, more func(P) error) error {
	var errs []error
	names := make(map[string]bool, len(rs))
	ids := make(map[strategies.VolumeID]bool, len(rs))
	for i := range rs {
		p := P(&rs[i])
		m := p.Meta()
		switch {
		case m.ID == strategies.NoVolume || m.ID >= nextID:
			errs = append(errs, fmt.Errorf("volume %q: id %d outside 1..%d", m.Name, m.ID, nextID-1))
		case ids[m.ID]:
			errs = append(errs, fmt.Errorf("volume id %d twice", m.ID))
		case names[m.Name]:
			errs = append(errs, fmt.Errorf("volume name %q twice", m.Name))
		case m.Size <= 0:
			errs = append(errs, fmt.Errorf("volume %q: size %d", m.Name, m.Size))
		case m.Kind < strategies.KindBase || m.Kind > strategies.KindInternal:
			errs = append(errs, fmt.Errorf("volume %q: kind %d", m.Name, m.Kind))
		default:
			if more != nil {
				if err := more(p); err != nil {
					errs = append(errs, fmt.Errorf("volume %q: %w", m.Name, err))
				}
			}
		}
		ids[m.ID], names[m.Name] = true, true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w: %w", engine, strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// ValidateNames checks that every name is a valid volume name (before the
// engine takes its lock).
func ValidateNames(engine string, names []string) error {
	for _, n := range names {
		if err := strategies.ValidateName(engine, n); err != nil {
			return err
		}
	}
	return nil
}

// CheckFree reports ErrExists when a name is taken, or given twice, for
// new volumes of kind.
func (rs Records[R, P]) CheckFree(engine string, kind strategies.Kind, names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if rs.Named(n) != nil || seen[n] {
			return fmt.Errorf("%s: %s %q: %w", engine, kind, n, strategies.ErrExists)
		}
		seen[n] = true
	}
	return nil
}

// Source returns the record of src, a volume to snapshot or clone, or an
// error wrapping ErrNotFound.
func (rs Records[R, P]) Source(engine string, kind strategies.Kind, src strategies.VolumeID) (P, error) {
	p := rs.Find(src)
	if p == nil {
		return nil, fmt.Errorf("%s: %s of volume %d: %w", engine, kind, src, strategies.ErrNotFound)
	}
	return p, nil
}

// Handles counts the open handles (of type H) of each volume.
type Handles[H comparable] struct {
	opens map[strategies.VolumeID]int
	of    map[H]strategies.VolumeID
}

// Add records handle h of volume id.
func (h *Handles[H]) Add(id strategies.VolumeID, v H) {
	if h.opens == nil {
		h.opens, h.of = make(map[strategies.VolumeID]int), make(map[H]strategies.VolumeID)
	}
	h.opens[id]++
	h.of[v] = id
}

// Release forgets handle v. It reports v's volume, whether v was the
// volume's last handle, and whether v was known at all (a handle released
// twice, or after Take, is not).
func (h *Handles[H]) Release(v H) (id strategies.VolumeID, last, ok bool) {
	id, ok = h.of[v]
	if !ok {
		return 0, false, false
	}
	delete(h.of, v)
	if h.opens[id]--; h.opens[id] <= 0 {
		delete(h.opens, id)
		return id, true, true
	}
	return id, false, true
}

// Open reports whether volume id has an open handle.
func (h *Handles[H]) Open(id strategies.VolumeID) bool { return h.opens[id] > 0 }

// Each calls f for every open handle.
func (h *Handles[H]) Each(f func(H)) {
	for v := range h.of {
		f(v)
	}
}

// Take returns every open handle and forgets them all (at Close).
func (h *Handles[H]) Take() []H {
	out := make([]H, 0, len(h.of))
	for v := range h.of {
		out = append(out, v)
	}
	h.opens, h.of = nil, nil
	return out
}

// Busy returns an error wrapping ErrBusy, naming what was refused, when
// volume id (called name) has an open handle, else nil.
func (h *Handles[H]) Busy(engine, what string, id strategies.VolumeID, name string) error {
	if h.Open(id) {
		return fmt.Errorf("%s: %s %q: %w", engine, what, name, strategies.ErrBusy)
	}
	return nil
}

// CopyTarget checks, under the engine's lock, what every snapshot or clone
// of src needs: src exists (else ErrNotFound) and no name is taken or
// given twice (else ErrExists). It returns src's record.
func (rs Records[R, P]) CopyTarget(engine string, kind strategies.Kind, src strategies.VolumeID, names []string) (P, error) {
	p, err := rs.Source(engine, kind, src)
	if err != nil {
		return nil, err
	}
	if err := rs.CheckFree(engine, kind, names); err != nil {
		return nil, err
	}
	return p, nil
}

// Copier is a peer's one function that makes snapshots or clones of src,
// committing once for all names. Embedded in an engine (set to the
// engine's own method when it is made), it gives the engine Snapshot, Clone
// and CloneMany.
type Copier func(src strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error)

// Snapshot makes one snapshot of src.
func (c Copier) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	return c.one(src, name, strategies.KindSnapshot)
}

// Clone makes one clone of src.
func (c Copier) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	return c.one(src, name, strategies.KindClone)
}

// CloneMany makes every clone of src and commits once (BatchCloner).
func (c Copier) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	return c(src, names, strategies.KindClone)
}

func (c Copier) one(src strategies.VolumeID, name string, kind strategies.Kind) (strategies.VolumeID, error) {
	ids, err := c(src, []string{name}, kind)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}
