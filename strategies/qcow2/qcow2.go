package qcow2

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

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
	*peer.Base
	peer.Copier // Snapshot, Clone and CloneMany (one frozen layer, one commit): copies
	sockDir     string
	open        map[strategies.VolumeID]*served // the qemu-nbd of each open volume
	handles     peer.Handles[*volume]
}

// Format makes an XFS file system on dev (through a loop device) with an
// empty volume table.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	if err := Validate(dev, opts); err != nil {
		return nil, err
	}
	base, err := peer.FormatBase(dev, fsSpec(), opts, &peer.Table{Engine: name, NextID: 1, NextLayer: 1},
		func(root string) error { return os.Mkdir(filepath.Join(root, LayerDir), 0o700) })
	if err != nil {
		return nil, err
	}
	return newEngine(base)
}

// Open mounts the file system on dev and loads its volume table; layer
// files the table does not list (left by an operation a crash
// interrupted) are removed.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	if err := Validate(dev, opts); err != nil {
		return nil, err
	}
	base, err := peer.OpenBase(name, dev, fsSpec(), opts, func(b *peer.Base) error {
		extra, err := strayFiles(b)
		for _, f := range extra {
			if err = os.Remove(filepath.Join(b.FS.Root, f)); err != nil {
				break
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return newEngine(base)
}

func newEngine(base *peer.Base) (*Engine, error) {
	dir, err := os.MkdirTemp("", "snapbench-qcow2-nbd-")
	if err != nil {
		base.FS.Close()
		return nil, fmt.Errorf("qcow2: socket directory: %w", err)
	}
	e := &Engine{Base: base, sockDir: dir, open: make(map[strategies.VolumeID]*served)}
	e.Copier = e.copies
	return e, nil
}

// strayFiles lists files in LayerDir that b's table does not list.
func strayFiles(b *peer.Base) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(b.FS.Root, LayerDir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range ents {
		f := filepath.Join(LayerDir, de.Name())
		if layerOf(b.T, f) == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true, Thin: true}
}

// addLayer creates a new layer over backing and records it in the table.
func (e *Engine) addLayer(backing string, size int64) (string, error) {
	f := layerName(e.T.NextLayer)
	if err := newLayer(e.FS.Root, f, backing, size, e.Chunk); err != nil {
		return "", err
	}
	e.T.NextLayer++
	e.T.Layers = append(e.T.Layers, peer.Layer{File: f, Backing: backing})
	return f, nil
}

func (e *Engine) Create(vname string, size int64) (strategies.VolumeID, error) {
	return e.CreateVolume(vname, size, func(r *peer.Record) (func(), error) {
		f, err := e.addLayer("", size)
		if err != nil {
			return nil, err
		}
		r.File = f
		return func() { os.Remove(filepath.Join(e.FS.Root, f)) }, nil
	})
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
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return nil, e.ErrClosed()
	}
	s, err := e.T.Vols.CopyTarget(name, kind, src, names)
	if err != nil {
		return nil, err
	}
	srcRec := *s
	old := e.T.Clone()
	var made []string // layer files created, removed again on failure
	fail := func(err error) ([]strategies.VolumeID, error) {
		e.T = old
		for _, f := range made {
			os.Remove(filepath.Join(e.FS.Root, f))
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
		e.T.Vols.Find(src).File = f
	}
	ids := make([]strategies.VolumeID, 0, len(names))
	for _, n := range names {
		r := peer.Record{VolumeMeta: peer.VolumeMeta{ID: e.T.NextID, Name: n, Parent: src, Kind: kind, Size: srcRec.Size,
			ReadOnly: kind == strategies.KindSnapshot}, File: frozen}
		if kind == strategies.KindClone {
			f, err := e.addLayer(frozen, srcRec.Size)
			if err != nil {
				return fail(err)
			}
			made = append(made, f)
			r.File = f
		}
		e.T.NextID++
		e.T.Vols = append(e.T.Vols, r)
		ids = append(ids, r.ID)
	}
	// An open source moves to its new top before the table says so: its
	// server flushes the frozen layer on the way.
	if sv := e.open[src]; sv != nil && newTop != "" {
		if err := e.swap(sv, src, newTop, frozen); err != nil {
			return fail(err)
		}
	}
	if err := e.Commit(old); err != nil {
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
		return e.ErrClosed()
	}
	err := sv.srv.client.Flush()
	if serr := sv.srv.stop(); err == nil {
		err = serr
	}
	if err != nil {
		// Keep the volume usable on its old top.
		srv, rerr := startServer(filepath.Join(e.FS.Root, from), e.sockDir, fmt.Sprint(id), false)
		sv.srv = srv
		return errors.Join(fmt.Errorf("stop qemu-nbd of volume %d: %w", id, err), rerr)
	}
	srv, err := startServer(filepath.Join(e.FS.Root, to), e.sockDir, fmt.Sprint(id), false)
	if err != nil {
		sv.srv, _ = startServer(filepath.Join(e.FS.Root, from), e.sockDir, fmt.Sprint(id), false)
		return err
	}
	sv.srv = srv
	return nil
}

// Delete removes the volume and every layer nothing else needs any more.
// Layers still backing other volumes stay, unmerged, until those go too.
func (e *Engine) Delete(id strategies.VolumeID) error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return e.ErrClosed()
	}
	r := e.T.Vols.Find(id)
	if r == nil {
		return fmt.Errorf("qcow2: delete volume %d: %w", id, strategies.ErrNotFound)
	}
	if err := e.handles.Busy(name, "delete", id, r.Name); err != nil {
		return err
	}
	vname := r.Name
	old := e.T.Clone()
	e.T.Vols = e.T.Vols.Without(id)
	gone := unreferenced(e.T)
	if err := e.Commit(old); err != nil {
		return fmt.Errorf("qcow2: delete %q: %w", vname, err)
	}
	for _, f := range gone { // a crash from here leaves files that Open removes
		if err := os.Remove(filepath.Join(e.FS.Root, f)); err != nil {
			return fmt.Errorf("qcow2: delete %q: %w", vname, err)
		}
	}
	return nil
}

// Open starts qemu-nbd on the volume's top layer for its first handle;
// further handles share it.
func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return nil, e.ErrClosed()
	}
	r := e.T.Vols.Find(id)
	if r == nil {
		return nil, fmt.Errorf("qcow2: open volume %d: %w", id, strategies.ErrNotFound)
	}
	sv := e.open[id]
	if sv == nil {
		srv, err := startServer(filepath.Join(e.FS.Root, r.File), e.sockDir, fmt.Sprint(id), r.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("qcow2: open %q: %w", r.Name, err)
		}
		if srv.client.Size() != r.Size || srv.client.SectorSize() > e.FS.Sector {
			srv.stop()
			return nil, fmt.Errorf("qcow2: open %q: %w: qemu-nbd exports %d bytes with %d-byte blocks, want %d with %d",
				r.Name, strategies.ErrCorrupt, srv.client.Size(), srv.client.SectorSize(), r.Size, e.FS.Sector)
		}
		sv = &served{srv: srv}
		e.open[id] = sv
	}
	v := &volume{e: e, sv: sv, id: id, size: r.Size, sector: e.FS.Sector, readOnly: r.ReadOnly}
	// The last handle of a volume to close stops its qemu-nbd.
	v.Init(fmt.Sprintf("qcow2: volume %d", id), nil, func() error { return e.release(v) })
	e.handles.Add(id, v)
	return v, nil
}

