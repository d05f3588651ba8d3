package rbd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/peer"
)

const name = "rbd"

// cloneWorkers bounds the clones CloneMany creates at once.
const cloneWorkers = 16

func init() {
	strategies.Register(strategies.Factory{
		Peer:     true,
		Name:     name,
		Doc:      "Ceph RBD images through librbd: snapshot is an RBD snapshot, clone is layering on a snapshot (real-system peer)",
		Params:   params,
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

var params = []strategies.Param{
	{Name: "conf", Help: "ceph.conf of the cluster (default: $SNAPBENCH_CEPH_CONF, else /etc/ceph/ceph.conf)"},
	{Name: "pool", Help: "RBD pool for the images (default: $SNAPBENCH_CEPH_POOL, else rbd)"},
	{Name: "client", Default: "admin", Help: "cephx client id (client.ID)"},
	{Name: "order", Default: "22", Help: "object size as a power of two, 12 (4 KiB) to 25 (32 MiB); 22 is RBD's 4 MiB"},
	{Name: "features", Default: "layering", Help: "image features joined by '+': layering, exclusive-lock, object-map, fast-diff, deep-flatten"},
	{Name: "clone-format", Default: "2", Help: "1: clone a protected snapshot; 2: no protection, snapshots with clones can be trashed"},
	{Name: "flatten-on-delete", Default: "false", Help: "delete a volume whose children are all clones by flattening them first"},
	{Name: "prefix", Default: "snapbench", Help: "image name prefix (an instance suffix is added)"},
	{Name: "purge", Default: "false", Help: "remove every image and the table of this engine at Close (throwaway runs: cannot be reopened)"},
}

var featureBits = map[string]uint64{"layering": 1, "striping": 2, "exclusive-lock": 4, "object-map": 8, "fast-diff": 16, "deep-flatten": 32}

// settings are the resolved options.
type settings struct {
	conn     connConfig
	order    int32
	features uint64
	flatten  bool
	prefix   string
	purge    bool
}

func resolve(opts strategies.Options) (settings, error) {
	p := opts.Params
	s := settings{prefix: p["prefix"]}
	s.conn = connConfig{Conf: p["conf"], Pool: p["pool"], ClientID: p["client"], CloneFormat: p["clone-format"]}
	if s.conn.Conf == "" {
		s.conn.Conf = os.Getenv("SNAPBENCH_CEPH_CONF")
	}
	if s.conn.Conf == "" {
		s.conn.Conf = "/etc/ceph/ceph.conf"
	}
	if s.conn.Pool == "" {
		s.conn.Pool = os.Getenv("SNAPBENCH_CEPH_POOL")
	}
	if s.conn.Pool == "" {
		s.conn.Pool = "rbd"
	}
	bad := func(k, why string) (settings, error) {
		return settings{}, fmt.Errorf("rbd: option %s=%q: %w: %s", k, p[k], strategies.ErrInvalidArgument, why)
	}
	order, err := opts.Int(name, "order")
	if err != nil {
		return settings{}, err
	}
	if order < 12 || order > 25 {
		return bad("order", "must be 12 to 25")
	}
	s.order = int32(order)
	for _, f := range strings.Split(p["features"], "+") {
		b, ok := featureBits[strings.TrimSpace(f)]
		if !ok {
			return bad("features", "known: layering, striping, exclusive-lock, object-map, fast-diff, deep-flatten")
		}
		s.features |= b
	}
	if s.features&1 == 0 {
		return bad("features", "clones need layering")
	}
	if s.conn.CloneFormat != "1" && s.conn.CloneFormat != "2" {
		return bad("clone-format", "1 or 2")
	}
	if s.flatten, err = opts.Bool(name, "flatten-on-delete"); err != nil {
		return settings{}, err
	}
	if s.purge, err = opts.Bool(name, "purge"); err != nil {
		return settings{}, err
	}
	if s.prefix == "" || strings.ContainsAny(s.prefix, "/@. ") {
		return bad("prefix", "non-empty, without '/', '@', '.' or spaces")
	}
	return s, nil
}

// Engine is the rbd engine. Safe for concurrent use; metadata operations
// are serialised, IO is not.
type Engine struct {
	// Snapshot, Clone and CloneMany: copies. CloneMany takes one snapshot
	// of src (none if src is a snapshot), protects it for clone format 1,
	// and clones it len(names) times, up to cloneWorkers at once from this
	// process; the table is saved once.
	peer.Copier
	s      settings
	c      *conn
	dev    device.Device
	chunk  int
	osds   []int
	base   osdCounters
	mu     sync.Mutex
	t      *table
	vols   peer.Handles[*volume]
	closed bool
}

// Validate reports whether Format would accept opts, writing nothing: the
// options resolve, librbd loads, and the cluster and pool answer.
func Validate(_ device.Device, opts strategies.Options) error {
	s, err := resolve(opts)
	if err != nil {
		return err
	}
	c, err := dial(s.conn)
	if err != nil {
		return err
	}
	c.close()
	return nil
}

// Format connects to the cluster, writes the engine's header (its
// instance name: the prefix of every image it makes) on dev and an empty
// volume table in the pool.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := start(dev, opts)
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		e.Close()
		return nil, fmt.Errorf("rbd: format: %w", err)
	}
	e.t = &table{Engine: name, Instance: e.s.prefix + "-" + hex.EncodeToString(rnd[:]), NextID: 1}
	err = e.c.saveTable(e.t)
	if err == nil {
		err = writeHeader(dev, header{Instance: e.t.Instance, Pool: e.s.conn.Pool})
	}
	if err != nil {
		e.c.removeObject(tableOID(e.t.Instance))
		e.Close()
		return nil, fmt.Errorf("rbd: format: %w", err)
	}
	return e, nil
}

// Open reads the header on dev, connects, loads the volume table and
// removes what an interrupted operation left: images of this instance and
// snapshots that no volume uses.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	h, err := readHeader(dev)
	if err != nil {
		return nil, err
	}
	e, err := start(dev, opts)
	if err != nil {
		return nil, err
	}
	if h.Pool != e.s.conn.Pool {
		e.Close()
		return nil, fmt.Errorf("rbd: open: %w: the engine was formatted in pool %q, the options say %q", strategies.ErrInvalidArgument, h.Pool, e.s.conn.Pool)
	}
	if e.t, err = e.c.loadTable(h.Instance); err == nil {
		err = e.removeOrphans()
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("rbd: open: %w", err)
	}
	return e, nil
}

