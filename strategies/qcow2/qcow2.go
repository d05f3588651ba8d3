package qcow2

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/peer"
)

const name = "qcow2"

func init() {
	strategies.Register(strategies.Factory{
		Peer:     true,
		Name:     name,
		Doc:      "qcow2 images on XFS served by qemu-nbd: snapshot/clone are overlays in backing chains (real-system peer)",
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

// Validate checks what Format would refuse (the device, the tools this
// machine lacks) without writing to dev.
func Validate(dev device.Device, _ strategies.Options) error {
	if err := peer.CheckDevice(name, dev); err != nil {
		return err
	}
	return Requirements()
}

// Requirements returns nil when this machine can run the engine, else an
// error wrapping strategies.ErrUnsupported saying what is missing.
func Requirements() error {
	return peer.Require(name, "xfs", map[string]string{"mkfs.xfs": "xfsprogs", "qemu-img": "qemu-utils", "qemu-nbd": "qemu-utils"})
}

func fsSpec() peer.FSSpec {
	return peer.FSSpec{Type: "xfs", Mkfs: func(path string, sector int) []string { return peer.MkfsXFS(path, sector, false) }}
}

// Engine is the qcow2 engine. Safe for concurrent use; metadata operations
// are serialised.
type Engine struct {
	peer.Copier // Snapshot, Clone and CloneMany (one frozen layer, one commit): copies
	fs          *peer.FS
	chunk       int
	sockDir     string
	mu          sync.Mutex
	t           *peer.Table
	open        map[strategies.VolumeID]*served // the qemu-nbd of each open volume
	handles     peer.Handles[*volume]
	closed      bool
}

// Format makes an XFS file system on dev (through a loop device) with an
// empty volume table.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	if err := peer.CheckDevice(name, dev); err != nil {
		return nil, err
	}
	if err := Requirements(); err != nil {
		return nil, err
	}
	fs, err := peer.Mount(name, dev, fsSpec(), true)
	if err != nil {
		return nil, err
	}
	e, err := newEngine(fs, opts)
	if err != nil {
		return nil, err
	}
	e.t = &peer.Table{Engine: name, NextID: 1, NextLayer: 1}
	if st, err := fs.Statfs(); err == nil {
		e.t.BaseUsed = int64(st.Blocks-st.Bfree) * st.Bsize
	}
	err = os.Mkdir(filepath.Join(fs.Root, LayerDir), 0o700)
	if err == nil {
		err = e.commit(e.t)
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("qcow2: format: %w", err)
	}
	return e, nil
}

// Open mounts the file system on dev and loads its volume table; layer
// files the table does not list (left by an operation a crash
// interrupted) are removed.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	if err := peer.CheckDevice(name, dev); err != nil {
		return nil, err
	}
	if err := Requirements(); err != nil {
		return nil, err
	}
	fs, err := peer.Mount(name, dev, fsSpec(), false)
	if err != nil {
		return nil, err
	}
	e, err := newEngine(fs, opts)
	if err != nil {
		return nil, err
	}
	if e.t, err = peer.LoadTable(fs.Root, name); err == nil {
		var extra []string
		if extra, err = e.strayFiles(); err == nil {
			for _, f := range extra {
				if err = os.Remove(filepath.Join(fs.Root, f)); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("qcow2: open: %w", err)
	}
	return e, nil
}

func newEngine(fs *peer.FS, opts strategies.Options) (*Engine, error) {
	dir, err := os.MkdirTemp("", "snapbench-qcow2-nbd-")
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("qcow2: socket directory: %w", err)
	}
	e := &Engine{fs: fs, chunk: opts.ChunkSize, sockDir: dir, open: make(map[strategies.VolumeID]*served)}
	e.Copier = e.copies
	return e, nil
}

// strayFiles lists files in LayerDir that the table does not list.
func (e *Engine) strayFiles() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(e.fs.Root, LayerDir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range ents {
		f := filepath.Join(LayerDir, de.Name())
		if layerOf(e.t, f) == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

func (e *Engine) Name() string { return name }

func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true, Thin: true}
}