func (e *Engine) release(v *volume) error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
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
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return nil
	}
	r := refs(e.T)
	out := make([]strategies.VolumeInfo, 0, len(e.T.Vols))
	for _, v := range e.T.Vols {
		var private int64
		for f := v.File; f != "" && r[f] == 1; {
			private += allocated(filepath.Join(e.FS.Root, f))
			l := layerOf(e.T, f)
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
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return strategies.Space{}
	}
	s, err := peer.StatfsSpace(e.FS, e.T, -1)
	if err != nil {
		return strategies.Space{}
	}
	return s
}

// Flush flushes every open volume's qemu-nbd, then the file system.
func (e *Engine) Flush() error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return e.ErrClosed()
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
	if err := e.FS.Sync(); err != nil {
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
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if e.Closed {
		return e.ErrClosed()
	}
	diff, err := e.CheckTable()
	if err != nil {
		return err
	}
	var errs []error
	if diff != nil {
		errs = append(errs, diff)
	}
	sizes := make(map[string]int64)
	for _, v := range e.T.Vols {
		if layerOf(e.T, v.File) == nil {
			errs = append(errs, fmt.Errorf("volume %q: top layer %s is not in the table", v.Name, v.File))
		}
		for f := v.File; f != ""; {
			sizes[f] = v.Size
			l := layerOf(e.T, f)
			if l == nil {
				break
			}
			f = l.Backing
		}
	}
	for _, l := range e.T.Layers {
		size, ok := sizes[l.File]
		if !ok {
			errs = append(errs, fmt.Errorf("layer %s is in no volume's chain", l.File))
			continue
		}
		h, err := readHeader(filepath.Join(e.FS.Root, l.File))
		switch {
		case err != nil:
			errs = append(errs, err)
		case h.size != size:
			errs = append(errs, fmt.Errorf("layer %s: virtual size %d, volume size %d", l.File, h.size, size))
		case h.backing != filepath.Base(l.Backing) && !(h.backing == "" && l.Backing == ""):
			errs = append(errs, fmt.Errorf("layer %s: backing file %q, table says %q", l.File, h.backing, l.Backing))
		}
	}
	if stray, err := strayFiles(e.Base); err != nil {
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

// Close stops every qemu-nbd (closing their handles), unmounts the file
// system and detaches its loop device. It does not flush beyond what
// qemu-nbd does when its client leaves.
func (e *Engine) Close() error {
	e.Mu.Lock()
	if e.Closed {
		e.Mu.Unlock()
		return nil
	}
	e.Closed = true
	open, handles := e.open, e.handles.Take()
	e.open = map[strategies.VolumeID]*served{}
	e.Mu.Unlock()
	for _, v := range handles {
		v.Close() // the engine no longer knows v: its release does nothing
	}
	var errs []error
	for _, sv := range open {
		errs = append(errs, e.stopServed(sv))
	}
	errs = append(errs, e.FS.Close(), os.RemoveAll(e.sockDir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("qcow2: close: %w", err)
	}
	return nil
}
