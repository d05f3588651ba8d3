package peer

import (
	"fmt"
	"sync"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// Base is what every file-system peer engine keeps the same way, whatever
// its mechanism (Engine's Backend, qcow2's backing chains): the mounted
// file system, the volume table, the lock that serialises metadata
// operations and the closed flag, with formatting, opening, committing and
// creating a volume around them. Hold Mu to read or change T or Closed.
type Base struct {
	EngineName string
	FS         *FS
	Chunk      int // the chunk size volume sizes are checked against
	Mu         sync.Mutex
	T          *Table
	Closed     bool
}

// FormatBase lays a new file system on dev (FSSpec spec) and commits an
// empty table in it: t, of engine t.Engine, with the space the file system
// uses once init (the engine's directories) has run and been synced as
// its BaseUsed. On failure the file system is unmounted.
func FormatBase(dev device.Device, spec FSSpec, opts strategies.Options, t *Table, init func(root string) error) (*Base, error) {
	fs, err := Mount(t.Engine, dev, spec, true)
	if err != nil {
		return nil, err
	}
	err = init(fs.Root)
	if err == nil {
		err = fs.Sync()
	}
	if err == nil {
		if st, serr := fs.Statfs(); serr == nil {
			t.BaseUsed = int64(st.Blocks-st.Bfree) * st.Bsize
		}
		err = CommitTable(fs, t)
	}
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("%s: format: %w", t.Engine, err)
	}
	return &Base{EngineName: t.Engine, FS: fs, Chunk: opts.ChunkSize, T: t}, nil
}

// OpenBase mounts the file system on dev and loads its table; repair then
// removes what an interrupted operation left (entries the table does not
// list). On failure the file system is unmounted.
func OpenBase(name string, dev device.Device, spec FSSpec, opts strategies.Options, repair func(b *Base) error) (*Base, error) {
	fs, err := Mount(name, dev, spec, false)
	if err != nil {
		return nil, err
	}
	b := &Base{EngineName: name, FS: fs, Chunk: opts.ChunkSize}
	if b.T, err = LoadTable(fs.Root, name); err != nil {
		fs.Close()
		return nil, err // it names the engine
	}
	if err := repair(b); err != nil {
		fs.Close()
		return nil, fmt.Errorf("%s: open: %w", name, err)
	}
	return b, nil
}

func (b *Base) Name() string { return b.EngineName }

// Root is the mount point of the file system (for tests and diagnostics).
func (b *Base) Root() string { return b.FS.Root }

// ErrClosed is the error of an operation on a closed engine.
func (b *Base) ErrClosed() error { return fmt.Errorf("%s: %w", b.EngineName, strategies.ErrClosed) }

// Commit saves T and makes the file system durable; on error T is rolled
// back to old. Mu is held.
func (b *Base) Commit(old *Table) error {
	if err := CommitTable(b.FS, b.T); err != nil {
		b.T = old
		return err
	}
	return nil
}

// CommitTable saves t in fs and makes the file system durable (syncfs);
// a full file system reads as strategies.ErrNoSpace.
func CommitTable(fs *FS, t *Table) error {
	err := SaveTable(fs.Root, t)
	if err == nil {
		err = fs.Sync()
	}
	if err != nil {
		return NoSpace(err)
	}
	return nil
}

// CreateVolume is an engine's Create: it checks the name and size, then,
// under Mu, makes the volume with make (which sets r.File and may add to
// T) and commits the table naming it. make's undo, when not nil, removes
// what make made; it runs when make or the commit fails, and T is then as
// before.
func (b *Base) CreateVolume(name string, size int64, make func(r *Record) (undo func(), err error)) (strategies.VolumeID, error) {
	if err := strategies.ValidateName(b.EngineName, name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize(b.EngineName, size, b.Chunk); err != nil {
		return 0, err
	}
	b.Mu.Lock()
	defer b.Mu.Unlock()
	if b.Closed {
		return 0, b.ErrClosed()
	}
	if err := b.T.Vols.CheckFree(b.EngineName, strategies.KindBase, []string{name}); err != nil {
		return 0, err
	}
	old := b.T.Clone()
	r := Record{VolumeMeta: VolumeMeta{ID: b.T.NextID, Name: name, Kind: strategies.KindBase, Size: size}}
	undo, err := make(&r)
	if err == nil {
		b.T.NextID++
		b.T.Vols = append(b.T.Vols, r)
		err = b.Commit(old)
	}
	if err != nil {
		b.T = old
		if undo != nil {
			undo()
		}
		return 0, fmt.Errorf("%s: create %q: %w", b.EngineName, name, NoSpace(err))
	}
	return r.ID, nil
}

// Stats reports the IO the file system did on its device (Statser).
func (b *Base) Stats() map[string]int64 {
	b.Mu.Lock()
	defer b.Mu.Unlock()
	if b.Closed {
		return map[string]int64{}
	}
	return b.FS.Stats()
}

// CheckTable loads the table on disk and compares it with T (volumes,
// layers, next ids): a table that cannot be loaded is err, a difference is
// diff, to report with the engine's other findings. Mu is held.
func (b *Base) CheckTable() (diff, err error) {
	disk, err := LoadTable(b.FS.Root, b.EngineName)
	if err != nil {
		return nil, err
	}
	if len(disk.Vols) != len(b.T.Vols) || len(disk.Layers) != len(b.T.Layers) ||
		disk.NextID != b.T.NextID || disk.NextLayer != b.T.NextLayer {
		return fmt.Errorf("the table on disk (%d volumes, %d layers, next id %d) differs from the one in memory (%d, %d, %d)",
			len(disk.Vols), len(disk.Layers), disk.NextID, len(b.T.Vols), len(b.T.Layers), b.T.NextID), nil
	}
	return nil, nil
}
