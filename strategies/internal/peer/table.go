package peer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// TableFile is the name of the volume table in the file system's root.
const TableFile = "snapbench-volumes.json"

// Record is one volume in the table.
type Record struct {
	VolumeMeta
	// File is the volume's data file (for qcow2 the top of its chain),
	// relative to the file system's root.
	File string `json:"file"`
}

// Vols is a file-based peer's volume list.
type Vols = Records[Record, *Record]

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
	BaseUsed int64   `json:"base_used"`
	Vols     Vols    `json:"volumes"`
	Layers   []Layer `json:"layers,omitempty"`
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
	t.Vols.Sort()
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
	return t.Vols.Validate(engine, t.NextID, func(r *Record) error {
		if r.File == "" {
			return errors.New("no data file")
		}
		return nil
	})
}

// Clone returns a deep copy (to roll back a failed change).
func (t *Table) Clone() *Table {
	c := *t
	c.Vols = t.Vols.Copy()
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
