package cow

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

const (
	kindBase     = strategies.KindBase
	kindSnapshot = strategies.KindSnapshot
	kindClone    = strategies.KindClone
)

func init() {
	strategies.Register(strategies.Factory{
		Name: "cow",
		Doc:  "classic copy-on-write (dm-snapshot, old LVM snapshots): bases written in place, a fixed delta area per snapshot or clone",
		Params: []strategies.Param{
			{Name: "delta-percent", Default: "20",
				Help: "capacity of each snapshot's or clone's delta (exception store) as a percentage of its base's size, 0 < p <= 100"},
			{Name: "delta-min", Default: "4194304",
				Help: "minimum delta capacity in bytes (LVM allocates snapshot space in whole 4 MiB extents); never more than the base, at least one chunk"},
			{Name: "max-volumes", Default: "1024",
				Help: "number of volumes the on-device volume table can hold"},
		},
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

// Engine is the cow engine laid on one device. Every method is safe for
// concurrent use. See the package documentation for the mechanism, the
// layout and the lock order.
type Engine struct {
	dev      device.Device
	geo      geometry
	sector   int
	memAlign int
	slots    *meta.DualSlot
	fl       *flusher
	stats    counters
	nonce    uint64 // identifies this format in every table block
	closed   atomic.Bool

	mu          sync.Mutex // volume table: vols, nextID, invalidated; held across its commits
	vols        []*vol     // ascending id, including volumes being created
	nextID      strategies.VolumeID
	invalidated int64
}

// vol is one volume in memory. The volRec fields are immutable except
// invalid (guarded by Engine.mu).
type vol struct {
	volRec
	creating bool // guarded by Engine.mu: extent reserved, not yet committed
	open     int  // guarded by Engine.mu: open handles
	b        *baseState
	d        *delta
}

// Validate checks what Format would refuse (options, space for the
// layout) without writing to dev.
func Validate(dev device.Device, opts strategies.Options) error {
	_, err := newEngine(dev, opts)
	return err
}

// Format lays an empty cow engine on dev (the engine area) and makes it
// durable: both volume-table slots hold an empty table. Nothing else needs
// initialising: exception-table blocks are only believed when they carry this
// format's nonce and their volume's id.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("cow: format nonce: %w", err)
	}
	e.nonce = binary.LittleEndian.Uint64(b[:]) | 1
	e.nextID = 1
	if err := e.slots.Format(e.encodeLocked()); err != nil {
		return nil, fmt.Errorf("cow: format: %w", err)
	}
	return e, nil
}

// Open reads the volume table and every valid delta's exception table from
// dev. It fails with an error wrapping ErrCorrupt when the metadata is
// damaged.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	t, err := e.loadVolTable()
	if err != nil {
		return nil, err
	}
	e.nonce, e.nextID, e.invalidated = t.nonce, t.nextID, t.invalidated
	byID := make(map[strategies.VolumeID]*vol, len(t.vols))
	for _, r := range t.vols {
		v := &vol{volRec: r}
		if r.kind == kindBase {
			v.b = newBaseState(uint32(r.size >> e.geo.shift))
		}
		byID[r.id] = v
		e.vols = append(e.vols, v)
	}
	for _, v := range e.vols {
		if v.kind == kindBase {
			continue
		}
		base := byID[v.parent]
		v.d = newDelta(v, base, e.geo)
		base.b.deps = append(base.b.deps, v)
		if v.invalid {
			v.d.invalid.Store(true)
			continue
		}
		l := newTableLoad(e.nonce, v.id, base.b.chunks, v.capChunks)
		if err := loadTable(e.dev, v.d.tableOff, l); err != nil {
			return nil, err
		}
		v.d.adopt(l)
	}
	return e, nil
}

func newEngine(dev device.Device, opts strategies.Options) (*Engine, error) {
	g, err := newGeometry(dev.Size(), opts)
	if err != nil {
		return nil, err
	}
	if dev.SectorSize() > blockSize || blockSize%dev.SectorSize() != 0 {
		return nil, fmt.Errorf("cow: sector size %d: %w", dev.SectorSize(), strategies.ErrInvalidArgument)
	}
	return &Engine{dev: dev, geo: g, sector: dev.SectorSize(), memAlign: max(device.Describe(dev).MemAlign, 1),
		slots: meta.NewDualSlot(dev, 0, g.slotSize, g.slotSize), fl: newFlusher(dev)}, nil
}

