package peer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	*Base
	Copier // Snapshot, Clone and CloneMany (one commit): copies
	b      Backend
	vols   Handles[*FileVolume]
}

// FormatEngine lays a new file system on dev and an empty table in it.
func FormatEngine(b Backend, dev device.Device, opts strategies.Options) (*Engine, error) {
	base, err := FormatBase(dev, b.FS(), opts, &Table{Engine: b.Name(), NextID: 1},
		func(root string) error { return os.Mkdir(filepath.Join(root, VolDir), 0o700) })
	if err != nil {
		return nil, err
	}
	return newEngine(b, base), nil
}

// OpenEngine mounts the file system on dev and loads its table. Volume
// entries that the table does not list (left by an operation a crash
// interrupted) are removed.
func OpenEngine(b Backend, dev device.Device, opts strategies.Options) (*Engine, error) {
	base, err := OpenBase(b.Name(), dev, b.FS(), opts, func(base *Base) error {
		orphans, err := orphans(b, base)
		for _, o := range orphans {
			if err = b.Remove(base.FS.Root, o); err != nil {
				break
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return newEngine(b, base), nil
}

func newEngine(b Backend, base *Base) *Engine {
	e := &Engine{Base: base, b: b}
	e.Copier = e.copies
	return e
}

// orphans lists entries in VolDir that no record of base's table owns,
// as records with only the id guessed from the entry (ids are the entry's
// number).
func orphans(b Backend, base *Base) ([]Record, error) {
	ents, err := os.ReadDir(filepath.Join(base.FS.Root, VolDir))
	if err != nil {
		return nil, err
	}
	owned := make(map[string]bool, len(base.T.Vols))
	for _, r := range base.T.Vols {
		owned[b.Entry(r.ID)] = true
	}
	var out []Record
	for _, de := range ents {
		if owned[de.Name()] {
			continue
		}
		var id strategies.VolumeID
		if _, err := fmt.Sscanf(de.Name(), "%d", &id); err != nil || b.Entry(id) != de.Name() {
			return nil, fmt.Errorf("%w: unknown entry %s/%s", strategies.ErrCorrupt, VolDir, de.Name())
		}
		out = append(out, Record{VolumeMeta: VolumeMeta{ID: id}, File: b.DataFile(id)})
	}
	return out, nil
}

func (e *Engine) Caps() strategies.Caps { return e.b.Caps() }

func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	return e.CreateVolume(name, size, func(r *Record) (func(), error) {
		r.File = e.b.DataFile(r.ID)
		undo := func() { e.b.Remove(e.FS.Root, *r) }
		return undo, e.b.Make(e.FS.Root, *r)
	})
}

func (e *Engine) copies(src strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	caps := e.b.Caps()
	if err := ValidateNames(e.EngineName, names); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return nil, e.ErrClosed()
	}
	s, err := e.T.Vols.CopyTarget(e.EngineName, kind, src, names)
	if err != nil {
		return nil, err
	}
	if (kind == strategies.KindSnapshot && !caps.Snapshot) || (kind == strategies.KindClone && !caps.Clone) ||
		(s.Kind != strategies.KindBase && !caps.Nested) {
		return nil, fmt.Errorf("%s: %s of a %s: %w", e.EngineName, kind, s.Kind, strategies.ErrUnsupported)
	}
	srcRec := *s
	old := e.T.Clone()
	made := make([]Record, 0, len(names))
	undo := func() {
		for _, r := range made {
			e.b.Remove(e.FS.Root, r)
		}
	}
	for _, n := range names {
		r := Record{VolumeMeta: VolumeMeta{ID: e.T.NextID, Name: n, Parent: src, Kind: kind, Size: srcRec.Size,
			ReadOnly: kind == strategies.KindSnapshot}, File: e.b.DataFile(e.T.NextID)}
		if err := e.b.Copy(e.FS.Root, srcRec, r); err != nil {
			e.b.Remove(e.FS.Root, r)
			undo()
			e.T = old
			return nil, fmt.Errorf("%s: %s %q of %q: %w", e.EngineName, kind, n, srcRec.Name, NoSpace(err))
		}
		e.T.NextID++
		e.T.Vols = append(e.T.Vols, r)
		made = append(made, r)
	}
	if err := e.Commit(old); err != nil {
		undo()
		return nil, fmt.Errorf("%s: %s of %q: %w", e.EngineName, kind, srcRec.Name, err)
	}
	ids := make([]strategies.VolumeID, len(made))
	for i, r := range made {
		ids[i] = r.ID
	}
	return ids, nil
}

func (e *Engine) Delete(id strategies.VolumeID) error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return e.ErrClosed()
	}
	r := e.T.Vols.Find(id)
	if r == nil {
		return fmt.Errorf("%s: delete volume %d: %w", e.EngineName, id, strategies.ErrNotFound)
	}
	if err := e.vols.Busy(e.EngineName, "delete", id, r.Name); err != nil {
		return err
	}
	rec := *r
	old := e.T.Clone()
	e.T.Vols = e.T.Vols.Without(id)
	if err := e.Commit(old); err != nil {
		return fmt.Errorf("%s: delete %q: %w", e.EngineName, rec.Name, err)
	}
	// The table no longer lists it: a crash from here leaves an orphan
	// entry that the next Open removes.
	if err := e.b.Remove(e.FS.Root, rec); err != nil {
		return fmt.Errorf("%s: delete %q: %w", e.EngineName, rec.Name, err)
	}
	return nil
}