func start(dev device.Device, opts strategies.Options) (*Engine, error) {
	s, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	c, err := dial(s.conn)
	if err != nil {
		return nil, err
	}
	e := &Engine{s: s, c: c, dev: dev, chunk: opts.ChunkSize}
	e.Copier = e.copies
	if e.osds, err = c.osds(); err == nil {
		e.base, err = c.perf(e.osds)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) Name() string { return name }

// Caps: snapshots and clones of anything (a snapshot of a snapshot is the
// same RBD snapshot), many volumes, thin. Not DeleteParent: RBD refuses
// to remove an image with snapshots or a snapshot with clones; with
// flatten-on-delete a volume whose children are all clones is deleted
// after flattening them.
func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, MultiVolume: true, Thin: true}
}

func (e *Engine) errClosed() error { return fmt.Errorf("rbd: %w", strategies.ErrClosed) }

func (e *Engine) imageName(id strategies.VolumeID) string {
	return fmt.Sprintf("%s.%d", e.t.Instance, id)
}

// commit saves the table; on error the table is rolled back to old.
func (e *Engine) commit(old *table) error {
	if err := e.c.saveTable(e.t); err != nil {
		e.t = old
		return err
	}
	return nil
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
	old := e.t.clone()
	r := record{VolumeMeta: peer.VolumeMeta{ID: e.t.NextID, Name: vname, Kind: strategies.KindBase, Size: size},
		Image: e.imageName(e.t.NextID)}
	order := e.s.order
	if rc := e.c.l.rbdCreate2(e.c.ioctx, r.Image, uint64(size), e.s.features, ptr(&order)); rc < 0 {
		return 0, fmt.Errorf("rbd: create %q (image %s): %w", vname, r.Image, cerr(int64(rc)))
	}
	e.t.NextID++
	e.t.Vols = append(e.t.Vols, r)
	if err := e.commit(old); err != nil {
		e.c.removeImage(r.Image)
		return 0, fmt.Errorf("rbd: create %q: %w", vname, err)
	}
	return r.ID, nil
}

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
	old := e.t.clone()
	fail := func(err error) ([]strategies.VolumeID, error) {
		e.t = old
		return nil, fmt.Errorf("rbd: %s of %q: %w", kind, srcRec.Name, err)
	}
	// The RBD snapshot the copies are made of: src's own when src is a
	// snapshot, else a new one.
	img, snap, madeSnap := srcRec.Image, srcRec.Snap, false
	if snap == "" {
		tag := "c"
		if kind == strategies.KindSnapshot {
			tag = "s"
		}
		snap = fmt.Sprintf("%s.%s%d", e.s.prefix, tag, e.t.NextID)
		if err := e.c.withImage(img, func(im *image) error { return im.snapCreate(snap) }); err != nil {
			return fail(err)
		}
		madeSnap = true
	}
	undoSnap := func() {
		if madeSnap {
			e.c.withImage(img, func(im *image) error { return im.snapRemove(snap) })
		}
	}
	made := make([]record, len(names))
	for i, n := range names {
		made[i] = record{VolumeMeta: peer.VolumeMeta{ID: e.t.NextID, Name: n, Parent: src, Kind: kind, Size: srcRec.Size}}
		e.t.NextID++
		if kind == strategies.KindSnapshot {
			made[i].Image, made[i].Snap, made[i].ReadOnly = img, snap, true
		} else {
			made[i].Image, made[i].OriginImage, made[i].OriginSnap = e.imageName(made[i].ID), img, snap
		}
	}
	if kind == strategies.KindClone {
		if e.s.conn.CloneFormat == "1" {
			if err := e.c.withImage(img, func(im *image) error { return im.protect(snap) }); err != nil {
				undoSnap()
				return fail(err)
			}
		}
		if err := e.cloneAll(img, snap, made); err != nil {
			undoSnap()
			return fail(err)
		}
	}
	e.t.Vols = append(e.t.Vols, made...)
	if err := e.commit(old); err != nil {
		if kind == strategies.KindClone {
			for _, r := range made {
				e.c.removeImage(r.Image)
			}
		}
		undoSnap()
		return nil, fmt.Errorf("rbd: %s of %q: %w", kind, srcRec.Name, err)
	}
	ids := make([]strategies.VolumeID, len(made))
	for i, r := range made {
		ids[i] = r.ID
	}
	return ids, nil
}