// Root is the mount point of the file system (for tests and diagnostics).
func (e *Engine) Root() string { return e.fs.Root }

func (e *Engine) errClosed() error { return fmt.Errorf("qcow2: %w", strategies.ErrClosed) }

// commit saves the table and syncs the file system; on error the table
// is rolled back to old.
func (e *Engine) commit(old *peer.Table) error {
	if err := peer.CommitTable(e.fs, e.t); err != nil {
		e.t = old
		return err
	}
	return nil
}

// addLayer creates a new layer over backing and records it in the table.
func (e *Engine) addLayer(backing string, size int64) (string, error) {
	f := layerName(e.t.NextLayer)
	if err := newLayer(e.fs.Root, f, backing, size, e.chunk); err != nil {
		return "", err
	}
	e.t.NextLayer++
	e.t.Layers = append(e.t.Layers, peer.Layer{File: f, Backing: backing})
	return f, nil
}

func (e *Engine) Create(vname string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName(name, vname); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize(name, size, e.chunk); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, e.errClosed()
	}
	if err := e.t.Vols.CheckFree(name, strategies.KindBase, []string{vname}); err != nil {
		return 0, err
	}
	old := e.t.Clone()
	f, err := e.addLayer("", size)
	if err != nil {
		e.t = old
		return 0, fmt.Errorf("qcow2: create %q: %w", vname, err)
	}
	r := peer.Record{VolumeMeta: peer.VolumeMeta{ID: e.t.NextID, Name: vname, Kind: strategies.KindBase, Size: size}, File: f}
	e.t.NextID++
	e.t.Vols = append(e.t.Vols, r)
	if err := e.commit(old); err != nil {
		os.Remove(filepath.Join(e.fs.Root, f))
		return 0, fmt.Errorf("qcow2: create %q: %w", vname, err)
	}
	return r.ID, nil
}

// copies makes snapshots or clones of src. A writable source's top layer
// is frozen first: the source continues on a new overlay of it, and the
// frozen layer is what a snapshot is and what clones are overlays of. A
// read-only source's top is frozen already: a snapshot of it shares it, a
// clone is an overlay of it.
func (e *Engine) copies(src strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	if err := peer.ValidateNames(name, names); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, e.errClosed()
	}
	s, err := e.t.Vols.CopyTarget(name, kind, src, names)
	if err != nil {
		return nil, err
	}
	srcRec := *s
	old := e.t.Clone()
	var made []string // layer files created, removed again on failure
	fail := func(err error) ([]strategies.VolumeID, error) {
		e.t = old
		for _, f := range made {
			os.Remove(filepath.Join(e.fs.Root, f))
		}
		return nil, fmt.Errorf("qcow2: %s of %q: %w", kind, srcRec.Name, err)
	}
	frozen := srcRec.File
	newTop := ""
	if !srcRec.ReadOnly {
		f, err := e.addLayer(frozen, srcRec.Size)
		if err != nil {
			return fail(err)
		}
		made = append(made, f)
		newTop = f
		e.t.Vols.Find(src).File = f
	}
	ids := make([]strategies.VolumeID, 0, len(names))
	for _, n := range names {
		r := peer.Record{VolumeMeta: peer.VolumeMeta{ID: e.t.NextID, Name: n, Parent: src, Kind: kind, Size: srcRec.Size,
			ReadOnly: kind == strategies.KindSnapshot}, File: frozen}
		if kind == strategies.KindClone {
			f, err := e.addLayer(frozen, srcRec.Size)
			if err != nil {
				return fail(err)
			}
			made = append(made, f)
			r.File = f
		}
		e.t.NextID++
		e.t.Vols = append(e.t.Vols, r)
		ids = append(ids, r.ID)
	}
	// An open source moves to its new top before the table says so: its
	// server flushes the frozen layer on the way.
	if sv := e.open[src]; sv != nil && newTop != "" {
		if err := e.swap(sv, src, newTop, frozen); err != nil {
			return fail(err)
		}
	}
	if err := e.commit(old); err != nil {
		if sv := e.open[src]; sv != nil && newTop != "" {
			e.swap(sv, src, frozen, newTop)
		}
		return fail(err)
	}
	return ids, nil
}

