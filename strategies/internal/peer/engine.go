package peer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// VolDir is the directory of the file system that holds volume entries.
const VolDir = "vols"

// Backend is the mechanism of a file-based peer: how a volume is laid out
// in the file system and how it is copied.
type Backend interface {
	Name() string
	Caps() strategies.Caps
	// Requirements returns nil when this machine can run the backend, else
	// an error wrapping strategies.ErrUnsupported saying what is missing.
	Requirements() error
	FS() FSSpec
	// Entry is the name in VolDir that holds volume id (a file, or a
	// subvolume), and DataFile the volume's data file relative to the
	// file system root.
	Entry(id strategies.VolumeID) string
	DataFile(id strategies.VolumeID) string
	// Make creates entry r as an empty volume of r.Size bytes.
	Make(root string, r Record) error
	// Copy makes dst a point-in-time copy of src (read-only if
	// dst.ReadOnly).
	Copy(root string, src, dst Record) error
	// Remove deletes r's entry.
	Remove(root string, r Record) error
	// Space is the file system's accounting.
	Space(fs *FS, t *Table) (strategies.Space, error)
	// Verify checks r's entry in the file system, beyond its data file's
	// size.
	Verify(root string, r Record) error
}

// Factory is the registration of a backend's engine: a real-system peer
// whose Format and Open first check that the device is a file or block
// device and that the machine has what the backend needs.
func Factory(b Backend, doc string) strategies.Factory {
	start := func(dev device.Device, opts strategies.Options,
		run func(Backend, device.Device, strategies.Options) (*Engine, error)) (strategies.Engine, error) {
		if err := CheckDevice(b.Name(), dev); err != nil {
			return nil, err
		}
		if err := b.Requirements(); err != nil {
			return nil, err
		}
		e, err := run(b, dev, opts)
		if err != nil {
			return nil, err // not a nil *Engine in a non-nil interface
		}
		return e, nil
	}
	return strategies.Factory{Name: b.Name(), Doc: doc, Peer: true,
		Validate: func(dev device.Device, _ strategies.Options) error {
			if err := CheckDevice(b.Name(), dev); err != nil {
				return err
			}
			return b.Requirements()
		},
		Format: func(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
			return start(dev, opts, FormatEngine)
		},
		Open: func(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
			return start(dev, opts, OpenEngine)
		}}
}

// Engine is a peer engine over files on a kernel file system. It is safe
// for concurrent use; metadata operations are serialised.
type Engine struct {
	Copier // Snapshot, Clone and CloneMany (one commit): copies
	b      Backend
	name   string
	fs     *FS
	chunk  int
	mu     sync.Mutex
	t      *Table
	vols   Handles[*FileVolume]
	closed bool
}

// FormatEngine lays a new file system on dev and an empty table in it.
func FormatEngine(b Backend, dev device.Device, opts strategies.Options) (*Engine, error) {
	fs, err := Mount(b.Name(), dev, b.FS(), true)
	if err != nil {
		return nil, err
	}
	e := newEngine(b, fs, opts)
	fail := func(err error) (*Engine, error) {
		fs.Close()
		return nil, fmt.Errorf("%s: format: %w", e.name, err)
	}
	if err := os.Mkdir(filepath.Join(fs.Root, VolDir), 0o700); err != nil {
		return fail(err)
	}
	if err := fs.Sync(); err != nil {
		return fail(err)
	}
	e.t = &Table{Engine: e.name, NextID: 1}
	if st, err := fs.Statfs(); err == nil {
		e.t.BaseUsed = int64(st.Blocks-st.Bfree) * st.Bsize
	}
	if err := SaveTable(fs.Root, e.t); err != nil {
		return fail(err)
	}
	if err := fs.Sync(); err != nil {
		return fail(err)
	}
	return e, nil
}

// OpenEngine mounts the file system on dev and loads its table. Volume
// entries that the table does not list (left by an operation a crash
// interrupted) are removed.
func OpenEngine(b Backend, dev device.Device, opts strategies.Options) (*Engine, error) {
	fs, err := Mount(b.Name(), dev, b.FS(), false)
	if err != nil {
		return nil, err
	}
	e := newEngine(b, fs, opts)
	if e.t, err = LoadTable(fs.Root, e.name); err != nil {
		fs.Close()
		return nil, err
	}
	orphans, err := e.orphans()
	if err == nil {
		for _, o := range orphans {
			if err = b.Remove(fs.Root, o); err != nil {
				break
			}
		}
	}
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("%s: open: %w", e.name, err)
	}
	return e, nil
}

func newEngine(b Backend, fs *FS, opts strategies.Options) *Engine {
	e := &Engine{b: b, name: b.Name(), fs: fs, chunk: opts.ChunkSize}
	e.Copier = e.copies
	return e
}