// loadVolTable reads, decodes and validates the newest volume table.
func (e *Engine) loadVolTable() (volTable, error) {
	rec, err := e.slots.Load()
	switch {
	case errors.Is(err, meta.ErrNoRecord):
		return volTable{}, fmt.Errorf("cow: %w: no valid volume table", strategies.ErrCorrupt)
	case err != nil:
		return volTable{}, fmt.Errorf("cow: read volume table: %w", err)
	}
	t, err := decodeVolTable(rec)
	if err != nil {
		return volTable{}, err
	}
	if err := e.geo.validate(t); err != nil {
		return volTable{}, err
	}
	return t, nil
}

func (e *Engine) tableLocked() volTable {
	t := volTable{nonce: e.nonce, nextID: e.nextID, invalidated: e.invalidated, vols: make([]volRec, 0, len(e.vols))}
	for _, v := range e.vols {
		if !v.creating {
			t.vols = append(t.vols, v.volRec)
		}
	}
	return t
}

func (e *Engine) encodeLocked() []byte { return encodeVolTable(e.tableLocked()) }

// commitLocked writes the volume table (one slot write and a flush). The
// caller must have made durable everything the new table refers to.
func (e *Engine) commitLocked() error {
	rec := e.encodeLocked()
	if len(rec) > e.slots.MaxPayload() {
		return fmt.Errorf("cow: %w: volume table full (%d bytes, slot holds %d)", strategies.ErrNoSpace, len(rec), e.slots.MaxPayload())
	}
	if err := e.slots.Commit(rec); err != nil {
		return fmt.Errorf("cow: commit volume table: %w", err)
	}
	return nil
}

func (e *Engine) findLocked(id strategies.VolumeID) *vol {
	i, ok := slices.BinarySearchFunc(e.vols, id, func(v *vol, id strategies.VolumeID) int {
		switch {
		case v.id < id:
			return -1
		case v.id > id:
			return 1
		}
		return 0
	})
	if !ok || e.vols[i].creating {
		return nil
	}
	return e.vols[i]
}

func (e *Engine) nameTakenLocked(name string) bool {
	for _, v := range e.vols {
		if v.name == name {
			return true
		}
	}
	return false
}

func (e *Engine) removeLocked(v *vol) {
	if i := slices.Index(e.vols, v); i >= 0 {
		e.vols = slices.Delete(e.vols, i, i+1)
	}
}

// insertLocked adds v keeping e.vols sorted by id.
func (e *Engine) insertLocked(v *vol) {
	i := len(e.vols)
	for i > 0 && e.vols[i-1].id > v.id {
		i--
	}
	e.vols = slices.Insert(e.vols, i, v)
}

// allocLocked finds room for an extent of length bytes, first fit in offset
// order, starting on a chunk boundary. O(volumes log volumes).
func (e *Engine) allocLocked(length int64) (int64, bool) {
	type ext struct{ off, end int64 }
	exts := make([]ext, 0, len(e.vols))
	for _, v := range e.vols {
		exts = append(exts, ext{v.off, v.off + v.length})
	}
	slices.SortFunc(exts, func(a, b ext) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	cand := e.geo.dataStart
	for _, x := range exts {
		if x.off-cand >= length {
			return cand, true
		}
		cand = max(cand, roundUp(x.end, e.geo.chunk))
	}
	if e.geo.capacity-cand >= length {
		return cand, true
	}
	return 0, false
}

func (e *Engine) checkOpen() error {
	if e.closed.Load() {
		return fmt.Errorf("cow: %w", strategies.ErrClosed)
	}
	return nil
}

// Name returns "cow".
func (e *Engine) Name() string { return "cow" }

// Caps: snapshots and clones of bases, several bases; no nesting, no
// deleting a base with dependents, no thin provisioning.
func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, MultiVolume: true}
}

