package rbd

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
	"github.com/snapbench/snapbench/strategies/internal/peer"
)

// record is one volume. A base or a clone is an image of its own; a
// snapshot is an RBD snapshot (Snap) of an image; a clone not flattened
// yet has an RBD parent (OriginImage@OriginSnap).
type record struct {
	peer.VolumeMeta
	Image       string `json:"image"`
	Snap        string `json:"snap,omitempty"`
	OriginImage string `json:"origin_image,omitempty"`
	OriginSnap  string `json:"origin_snap,omitempty"`
}

type records = peer.Records[record, *record]

// table is the engine's metadata, kept in the pool as one RADOS object
// (Instance + ".table") replaced whole with rados_write_full, which is
// atomic: after a crash the old or the new table is there.
type table struct {
	Engine   string              `json:"engine"`
	Instance string              `json:"instance"`
	NextID   strategies.VolumeID `json:"next_id"`
	Vols     records             `json:"volumes"`
}

type tableObject struct {
	CRC   uint32          `json:"crc32c"`
	Table json.RawMessage `json:"table"`
}

func tableOID(instance string) string { return instance + ".table" }

func (c *conn) saveTable(t *table) error {
	t.Vols.Sort()
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
	return t.Vols.Validate(name, t.NextID, func(r *record) error {
		switch {
		case r.Image == "":
			return errors.New("no image")
		case r.Kind > strategies.KindClone:
			return fmt.Errorf("kind %d", r.Kind)
		}
		return nil
	})
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

func (t *table) clone() *table {
	c := *t
	c.Vols = t.Vols.Copy()
	return &c
}