// orphans lists entries in VolDir that no record owns, as records with
// only the id guessed from the entry (ids are the entry's number).
func (e *Engine) orphans() ([]Record, error) {
	ents, err := os.ReadDir(filepath.Join(e.fs.Root, VolDir))
	if err != nil {
		return nil, err
	}
	owned := make(map[string]bool, len(e.t.Vols))
	for _, r := range e.t.Vols {
		owned[e.b.Entry(r.ID)] = true
	}
	var out []Record
	for _, de := range ents {
		if owned[de.Name()] {
			continue
		}
		var id strategies.VolumeID
		if _, err := fmt.Sscanf(de.Name(), "%d", &id); err != nil || e.b.Entry(id) != de.Name() {
			return nil, fmt.Errorf("%w: unknown entry %s/%s", strategies.ErrCorrupt, VolDir, de.Name())
		}
		out = append(out, Record{VolumeMeta: VolumeMeta{ID: id}, File: e.b.DataFile(id)})
	}
	return out, nil
}

func (e *Engine) Name() string          { return e.name }
func (e *Engine) Caps() strategies.Caps { return e.b.Caps() }

// Root is the mount point of the file system (for tests and diagnostics).
func (e *Engine) Root() string { return e.fs.Root }

func (e *Engine) errClosed() error { return fmt.Errorf("%s: %w", e.name, strategies.ErrClosed) }

// commit saves the table and makes the file system durable; on error the
// table is rolled back to old.
func (e *Engine) commit(old *Table) error {
	if err := CommitTable(e.fs, e.t); err != nil {
		e.t = old
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

func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName(e.name, name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize(e.name, size, e.chunk); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, e.errClosed()
	}
	if err := e.t.Vols.CheckFree(e.name, strategies.KindBase, []string{name}); err != nil {
		return 0, err
	}
	old := e.t.Clone()
	r := Record{VolumeMeta: VolumeMeta{ID: e.t.NextID, Name: name, Kind: strategies.KindBase, Size: size},
		File: e.b.DataFile(e.t.NextID)}
	if err := e.b.Make(e.fs.Root, r); err != nil {
		e.b.Remove(e.fs.Root, r)
		return 0, fmt.Errorf("%s: create %q: %w", e.name, name, NoSpace(err))
	}
	e.t.NextID++
	e.t.Vols = append(e.t.Vols, r)
	if err := e.commit(old); err != nil {
		e.b.Remove(e.fs.Root, r)
		return 0, fmt.Errorf("%s: create %q: %w", e.name, name, err)
	}
	return r.ID, nil
}

func (e *Engine) copies(src strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	caps := e.b.Caps()
	if err := ValidateNames(e.name, names); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, e.errClosed()
	}
	s, err := e.t.Vols.CopyTarget(e.name, kind, src, names)
	if err != nil {
		return nil, err
	}
	if (kind == strategies.KindSnapshot && !caps.Snapshot) || (kind == strategies.KindClone && !caps.Clone) ||
		(s.Kind != strategies.KindBase && !caps.Nested) {
		return nil, fmt.Errorf("%s: %s of a %s: %w", e.name, kind, s.Kind, strategies.ErrUnsupported)
	}
	srcRec := *s
	old := e.t.Clone()
	made := make([]Record, 0, len(names))
	undo := func() {
		for _, r := range made {
			e.b.Remove(e.fs.Root, r)
		}
	}
	for _, n := range names {
		r := Record{VolumeMeta: VolumeMeta{ID: e.t.NextID, Name: n, Parent: src, Kind: kind, Size: srcRec.Size,
			ReadOnly: kind == strategies.KindSnapshot}, File: e.b.DataFile(e.t.NextID)}
		if err := e.b.Copy(e.fs.Root, srcRec, r); err != nil {
			e.b.Remove(e.fs.Root, r)
			undo()
			e.t = old
			return nil, fmt.Errorf("%s: %s %q of %q: %w", e.name, kind, n, srcRec.Name, NoSpace(err))
		}
		e.t.NextID++
		e.t.Vols = append(e.t.Vols, r)
		made = append(made, r)
	}
	if err := e.commit(old); err != nil {
		undo()
		return nil, fmt.Errorf("%s: %s of %q: %w", e.name, kind, srcRec.Name, err)
	}
	ids := make([]strategies.VolumeID, len(made))
	for i, r := range made {
		ids[i] = r.ID
	}
	return ids, nil
}