// Create makes a fully provisioned base volume: it reserves a contiguous
// extent of size bytes, zeroes it durably, then commits the volume table.
// The engine lock is not held while zeroing. Cost: one zeroing of the extent
// (a discard or zero-range on devices that have one), two flushes, one
// volume-table write.
func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName("cow", name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize("cow", size, int(e.geo.chunk)); err != nil {
		return 0, err
	}
	if err := e.checkOpen(); err != nil {
		return 0, err
	}
	if size > e.geo.capacity-e.geo.dataStart {
		return 0, fmt.Errorf("cow: create %q of %d bytes: %w", name, size, strategies.ErrNoSpace)
	}
	if size>>e.geo.shift > maxChunks {
		return 0, fmt.Errorf("cow: create %q: %w: more than %d chunks", name, strategies.ErrInvalidArgument, maxChunks)
	}
	e.mu.Lock()
	if e.nameTakenLocked(name) {
		e.mu.Unlock()
		return 0, fmt.Errorf("cow: create %q: %w", name, strategies.ErrExists)
	}
	if len(e.vols) >= e.geo.maxVols {
		e.mu.Unlock()
		return 0, fmt.Errorf("cow: create %q: %w: volume table holds %d volumes", name, strategies.ErrNoSpace, e.geo.maxVols)
	}
	off, ok := e.allocLocked(size)
	if !ok {
		e.mu.Unlock()
		return 0, fmt.Errorf("cow: create %q of %d bytes: %w", name, size, strategies.ErrNoSpace)
	}
	v := &vol{volRec: volRec{id: e.nextID, kind: kindBase, size: size, off: off, length: size, name: name}, creating: true}
	v.b = newBaseState(uint32(size >> e.geo.shift))
	e.nextID++
	e.insertLocked(v)
	e.mu.Unlock()

	err := zeroExtent(e.dev, off, size)
	if err != nil {
		err = fmt.Errorf("cow: create %q: zero extent: %w", name, err)
	} else {
		err = e.fl.flush()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		v.creating = false
		if err = e.commitLocked(); err != nil {
			v.creating = true
		}
	}
	if err != nil {
		e.removeLocked(v)
		if e.nextID == v.id+1 {
			e.nextID--
		}
		return 0, err
	}
	return v.id, nil
}

// zeroExtent makes [off, off+n) read as zeros, durable after the next flush:
// a discard where the device guarantees zeros after one (memory devices and
// regular files, which punch a hole), device.Zero (BLKZEROOUT, zero-range or
// written zeros) elsewhere.
func zeroExtent(dev device.Device, off, n int64) error {
	if k := device.Describe(dev).Kind; k == device.KindMem || k == device.KindFile {
		if d, ok := dev.(device.Discarder); ok {
			return d.Discard(off, n)
		}
	}
	return device.Zero(dev, off, n)
}

