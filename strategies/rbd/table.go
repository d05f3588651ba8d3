package rbd

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// record is one volume. A base or a clone is an image of its own; a
// snapshot is an RBD snapshot (Snap) of an image; a clone not flattened
// yet has an RBD parent (OriginImage@OriginSnap).
type record struct {
	ID          strategies.VolumeID `json:"id"`
	Name        string              `json:"name"`
	Parent      strategies.VolumeID `json:"parent,omitempty"`
	Kind        strategies.Kind     `json:"kind"`
	Size        int64               `json:"size"`
	ReadOnly    bool                `json:"read_only,omitempty"`
	Image       string              `json:"image"`
	Snap        string              `json:"snap,omitempty"`
	OriginImage string              `json:"origin_image,omitempty"`
	OriginSnap  string              `json:"origin_snap,omitempty"`
}

// table is the engine's metadata, kept in the pool as one RADOS object
// (Instance + ".table") replaced whole with rados_write_full, which is
// atomic: after a crash the old or the new table is there.
type table struct {
	Engine   string              `json:"engine"`
	Instance string              `json:"instance"`
	NextID   strategies.VolumeID `json:"next_id"`
	Vols     []record            `json:"volumes"`
}

type tableObject struct {
	CRC   uint32          `json:"crc32c"`
	Table json.RawMessage `json:"table"`
}

func tableOID(instance string) string { return instance + ".table" }

func (c *conn) saveTable(t *table) error {
	sort.Slice(t.Vols, func(i, j int) bool { return t.Vols[i].ID < t.Vols[j].ID })
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	b, err := json.Marshal(tableObject{CRC: meta.Checksum(raw), Table: raw})
	if err != nil {
		return err
	}
	if err := c.writeObject(tableOID(t.Instance), b); err != nil {
		return fmt.Errorf("save volume table %s: %w", tableOID(t.Instance), err)
	}
	return nil
}

func (c *conn) loadTable(instance string) (*table, error) {
	b, err := c.readObject(tableOID(instance))
	if err != nil {
		return nil, fmt.Errorf("rbd: %w: volume table %s in pool %q: %w", strategies.ErrCorrupt, tableOID(instance), c.pool, err)
	}
	var to tableObject
	if err := json.Unmarshal(b, &to); err != nil {
		return nil, fmt.Errorf("rbd: %w: volume table: %v", strategies.ErrCorrupt, err)
	}
	if meta.Checksum(to.Table) != to.CRC {
		return nil, fmt.Errorf("rbd: %w: volume table checksum mismatch", strategies.ErrCorrupt)
	}
	var t table
	if err := json.Unmarshal(to.Table, &t); err != nil {
		return nil, fmt.Errorf("rbd: %w: volume table: %v", strategies.ErrCorrupt, err)
	}
	if t.Engine != name || t.Instance != instance {
		return nil, fmt.Errorf("rbd: %w: volume table of %s %s, want %s %s", strategies.ErrCorrupt, t.Engine, t.Instance, name, instance)
	}
	return &t, t.validate()
}

func (t *table) validate() error {
	var errs []error
	names := map[string]bool{}
	ids := map[strategies.VolumeID]bool{}
	for _, r := range t.Vols {
		switch {
		case r.ID == strategies.NoVolume || r.ID >= t.NextID:
			errs = append(errs, fmt.Errorf("volume %q: id %d outside 1..%d", r.Name, r.ID, t.NextID-1))
		case ids[r.ID]:
			errs = append(errs, fmt.Errorf("volume id %d twice", r.ID))
		case names[r.Name]:
			errs = append(errs, fmt.Errorf("volume name %q twice", r.Name))
		case r.Size <= 0 || r.Image == "":
			errs = append(errs, fmt.Errorf("volume %q: size %d image %q", r.Name, r.Size, r.Image))
		case r.Kind < strategies.KindBase || r.Kind > strategies.KindClone:
			errs = append(errs, fmt.Errorf("volume %q: kind %d", r.Name, r.Kind))
		}
		ids[r.ID], names[r.Name] = true, true
	}
	if len(errs) > 0 {
		return fmt.Errorf("rbd: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

func (t *table) find(id strategies.VolumeID) *record {
	for i := range t.Vols {
		if t.Vols[i].ID == id {
			return &t.Vols[i]
		}
	}
	return nil
}

func (t *table) named(n string) *record {
	for i := range t.Vols {
		if t.Vols[i].Name == n {
			return &t.Vols[i]
		}
	}
	return nil
}

// children lists the volumes made from id.
func (t *table) children(id strategies.VolumeID) []*record {
	var out []*record
	for i := range t.Vols {
		if t.Vols[i].Parent == id {
			out = append(out, &t.Vols[i])
		}
	}
	return out
}

// snapUsed reports whether image@snap is a snapshot volume or the parent
// of a clone.
func (t *table) snapUsed(image, snap string) bool {
	for _, r := range t.Vols {
		if (r.Image == image && r.Snap == snap) || (r.OriginImage == image && r.OriginSnap == snap) {
			return true
		}
	}
	return false
}

// imageUsed reports whether a volume is image itself (not a snapshot of
// it).
func (t *table) imageUsed(image string) bool {
	for _, r := range t.Vols {
		if r.Image == image && r.Snap == "" {
			return true
		}
	}
	return false
}

func (t *table) remove(id strategies.VolumeID) {
	out := t.Vols[:0]
	for _, r := range t.Vols {
		if r.ID == id {
			continue
		}
		if r.Parent == id {
			r.Parent = strategies.NoVolume
		}
		out = append(out, r)
	}
	t.Vols = out
}

func (t *table) clone() *table {
	c := *t
	c.Vols = append([]record(nil), t.Vols...)
	return &c
}