func (e *Engine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	r := e.t.Vols.Find(id)
	if r == nil {
		return fmt.Errorf("%s: delete volume %d: %w", e.name, id, strategies.ErrNotFound)
	}
	if err := e.vols.Busy(e.name, "delete", id, r.Name); err != nil {
		return err
	}
	rec := *r
	old := e.t.Clone()
	e.t.Vols = e.t.Vols.Without(id)
	if err := e.commit(old); err != nil {
		return fmt.Errorf("%s: delete %q: %w", e.name, rec.Name, err)
	}
	// The table no longer lists it: a crash from here leaves an orphan
	// entry that the next Open removes.
	if err := e.b.Remove(e.fs.Root, rec); err != nil {
		return fmt.Errorf("%s: delete %q: %w", e.name, rec.Name, err)
	}
	return nil
}

func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, e.errClosed()
	}
	r := e.t.Vols.Find(id)
	if r == nil {
		return nil, fmt.Errorf("%s: open volume %d: %w", e.name, id, strategies.ErrNotFound)
	}
	v, err := OpenFile(e.name, id, filepath.Join(e.fs.Root, r.File), r.Size, e.fs.Sector, r.ReadOnly, e.release)
	if err != nil {
		return nil, err
	}
	e.vols.Add(id, v)
	return v, nil
}

func (e *Engine) release(v *FileVolume) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vols.Release(v)
}

func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	return e.t.Vols.Infos()
}

func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return strategies.Space{}
	}
	s, err := e.b.Space(e.fs, e.t)
	if err != nil {
		return strategies.Space{}
	}
	return s
}

// Flush makes the whole file system durable (syncfs).
func (e *Engine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	if err := e.fs.Sync(); err != nil {
		return fmt.Errorf("%s: flush: %w", e.name, NoSpace(err))
	}
	return nil
}

// Check verifies the table on disk against the one in memory and against
// the file system: every volume's entry and data file exist with the
// recorded size and mode, and nothing else is in VolDir.
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	var errs []error
	disk, err := LoadTable(e.fs.Root, e.name)
	if err != nil {
		return err
	}
	if len(disk.Vols) != len(e.t.Vols) || disk.NextID != e.t.NextID {
		errs = append(errs, fmt.Errorf("the table on disk (%d volumes, next id %d) differs from the one in memory (%d, %d)",
			len(disk.Vols), disk.NextID, len(e.t.Vols), e.t.NextID))
	}
	for _, r := range e.t.Vols {
		if err := CheckDataFile(e.fs.Root, r); err != nil {
			errs = append(errs, err)
		} else if err := e.b.Verify(e.fs.Root, r); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", r.Name, err))
		}
	}
	if orphans, err := e.orphans(); err != nil {
		errs = append(errs, err)
	} else {
		for _, o := range orphans {
			errs = append(errs, fmt.Errorf("%s/%s is in no volume record", VolDir, e.b.Entry(o.ID)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w: %w", e.name, strategies.ErrCorrupt, errors.Join(errs...))
	}
	return nil
}

// CheckDataFile checks that r's data file is a regular file of r.Size
// bytes.
func CheckDataFile(root string, r Record) error {
	st, err := os.Stat(filepath.Join(root, r.File))
	switch {
	case err != nil:
		return fmt.Errorf("volume %q: %w", r.Name, err)
	case !st.Mode().IsRegular() || st.Size() != r.Size:
		return fmt.Errorf("volume %q: %s is %s of %d bytes, want a file of %d", r.Name, r.File, st.Mode().Type(), st.Size(), r.Size)
	}
	return nil
}

// Stats reports the IO the file system did on its device (Statser).
func (e *Engine) Stats() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return map[string]int64{}
	}
	return e.fs.Stats()
}

// Close closes every handle still open, unmounts the file system and
// detaches its loop device. It does not flush; what the kernel had not
// written yet is written by the unmount.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	vols := e.vols.Take()
	e.mu.Unlock()
	for _, v := range vols {
		v.Close()
	}
	if err := e.fs.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", e.name, err)
	}
	return nil
}

// StatfsSpace is Space from statfs: capacity and free space of the file
// system; metadata is the space it used right after mkfs (or more, when a
// file system reports it apart: metaUsed >= 0) and data the rest.
func StatfsSpace(fs *FS, t *Table, metaUsed int64) (strategies.Space, error) {
	st, err := fs.Statfs()
	if err != nil {
		return strategies.Space{}, err
	}
	s := strategies.Space{Capacity: int64(st.Blocks) * st.Bsize, Free: int64(st.Bfree) * st.Bsize}
	used := s.Capacity - s.Free
	meta := t.BaseUsed
	if metaUsed >= 0 {
		meta = metaUsed
	}
	s.Metadata = min(max(meta, 0), used)
	s.Data = used - s.Metadata
	return s, nil
}