// cloneAll clones image@snap into every record's image, cloneWorkers at
// a time; on error it removes the clones it made.
func (e *Engine) cloneAll(img, snap string, recs []record) error {
	errs := make([]error, len(recs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(cloneWorkers, len(recs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				order := e.s.order
				if rc := e.c.l.rbdClone2(e.c.ioctx, img, snap, e.c.ioctx, recs[i].Image, e.s.features, ptr(&order), 0, 0); rc < 0 {
					errs[i] = fmt.Errorf("clone %s@%s to %s: %w", img, snap, recs[i].Image, cerr(int64(rc)))
				}
			}
		}()
	}
	for i := range recs {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for i, r := range recs {
			if errs[i] == nil {
				e.c.removeImage(r.Image)
			}
		}
		return err
	}
	return nil
}

// Delete removes a volume: a snapshot's RBD snapshot once no other volume
// uses it, a base's or clone's image with its snapshots. A volume with
// children is refused with ErrHasChildren, unless flatten-on-delete is
// set and every child is a clone: the children are flattened (they copy
// up every object they still share) first.
func (e *Engine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	r := e.t.Vols.Find(id)
	if r == nil {
		return fmt.Errorf("rbd: delete volume %d: %w", id, strategies.ErrNotFound)
	}
	if err := e.vols.Busy(name, "delete", id, r.Name); err != nil {
		return err
	}
	rec := *r
	kids := e.t.Vols.Children(id)
	if len(kids) > 0 {
		if !e.s.flatten {
			return fmt.Errorf("rbd: delete %q: %w: %d volumes were made from it", rec.Name, strategies.ErrHasChildren, len(kids))
		}
		for _, k := range kids {
			if k.Kind != strategies.KindClone || k.OriginImage == "" {
				return fmt.Errorf("rbd: delete %q: %w: %s %q cannot be flattened", rec.Name, strategies.ErrHasChildren, k.Kind, k.Name)
			}
		}
		for _, k := range kids {
			if e.vols.Open(k.ID) {
				return fmt.Errorf("rbd: delete %q: flatten %q: %w", rec.Name, k.Name, strategies.ErrBusy)
			}
		}
		for _, k := range kids {
			if err := e.c.withImage(k.Image, (*image).flatten); err != nil {
				return fmt.Errorf("rbd: delete %q: %w", rec.Name, err)
			}
			k.OriginImage, k.OriginSnap = "", ""
		}
		if err := e.c.saveTable(e.t); err != nil { // the flattening, even if what follows fails
			return fmt.Errorf("rbd: delete %q: %w", rec.Name, err)
		}
	}
	old := e.t.clone()
	e.t.Vols = e.t.Vols.Without(id)
	if err := e.commit(old); err != nil {
		return fmt.Errorf("rbd: delete %q: %w", rec.Name, err)
	}
	// The table no longer lists it: a crash from here leaves an orphan
	// image or snapshot that the next Open removes.
	var err error
	if rec.Snap == "" {
		err = e.c.removeImage(rec.Image)
	} else {
		err = e.gcSnap(rec.Image, rec.Snap)
	}
	if err == nil && rec.OriginImage != "" {
		err = e.gcSnap(rec.OriginImage, rec.OriginSnap)
	}
	if err != nil {
		return fmt.Errorf("rbd: delete %q: %w", rec.Name, err)
	}
	return nil
}

// gcSnap removes image@snap when no volume uses it and the image is still
// there.
func (e *Engine) gcSnap(img, snap string) error {
	if snap == "" || e.t.snapUsed(img, snap) || !e.t.imageUsed(img) {
		return nil
	}
	err := e.c.withImage(img, func(im *image) error { return im.snapRemove(snap) })
	if isErrno(err, syscall.ENOENT) {
		return nil
	}
	return err
}

func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, e.errClosed()
	}
	r := e.t.Vols.Find(id)
	if r == nil {
		return nil, fmt.Errorf("rbd: open volume %d: %w", id, strategies.ErrNotFound)
	}
	im, err := e.c.openImage(r.Image, r.Snap)
	if err != nil {
		return nil, fmt.Errorf("rbd: open %q: %w", r.Name, err)
	}
	v := &volume{e: e, id: id, im: im, size: r.Size, readOnly: r.ReadOnly}
	// Close does not flush (librbd caches nothing here): it closes the image.
	v.Init(fmt.Sprintf("rbd: volume %d", id), nil, func() error {
		e.release(v)
		return v.im.close()
	})
	e.vols.Add(id, v)
	return v, nil
}