// Snapshot makes a read-only point-in-time copy of a base: an empty delta
// of delta-percent of the base. Writes to the base are held off while it
// flushes the device (so the snapshot captures every acknowledged write,
// durably) and commits the volume table. Snapshots of snapshots or clones
// are unsupported. O(volumes) plus one flush and one volume-table write.
func (e *Engine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.copies(src, []string{name}, kindSnapshot)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// Clone makes a writable point-in-time copy of a base, as Snapshot does.
func (e *Engine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.copies(src, []string{name}, kindClone)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// CloneMany creates clones of a base with one flush and one volume-table
// commit: all of them or, on error, none.
func (e *Engine) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ids, err := e.copies(src, names, kindClone)
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func (e *Engine) copies(src strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	what := kind.String()
	for i, n := range names {
		if err := strategies.ValidateName("cow", n); err != nil {
			return nil, err
		}
		if slices.Contains(names[:i], n) {
			return nil, fmt.Errorf("cow: %s %q: %w (named twice)", what, n, strategies.ErrExists)
		}
	}
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	sv := e.findLocked(src)
	e.mu.Unlock()
	if sv == nil {
		return nil, fmt.Errorf("cow: %s of volume %d: %w", what, src, strategies.ErrNotFound)
	}
	if sv.kind != kindBase {
		return nil, fmt.Errorf("cow: %s of %s %q: %w (snapshots and clones of bases only)", what, sv.kind, sv.name, strategies.ErrUnsupported)
	}
	// Hold off base writes: the new deltas start empty, so every
	// acknowledged base write must be durable before they exist.
	sv.b.gate.Lock()
	defer sv.b.gate.Unlock()
	if err := e.fl.flush(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.findLocked(src) != sv {
		return nil, fmt.Errorf("cow: %s of volume %d: %w", what, src, strategies.ErrNotFound)
	}
	for _, n := range names {
		if e.nameTakenLocked(n) {
			return nil, fmt.Errorf("cow: %s %q: %w", what, n, strategies.ErrExists)
		}
	}
	if len(e.vols)+len(names) > e.geo.maxVols {
		return nil, fmt.Errorf("cow: %s: %w: volume table holds %d volumes", what, strategies.ErrNoSpace, e.geo.maxVols)
	}
	capChunks := e.geo.deltaChunks(sv.size)
	length := e.geo.deltaLength(capChunks)
	firstID := e.nextID
	added := make([]*vol, 0, len(names))
	undo := func() {
		for _, v := range added {
			e.removeLocked(v)
		}
		e.nextID = firstID
	}
	for _, n := range names {
		off, ok := e.allocLocked(length)
		if !ok {
			undo()
			return nil, fmt.Errorf("cow: %s %q: %w: no room for a delta of %d bytes", what, n, strategies.ErrNoSpace, length)
		}
		v := &vol{volRec: volRec{id: e.nextID, kind: kind, parent: sv.id, size: sv.size, off: off,
			length: length, capChunks: capChunks, name: n}}
		v.d = newDelta(v, sv, e.geo)
		e.nextID++
		e.insertLocked(v)
		added = append(added, v)
	}
	if err := e.commitLocked(); err != nil {
		undo()
		return nil, err
	}
	ids := make([]strategies.VolumeID, len(added))
	for i, v := range added {
		ids[i] = v.id
	}
	sv.b.deps = append(sv.b.deps, added...)
	sv.b.clearCopied()
	return ids, nil
}

// Delete removes a volume and frees its extent at once (a snapshot's or
// clone's delta included). It fails with ErrBusy while the volume is open
// and with ErrHasChildren for a base that still has snapshots or clones.
// One volume-table write.
func (e *Engine) Delete(id strategies.VolumeID) error {
	if err := e.checkOpen(); err != nil {
		return err
	}
	e.mu.Lock()
	v := e.findLocked(id)
	if err := e.deletableLocked(v, id); err != nil {
		e.mu.Unlock()
		return err
	}
	var base *vol
	if v.d != nil {
		base = v.d.base
	}
	e.mu.Unlock()
	if base != nil {
		// No base write may be copying into the delta while it goes.
		base.b.gate.Lock()
		defer base.b.gate.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.findLocked(id) != v {
		return fmt.Errorf("cow: delete volume %d: %w", id, strategies.ErrNotFound)
	}
	if err := e.deletableLocked(v, id); err != nil {
		return err
	}
	if v.d != nil {
		// Wait out a table write in flight (an engine Flush) and stop any
		// other before the extent can be reused.
		v.d.commitMu.Lock()
		defer v.d.commitMu.Unlock()
		v.d.gone = true
	}
	e.removeLocked(v)
	if err := e.commitLocked(); err != nil {
		e.insertLocked(v)
		if v.d != nil {
			v.d.gone = false
		}
		return err
	}
	if base != nil {
		base.b.deps = slices.DeleteFunc(base.b.deps, func(d *vol) bool { return d == v })
	}
	return nil
}

func (e *Engine) deletableLocked(v *vol, id strategies.VolumeID) error {
	switch {
	case v == nil:
		return fmt.Errorf("cow: delete volume %d: %w", id, strategies.ErrNotFound)
	case v.open > 0:
		return fmt.Errorf("cow: delete %q: %w", v.name, strategies.ErrBusy)
	case v.b != nil && len(v.b.deps) > 0:
		return fmt.Errorf("cow: delete %q: %w (%d snapshots or clones)", v.name, strategies.ErrHasChildren, len(v.b.deps))
	}
	return nil
}

// Open returns a handle for IO on a volume. A volume may be open several
// times.
func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.findLocked(id)
	if v == nil {
		return nil, fmt.Errorf("cow: open volume %d: %w", id, strategies.ErrNotFound)
	}
	v.open++
	return &handle{e: e, v: v}, nil
}

// Volumes lists every volume by id. PrivateBytes is the volume's extent: a
// base's data, or a delta's chunks plus its exception table.
func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]strategies.VolumeInfo, 0, len(e.vols))
	for _, v := range e.vols {
		if v.creating {
			continue
		}
		out = append(out, strategies.VolumeInfo{ID: v.id, Name: v.name, Parent: v.parent, Kind: v.kind,
			Size: v.size, ReadOnly: v.kind == kindSnapshot, Valid: !v.invalid, PrivateBytes: v.length})
	}
	return out
}