// swap moves open volume id's server from file from to file to, waiting
// for IO in flight and flushing first.
func (e *Engine) swap(sv *served, id strategies.VolumeID, to, from string) error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.srv == nil {
		return e.errClosed()
	}
	err := sv.srv.client.Flush()
	if serr := sv.srv.stop(); err == nil {
		err = serr
	}
	if err != nil {
		// Keep the volume usable on its old top.
		srv, rerr := startServer(filepath.Join(e.fs.Root, from), e.sockDir, fmt.Sprint(id), false)
		sv.srv = srv
		return errors.Join(fmt.Errorf("stop qemu-nbd of volume %d: %w", id, err), rerr)
	}
	srv, err := startServer(filepath.Join(e.fs.Root, to), e.sockDir, fmt.Sprint(id), false)
	if err != nil {
		sv.srv, _ = startServer(filepath.Join(e.fs.Root, from), e.sockDir, fmt.Sprint(id), false)
		return err
	}
	sv.srv = srv
	return nil
}

// Delete removes the volume and every layer nothing else needs any more.
// Layers still backing other volumes stay, unmerged, until those go too.
func (e *Engine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	r := e.t.Vols.Find(id)
	if r == nil {
		return fmt.Errorf("qcow2: delete volume %d: %w", id, strategies.ErrNotFound)
	}
	if err := e.handles.Busy(name, "delete", id, r.Name); err != nil {
		return err
	}
	vname := r.Name
	old := e.t.Clone()
	e.t.Vols = e.t.Vols.Without(id)
	gone := unreferenced(e.t)
	if err := e.commit(old); err != nil {
		return fmt.Errorf("qcow2: delete %q: %w", vname, err)
	}
	for _, f := range gone { // a crash from here leaves files that Open removes
		if err := os.Remove(filepath.Join(e.fs.Root, f)); err != nil {
			return fmt.Errorf("qcow2: delete %q: %w", vname, err)
		}
	}
	return nil
}

// Open starts qemu-nbd on the volume's top layer for its first handle;
// further handles share it.
func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, e.errClosed()
	}
	r := e.t.Vols.Find(id)
	if r == nil {
		return nil, fmt.Errorf("qcow2: open volume %d: %w", id, strategies.ErrNotFound)
	}
	sv := e.open[id]
	if sv == nil {
		srv, err := startServer(filepath.Join(e.fs.Root, r.File), e.sockDir, fmt.Sprint(id), r.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("qcow2: open %q: %w", r.Name, err)
		}
		if srv.client.Size() != r.Size || srv.client.SectorSize() > e.fs.Sector {
			srv.stop()
			return nil, fmt.Errorf("qcow2: open %q: %w: qemu-nbd exports %d bytes with %d-byte blocks, want %d with %d",
				r.Name, strategies.ErrCorrupt, srv.client.Size(), srv.client.SectorSize(), r.Size, e.fs.Sector)
		}
		sv = &served{srv: srv}
		e.open[id] = sv
	}
	v := &volume{e: e, sv: sv, id: id, size: r.Size, sector: e.fs.Sector, readOnly: r.ReadOnly}
	// The last handle of a volume to close stops its qemu-nbd.
	v.Init(fmt.Sprintf("qcow2: volume %d", id), nil, func() error { return e.release(v) })
	e.handles.Add(id, v)
	return v, nil
}

func (e *Engine) release(v *volume) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, last, ok := e.handles.Release(v); !ok || !last {
		return nil
	}
	delete(e.open, v.id)
	return e.stopServed(v.sv)
}

func (e *Engine) stopServed(sv *served) error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.srv == nil {
		return nil
	}
	err := sv.srv.stop()
	sv.srv = nil
	return err
}