func (e *Engine) release(v *volume) {
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

// Space is the cluster's: its raw capacity and free bytes (every pool,
// every replica), Data the bytes the pool stores (as the monitors last
// heard from the OSDs: seconds behind), Metadata the rest of what is used
// (other pools, BlueStore and RocksDB).
func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return strategies.Space{}
	}
	capacity, free, pool, err := e.c.space()
	if err != nil {
		return strategies.Space{}
	}
	used := capacity - free
	data := min(max(pool, 0), used)
	return strategies.Space{Capacity: capacity, Free: free, Data: data, Metadata: used - data}
}

// Flush flushes every open image (with the client cache off, writes are
// on the OSDs when acknowledged; this waits for any in flight).
func (e *Engine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.errClosed()
	}
	var err error
	e.vols.Each(func(v *volume) {
		if err == nil {
			err = v.im.flush()
		}
	})
	if err != nil {
		return fmt.Errorf("rbd: flush: %w", err)
	}
	return nil
}

// Stats reports what the cluster's OSDs did since the engine was opened,
// from their perf counters (every client of the cluster counts, not this
// engine alone), under the keys real-system peers use for device IO, and
// cluster_osds to mark them cluster-side: fs_read_ios/bytes are client
// reads the OSDs served; fs_write_ios are client writes (copy-ups
// included), fs_write_bytes the bytes they carried plus replication
// writes between OSDs; cluster_store_write_bytes what BlueStore wrote for
// data.
func (e *Engine) Stats() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return map[string]int64{}
	}
	now, err := e.c.perf(e.osds)
	if err != nil {
		return map[string]int64{}
	}
	b := e.base
	return map[string]int64{
		"fs_read_ios":               now.readOps - b.readOps,
		"fs_read_bytes":             now.readBytes - b.readBytes,
		"fs_write_ios":              now.writeOps - b.writeOps,
		"fs_write_bytes":            now.writeBytes - b.writeBytes + now.subopWriteBytes - b.subopWriteBytes,
		"fs_discard_ios":            0,
		"fs_discard_bytes":          0,
		"fs_flush_ios":              0,
		"cluster_store_write_bytes": now.storeWriteBytes - b.storeWriteBytes,
		"cluster_osds":              int64(len(e.osds)),
	}
}

// Close closes every handle still open and disconnects; with purge it
// first removes every image and snapshot of this instance and its table.
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
	var err error
	if e.s.purge && e.t != nil {
		err = e.purge()
	}
	e.c.close()
	if err != nil {
		return fmt.Errorf("rbd: close: %w", err)
	}
	return nil
}

// purge removes the instance's images, clones first, and its table.
func (e *Engine) purge() error {
	imgs, err := e.instanceImages()
	if err != nil {
		return err
	}
	if err := e.c.removeImages(imgs); err != nil {
		return err
	}
	return e.c.removeObject(tableOID(e.t.Instance))
}

// instanceImages lists the pool's images of this engine instance.
func (e *Engine) instanceImages() ([]string, error) {
	all, err := e.c.images()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range all {
		if strings.HasPrefix(n, e.t.Instance+".") {
			out = append(out, n)
		}
	}
	return out, nil
}