// Space: Metadata is the volume-table area plus every delta's exception
// table; Data is every base plus every delta's chunks, reserved in full at
// creation (strict accounting).
func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spaceLocked()
}

func (e *Engine) spaceLocked() strategies.Space {
	s := strategies.Space{Capacity: e.geo.capacity, Metadata: e.geo.dataStart, Invalidated: e.invalidated}
	for _, v := range e.vols {
		if v.kind == kindBase {
			s.Data += v.size
		} else {
			s.Data += int64(v.capChunks) << e.geo.shift
			s.Metadata += tableBytes(v.capChunks)
		}
	}
	s.Free = s.Capacity - s.Data - s.Metadata
	return s
}

// Flush makes every acknowledged write durable, committing the clones'
// exceptions recorded since their last flush: one device flush, plus one
// table write per clone with new exceptions and a second flush.
func (e *Engine) Flush() error {
	if err := e.checkOpen(); err != nil {
		return err
	}
	e.mu.Lock()
	var ds []*delta
	for _, v := range e.vols {
		if v.d != nil && !v.creating {
			ds = append(ds, v.d)
		}
	}
	e.mu.Unlock()
	return e.flushDeltas(ds)
}

// flushDeltas flushes the device and commits the given deltas' exceptions
// recorded before the call.
func (e *Engine) flushDeltas(ds []*delta) error {
	var as [1]uint64
	a := as[:0]
	n := 0
	for _, d := range ds {
		d.mu.Lock()
		x := d.appended
		if x > d.durable && !d.invalid.Load() {
			n++
		} else {
			x = 0
		}
		d.mu.Unlock()
		a = append(a, x)
	}
	if err := e.fl.flush(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	w := make([]uint64, len(ds))
	for i, d := range ds {
		if a[i] == 0 {
			continue
		}
		d.noteFlushed(a[i])
		var err error
		if w[i], err = d.commitTo(e, a[i]); err != nil {
			return err
		}
	}
	if err := e.fl.flush(); err != nil {
		return err
	}
	for i, d := range ds {
		if a[i] != 0 {
			d.markDurable(w[i])
		}
	}
	return nil
}

// invalidate marks a snapshot or clone invalid, durably, because its delta
// is full. Reads, writes and flushes of it then fail with ErrInvalidated;
// its extent stays reserved until it is deleted.
func (e *Engine) invalidate(v *vol) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if v.invalid {
		return nil
	}
	v.invalid = true
	e.invalidated++
	if err := e.commitLocked(); err != nil {
		v.invalid = false
		e.invalidated--
		return err
	}
	v.d.invalid.Store(true)
	v.d.mu.Lock()
	v.d.table.reset()
	v.d.holes = nil
	v.d.mu.Unlock()
	e.stats.invalidations.Add(1)
	return nil
}

// Close releases the engine without flushing: unflushed writes and clone
// exceptions are lost as in a crash. It does not close the device.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return fmt.Errorf("cow: %w", strategies.ErrClosed)
	}
	return nil
}