// Volumes lists the volumes; PrivateBytes is the space of the layers that
// deleting the volume alone would free.
func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	r := refs(e.t)
	out := make([]strategies.VolumeInfo, 0, len(e.t.Vols))
	for _, v := range e.t.Vols {
		var private int64
		for f := v.File; f != "" && r[f] == 1; {
			private += allocated(filepath.Join(e.fs.Root, f))
			l := layerOf(e.t, f)
			if l == nil {
				break
			}
			f = l.Backing
		}
		info := v.Info()
		info.PrivateBytes = private
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return strategies.Space{}
	}
	s, err := peer.StatfsSpace(e.fs, e.t, -1)
	if err != nil {
		return strategies.Space{}
	}
	return s
}

// Flush flushes every open volume's qemu-nbd, then the file system.
func (e *Engine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	var errs []error
	for id, sv := range e.open {
		sv.mu.RLock()
		if sv.srv != nil {
			if err := sv.srv.client.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("volume %d: %w", id, err))
			}
		}
		sv.mu.RUnlock()
	}
	if err := e.fs.Sync(); err != nil {
		errs = append(errs, peer.NoSpace(err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("qcow2: flush: %w", err)
	}
	return nil
}

// Check verifies the table on disk against the one in memory, and every
// layer against the file system: each listed layer exists, is a qcow2
// image of its volume's size whose header names the recorded backing
// file, is reachable from a volume, and no other file is in LayerDir.
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	disk, err := peer.LoadTable(e.fs.Root, name)
	if err != nil {
		return err
	}
	var errs []error
	if len(disk.Vols) != len(e.t.Vols) || len(disk.Layers) != len(e.t.Layers) || disk.NextID != e.t.NextID {
		errs = append(errs, fmt.Errorf("the table on disk (%d volumes, %d layers) differs from the one in memory (%d, %d)",
			len(disk.Vols), len(disk.Layers), len(e.t.Vols), len(e.t.Layers)))
	}
	sizes := make(map[string]int64)
	for _, v := range e.t.Vols {
		if layerOf(e.t, v.File) == nil {
			errs = append(errs, fmt.Errorf("volume %q: top layer %s is not in the table", v.Name, v.File))
		}
		for f := v.File; f != ""; {
			sizes[f] = v.Size
			l := layerOf(e.t, f)
			if l == nil {
				break
			}
			f = l.Backing
		}
	}
	for _, l := range e.t.Layers {
		size, ok := sizes[l.File]
		if !ok {
			errs = append(errs, fmt.Errorf("layer %s is in no volume's chain", l.File))
			continue
		}
		h, err := readHeader(filepath.Join(e.fs.Root, l.File))
		switch {
		case err != nil:
			errs = append(errs, err)
		case h.size != size:
			errs = append(errs, fmt.Errorf("layer %s: virtual size %d, volume size %d", l.File, h.size, size))
		case h.backing != filepath.Base(l.Backing) && !(h.backing == "" && l.Backing == ""):
			errs = append(errs, fmt.Errorf("layer %s: backing file %q, table says %q", l.File, h.backing, l.Backing))
		}
	}
	if stray, err := e.strayFiles(); err != nil {
		errs = append(errs, err)
	} else {
		for _, f := range stray {
			errs = append(errs, fmt.Errorf("%s is in no table entry", f))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("qcow2: %w: %w", strategies.ErrCorrupt, errors.Join(errs...))
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

// Close stops every qemu-nbd (closing their handles), unmounts the file
// system and detaches its loop device. It does not flush beyond what
// qemu-nbd does when its client leaves.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	open, handles := e.open, e.handles.Take()
	e.open = map[strategies.VolumeID]*served{}
	e.mu.Unlock()
	for _, v := range handles {
		v.Close() // the engine no longer knows v: its release does nothing
	}
	var errs []error
	for _, sv := range open {
		errs = append(errs, e.stopServed(sv))
	}
	errs = append(errs, e.fs.Close(), os.RemoveAll(e.sockDir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("qcow2: close: %w", err)
	}
	return nil
}
