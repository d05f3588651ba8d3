package cow

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

const (
	kindBase     = strategies.KindBase
	kindSnapshot = strategies.KindSnapshot
	kindClone    = strategies.KindClone
)

func init() {
	strategies.Register(strategies.Factory{
		Order: 30,
		Name:  "cow",
		Doc:   "classic copy-on-write (dm-snapshot, old LVM snapshots): bases written in place, a fixed delta area per snapshot or clone",
		Params: []strategies.Param{
			{Name: "delta-percent", Default: "20",
				Help: "capacity of each snapshot's or clone's delta (exception store) as a percentage of its base's size, 0 < p <= 100"},
			{Name: "delta-min", Default: "4194304",
				Help: "minimum delta capacity in bytes (LVM allocates snapshot space in whole 4 MiB extents); never more than the base, at least one chunk"},
			{Name: "max-volumes", Default: "1048576",
				Help: "upper bound on the number of volumes (the volume table grows on the device as needed; 1 to 1048576)"},
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
	fl       *flusher
	stats    counters
	nonce    uint64 // identifies this format in every table block
	closed   atomic.Bool

	mu          sync.Mutex // volume table: vols, byID, byName, tab, free, nextID, invalidated; held across its commits
	vols        []*vol     // ascending id, including volumes being created
	byID        map[strategies.VolumeID]*vol
	byName      map[string]*vol // including volumes being created
	tab         tableState
	free        *freeSpace // the data area not covered by a volume or a table segment
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

var (
	_ strategies.BatchCloner  = (*Engine)(nil)
	_ strategies.BatchDeleter = (*Engine)(nil)
)

// Validate checks what Format would refuse (options, space for the
// layout) without writing to dev.
func Validate(dev device.Device, opts strategies.Options) error {
	_, err := newEngine(dev, opts)
	return err
}

// Format lays an empty cow engine on dev (the engine area) and makes it
// durable: both volume-table headers hold an empty table (each write
// flushed). Nothing else needs initialising: table pages and
// exception-table blocks are only believed when they carry this format's
// nonce (and their segment's or volume's identity).
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	e.nonce = e.newNonce()
	e.nextID = 1
	e.free.Release(e.geo.dataStart, e.geo.capacity)
	e.mu.Lock()
	defer e.mu.Unlock()
	for range 2 {
		if err := e.commitLocked(); err != nil {
			return nil, fmt.Errorf("cow: format: %w", err)
		}
	}
	return e, nil
}

// newNonce draws a random non-zero 64-bit identifier.
func (e *Engine) newNonce() uint64 {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand aborts the program instead)
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// Open reads the volume table and every valid delta's exception table from
// dev. It fails with an error wrapping ErrCorrupt when the metadata is
// damaged.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	lt, err := e.loadVolTable()
	if err != nil {
		return nil, err
	}
	t := lt.volTable
	e.nonce, e.nextID, e.invalidated = t.nonce, t.nextID, t.invalidated
	e.tab.seq, e.tab.hdrSlot, e.tab.segs, e.tab.pagesUsed, e.tab.cur = t.seq, lt.hdrSlot, t.segs, t.pagesUsed, lt.cur
	e.tab.slots = make([]*vol, inlineRecs+int(t.pagesUsed)*recsPerPage)
	for _, p := range lt.garbage {
		e.tab.dirty[p] = struct{}{} // rewrite the copy an aborted commit left before it can mislead
	}
	byID := e.byID
	for _, r := range t.vols {
		v := &vol{volRec: r}
		if r.kind == kindBase {
			v.b = newBaseState(uint32(r.size >> e.geo.shift))
		}
		byID[r.id] = v
		e.byName[r.name] = v
		e.tab.slots[r.slot] = v
		e.vols = append(e.vols, v)
	}
	for s, v := range e.tab.slots {
		if v == nil {
			e.tab.free = append(e.tab.free, s) // ascending: already a heap
		}
	}
	e.free = freeFromTable(e.geo, t)
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
		fl: newFlusher(dev), byID: map[strategies.VolumeID]*vol{}, byName: map[string]*vol{},
		tab: tableState{hdrSlot: 1, dirty: map[uint32]struct{}{}}, free: newFreeSpace()}, nil
}

// freeFromTable derives the free space from a table: every extent of the
// data area that no volume or table segment covers, as first fit sees it
// (a used extent reaches to the next chunk boundary). O(volumes log volumes).
func freeFromTable(g geometry, t volTable) *freeSpace {
	type ext struct{ off, end int64 }
	exts := make([]ext, 0, len(t.vols)+len(t.segs))
	for _, v := range t.vols {
		exts = append(exts, ext{v.off, v.off + v.length})
	}
	for i, s := range t.segs {
		exts = append(exts, ext{s.off, s.off + g.segLength(i)})
	}
	slices.SortFunc(exts, func(a, b ext) int { return cmp.Compare(a.off, b.off) })
	f := newFreeSpace()
	cand := g.dataStart
	for _, x := range exts {
		if x.off > cand {
			f.Release(cand, x.off)
		}
		cand = max(cand, min(roundUp(x.end, g.chunk), g.capacity))
	}
	if cand < g.capacity {
		f.Release(cand, g.capacity)
	}
	return f
}

// loadVolTable reads and validates the newest volume table.
func (e *Engine) loadVolTable() (*loadedTable, error) {
	lt, err := e.readTable()
	if err != nil {
		return nil, err
	}
	if err := e.geo.validate(lt.volTable); err != nil {
		return nil, err
	}
	return lt, nil
}

// tableLocked is the volume table as memory has it (what the next commit
// makes durable).
func (e *Engine) tableLocked() volTable {
	t := volTable{seq: e.tab.seq, nonce: e.nonce, nextID: e.nextID, invalidated: e.invalidated,
		pagesUsed: e.tab.pagesUsed, segs: e.tab.segs, vols: make([]volRec, 0, len(e.vols))}
	for _, v := range e.vols {
		if !v.creating {
			t.vols = append(t.vols, v.volRec)
		}
	}
	return t
}

// findLocked returns the committed volume id, or nil. O(1).
func (e *Engine) findLocked(id strategies.VolumeID) *vol {
	v := e.byID[id]
	if v == nil || v.creating {
		return nil
	}
	return v
}

// nameTakenLocked reports whether a volume, committed or being created, has
// the name. O(1).
func (e *Engine) nameTakenLocked(name string) bool { return e.byName[name] != nil }

// removeLocked drops v from memory's table and frees its record slot (the
// extent is freed by the caller once the removal is committed).
// O(log volumes) plus moving the pointers above it in e.vols.
func (e *Engine) removeLocked(v *vol) {
	if i, ok := e.volIndexLocked(v.id); ok && e.vols[i] == v {
		e.vols = slices.Delete(e.vols, i, i+1)
	}
	if e.byID[v.id] == v {
		delete(e.byID, v.id)
	}
	if e.byName[v.name] == v {
		delete(e.byName, v.name)
	}
	e.freeSlotLocked(v)
}

func (e *Engine) volIndexLocked(id strategies.VolumeID) (int, bool) {
	return slices.BinarySearchFunc(e.vols, id, func(v *vol, id strategies.VolumeID) int { return cmp.Compare(v.id, id) })
}

// insertLocked adds v to memory's table, keeping e.vols sorted by id, and
// gives it a record slot (which may grow the table: ErrNoSpace).
func (e *Engine) insertLocked(v *vol) error {
	v.slot = -1
	if err := e.allocSlotLocked(v); err != nil {
		return err
	}
	if n := len(e.vols); n == 0 || e.vols[n-1].id < v.id {
		e.vols = append(e.vols, v)
	} else {
		i, _ := e.volIndexLocked(v.id)
		e.vols = slices.Insert(e.vols, i, v)
	}
	e.byID[v.id] = v
	e.byName[v.name] = v
	return nil
}

// extentEnd is where an extent stops counting as used for allocation: the
// next chunk boundary (or the end of the area).
func (e *Engine) extentEnd(off, length int64) int64 {
	return min(roundUp(off+length, e.geo.chunk), e.geo.capacity)
}

// allocLocked finds room for an extent of length bytes, first fit in offset
// order, starting on a chunk boundary. O(log free extents).
func (e *Engine) allocLocked(length int64) (int64, bool) { return e.free.Alloc(length, e.geo.chunk) }

// releaseLocked returns an extent to the free space.
func (e *Engine) releaseLocked(off, length int64) { e.free.Release(off, e.extentEnd(off, length)) }

// tooManyLocked is the error for more than max-volumes volumes.
func (e *Engine) tooManyLocked(what string, adding int) error {
	if len(e.vols)+adding <= e.geo.maxVols {
		return nil
	}
	return fmt.Errorf("cow: %s: %w: %d volumes would exceed cow.max-volumes=%d (raise the option, at most %d)",
		what, strategies.ErrNoSpace, len(e.vols)+adding, e.geo.maxVols, maxMaxVolumes)
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
	if err := e.tooManyLocked(fmt.Sprintf("create %q", name), 1); err != nil {
		e.mu.Unlock()
		return 0, err
	}
	off, ok := e.allocLocked(size)
	if !ok {
		e.mu.Unlock()
		return 0, fmt.Errorf("cow: create %q of %d bytes: %w", name, size, strategies.ErrNoSpace)
	}
	v := &vol{volRec: volRec{id: e.nextID, kind: kindBase, size: size, off: off, length: size, name: name}, creating: true}
	if err := e.insertLocked(v); err != nil {
		e.releaseLocked(off, size)
		e.mu.Unlock()
		return 0, err
	}
	v.b = newBaseState(uint32(size >> e.geo.shift))
	e.nextID++
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
		e.markDirtyLocked(v.slot)
		if err = e.commitLocked(); err != nil {
			v.creating = true
		}
	}
	if err != nil {
		e.removeLocked(v)
		e.releaseLocked(v.off, v.length)
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
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := strategies.ValidateName("cow", n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("cow: %s %q: %w (named twice)", what, n, strategies.ErrExists)
		}
		seen[n] = true
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
	if err := e.tooManyLocked(what, len(names)); err != nil {
		return nil, err
	}
	capChunks := e.geo.deltaChunks(sv.size)
	length := e.geo.deltaLength(capChunks)
	firstID := e.nextID
	added := make([]*vol, 0, len(names))
	undo := func() {
		for i := len(added) - 1; i >= 0; i-- {
			e.removeLocked(added[i])
			e.releaseLocked(added[i].off, added[i].length)
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
		if err := e.insertLocked(v); err != nil {
			e.releaseLocked(off, length)
			undo()
			return nil, err
		}
		v.d = newDelta(v, sv, e.geo)
		e.nextID++
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
		e.insertLocked(v) // its slot was just freed: cannot fail
		if v.d != nil {
			v.d.gone = false
		}
		return err
	}
	e.releaseLocked(v.off, v.length)
	if base != nil {
		base.b.deps = slices.DeleteFunc(base.b.deps, func(d *vol) bool { return d == v })
	}
	return nil
}

// DeleteMany deletes a batch of volumes with one volume-table commit: all
// of them or, on error, none. Every id is checked first, with Delete's rules
// (ErrNotFound, ErrBusy, ErrHasChildren), except that a base whose
// snapshots and clones are all in the batch is deletable with them. Ids
// listed twice count once. Base writes to the bases of the deleted deltas
// are held off while it commits. Cost: one write of each volume-table page
// holding a deleted record plus the header, one flush; O(n log volumes) CPU.
func (e *Engine) DeleteMany(ids []strategies.VolumeID) error {
	if len(ids) == 0 {
		return nil
	}
	if err := e.checkOpen(); err != nil {
		return err
	}
	e.mu.Lock()
	batch, err := e.batchLocked(ids)
	var bases []*vol
	if err == nil {
		bases = batchBases(batch)
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	// No base write may be copying into a delta while it goes. Gates in
	// ascending base id, so two batches cannot deadlock.
	for _, b := range bases {
		b.b.gate.Lock()
		defer b.b.gate.Unlock()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	again, err := e.batchLocked(ids)
	if err != nil {
		return err
	}
	if !slices.Equal(batchBases(again), bases) {
		return fmt.Errorf("cow: delete many: %w: volumes changed while waiting for their bases", strategies.ErrBusy)
	}
	for _, v := range again {
		if v.d != nil {
			v.d.commitMu.Lock()
			defer v.d.commitMu.Unlock()
			v.d.gone = true
		}
	}
	for _, v := range again {
		e.removeLocked(v)
	}
	if err := e.commitLocked(); err != nil {
		for _, v := range again {
			e.insertLocked(v) // their slots were just freed: cannot fail
			if v.d != nil {
				v.d.gone = false
			}
		}
		return err
	}
	doomed := make(map[*vol]bool, len(again))
	for _, v := range again {
		doomed[v] = true
		e.releaseLocked(v.off, v.length)
	}
	for _, b := range bases {
		if !doomed[b] {
			b.b.deps = slices.DeleteFunc(b.b.deps, func(d *vol) bool { return doomed[d] })
		}
	}
	return nil
}

// batchLocked resolves and checks a DeleteMany batch: the volumes, once
// each, ascending id.
func (e *Engine) batchLocked(ids []strategies.VolumeID) ([]*vol, error) {
	in := make(map[strategies.VolumeID]bool, len(ids))
	var vs []*vol
	for _, id := range ids {
		if in[id] {
			continue
		}
		in[id] = true
		v := e.findLocked(id)
		if err := e.deletableLocked(v, id); err != nil && !(errors.Is(err, strategies.ErrHasChildren) && v.b != nil) {
			return nil, err
		}
		vs = append(vs, v)
	}
	for _, v := range vs {
		if v.b == nil {
			continue
		}
		for _, d := range v.b.deps {
			if !in[d.id] {
				return nil, fmt.Errorf("cow: delete %q: %w (%s %q is not in the batch)", v.name, strategies.ErrHasChildren, d.kind, d.name)
			}
		}
	}
	slices.SortFunc(vs, func(a, b *vol) int { return cmp.Compare(a.id, b.id) })
	return vs, nil
}

// batchBases is the bases of the deltas in a batch, ascending id.
func batchBases(batch []*vol) []*vol {
	var bs []*vol
	seen := map[*vol]bool{}
	for _, v := range batch {
		if v.d != nil && !seen[v.d.base] {
			seen[v.d.base] = true
			bs = append(bs, v.d.base)
		}
	}
	slices.SortFunc(bs, func(a, b *vol) int { return cmp.Compare(a.id, b.id) })
	return bs
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
	return newHandle(e, v), nil
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
	for i := range e.tab.segs {
		s.Metadata += e.geo.segLength(i)
	}
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
	e.markDirtyLocked(v.slot)
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
