package peer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// TableFile is the name of the volume table in the file system's root.
const TableFile = "snapbench-volumes.json"

// Record is one volume in the table.
type Record struct {
	ID       strategies.VolumeID `json:"id"`
	Name     string              `json:"name"`
	Parent   strategies.VolumeID `json:"parent,omitempty"`
	Kind     strategies.Kind     `json:"kind"`
	Size     int64               `json:"size"`
	ReadOnly bool                `json:"read_only,omitempty"`
	// File is the volume's data file (for qcow2 the top of its chain),
	// relative to the file system's root.
	File string `json:"file"`
}

// Layer is a qcow2 image file and the image it is an overlay of.
type Layer struct {
	File    string `json:"file"`
	Backing string `json:"backing,omitempty"`
}

// Table is a peer engine's metadata: everything Open needs that the file
// system does not say by itself.
type Table struct {
	Engine string              `json:"engine"`
	NextID strategies.VolumeID `json:"next_id"`
	// BaseUsed is the space the file system used right after mkfs: its
	// fixed metadata (log, allocation group headers, trees).
	BaseUsed int64    `json:"base_used"`
	Vols     []Record `json:"volumes"`
	Layers   []Layer  `json:"layers,omitempty"`
	// NextLayer numbers qcow2 layer files; never reused.
	NextLayer uint64 `json:"next_layer,omitempty"`
}

type tableFile struct {
	CRC   uint32          `json:"crc32c"`
	Table json.RawMessage `json:"table"`
}

// SaveTable writes t to root atomically (a new file, fsync, rename, fsync
// of the directory): after a crash the old or the new table is there,
// whole.
func SaveTable(root string, t *Table) error {
	sort.Slice(t.Vols, func(i, j int) bool { return t.Vols[i].ID < t.Vols[j].ID })
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	b, err := json.Marshal(tableFile{CRC: meta.Checksum(raw), Table: raw})
	if err != nil {
		return err
	}
	tmp := filepath.Join(root, TableFile+".new")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(root, TableFile))
	}
	if err == nil {
		err = syncDir(root)
	}
	if err != nil {
		return fmt.Errorf("save volume table: %w", err)
	}
	return nil
}

// LoadTable reads the table in root; a missing, unreadable or damaged
// table is ErrCorrupt.
func LoadTable(root, engine string) (*Table, error) {
	b, err := os.ReadFile(filepath.Join(root, TableFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w: no volume table %s in the file system", engine, strategies.ErrCorrupt, TableFile)
		}
		return nil, fmt.Errorf("%s: read volume table: %w", engine, err)
	}
	var tf tableFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("%s: %w: volume table: %v", engine, strategies.ErrCorrupt, err)
	}
	if meta.Checksum(tf.Table) != tf.CRC {
		return nil, fmt.Errorf("%s: %w: volume table checksum mismatch", engine, strategies.ErrCorrupt)
	}
	var t Table
	if err := json.Unmarshal(tf.Table, &t); err != nil {
		return nil, fmt.Errorf("%s: %w: volume table: %v", engine, strategies.ErrCorrupt, err)
	}
	if t.Engine != engine {
		return nil, fmt.Errorf("%s: %w: volume table of engine %q", engine, strategies.ErrCorrupt, t.Engine)
	}
	return &t, t.validate(engine)
}

// validate checks the table against itself.
func (t *Table) validate(engine string) error {
	var errs []error
	names := make(map[string]bool, len(t.Vols))
	ids := make(map[strategies.VolumeID]bool, len(t.Vols))
	for _, r := range t.Vols {
		switch {
		case r.ID == strategies.NoVolume || r.ID >= t.NextID:
			errs = append(errs, fmt.Errorf("volume %q: id %d outside 1..%d", r.Name, r.ID, t.NextID-1))
		case ids[r.ID]:
			errs = append(errs, fmt.Errorf("volume id %d twice", r.ID))
		case names[r.Name]:
			errs = append(errs, fmt.Errorf("volume name %q twice", r.Name))
		case r.Size <= 0 || r.File == "":
			errs = append(errs, fmt.Errorf("volume %q: size %d file %q", r.Name, r.Size, r.File))
		case r.Kind < strategies.KindBase || r.Kind > strategies.KindInternal:
			errs = append(errs, fmt.Errorf("volume %q: kind %d", r.Name, r.Kind))
		}
		ids[r.ID], names[r.Name] = true, true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w: %w", engine, strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// Find returns the record of id, or nil.
func (t *Table) Find(id strategies.VolumeID) *Record {
	for i := range t.Vols {
		if t.Vols[i].ID == id {
			return &t.Vols[i]
		}
	}
	return nil
}

// Named returns the record called name, or nil.
func (t *Table) Named(name string) *Record {
	for i := range t.Vols {
		if t.Vols[i].Name == name {
			return &t.Vols[i]
		}
	}
	return nil
}

// Remove drops id and clears it as a parent.
func (t *Table) Remove(id strategies.VolumeID) {
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

// Clone returns a deep copy (to roll back a failed change).
func (t *Table) Clone() *Table {
	c := *t
	c.Vols = append([]Record(nil), t.Vols...)
	c.Layers = append([]Layer(nil), t.Layers...)
	return &c
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