func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return nil, e.ErrClosed()
	}
	r := e.T.Vols.Find(id)
	if r == nil {
		return nil, fmt.Errorf("%s: open volume %d: %w", e.EngineName, id, strategies.ErrNotFound)
	}
	v, err := OpenFile(e.EngineName, id, filepath.Join(e.FS.Root, r.File), r.Size, e.FS.Sector, r.ReadOnly, e.release)
	if err != nil {
		return nil, err
	}
	e.vols.Add(id, v)
	return v, nil
}

func (e *Engine) release(v *FileVolume) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.vols.Release(v)
}

func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return nil
	}
	return e.T.Vols.Infos()
}

func (e *Engine) Space() strategies.Space {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return strategies.Space{}
	}
	s, err := e.b.Space(e.FS, e.T)
	if err != nil {
		return strategies.Space{}
	}
	return s
}

// Flush makes the whole file system durable (syncfs).
func (e *Engine) Flush() error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return e.ErrClosed()
	}
	if err := e.FS.Sync(); err != nil {
		return fmt.Errorf("%s: flush: %w", e.EngineName, NoSpace(err))
	}
	return nil
}

// Check verifies the table on disk against the one in memory and against
// the file system: every volume's entry and data file exist with the
// recorded size and mode, and nothing else is in VolDir.
func (e *Engine) Check() error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return e.ErrClosed()
	}
	var errs []error
	diff, err := e.CheckTable()
	if err != nil {
		return err
	}
	if diff != nil {
		errs = append(errs, diff)
	}
	for _, r := range e.T.Vols {
		if err := CheckDataFile(e.FS.Root, r); err != nil {
			errs = append(errs, err)
		} else if err := e.b.Verify(e.FS.Root, r); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", r.Name, err))
		}
	}
	if orphans, err := orphans(e.b, e.Base); err != nil {
		errs = append(errs, err)
	} else {
		for _, o := range orphans {
			errs = append(errs, fmt.Errorf("%s/%s is in no volume record", VolDir, e.b.Entry(o.ID)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w: %w", e.EngineName, strategies.ErrCorrupt, errors.Join(errs...))
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

// Close closes every handle still open, unmounts the file system and
// detaches its loop device. It does not flush; what the kernel had not
// written yet is written by the unmount.
func (e *Engine) Close() error {
	e.Mu.Lock()
	if e.Closed {
		e.Mu.Unlock()
		return nil
	}
	e.Closed = true
	vols := e.vols.Take()
	e.Mu.Unlock()
	for _, v := range vols {
		v.Close()
	}
	if err := e.FS.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", e.EngineName, err)
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
