package full

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

func init() {
	strategies.Register(strategies.Factory{
		Order:    20,
		Name:     "full",
		Doc:      "full copy (VMware full clone): every snapshot or clone copies all written chunks into a new extent",
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

const bitmapBlock = 4096 // bitmap IO unit: 32768 chunks per block

// Engine is the full-copy engine. Safe for concurrent use: metadata
// operations are serialised by mu; IO takes only a per-volume read lock.
type Engine struct {
	mu        sync.Mutex
	dev       device.Device
	chunk     int64
	store     *paged.Store
	slotVols  []*volume // record slot -> volume
	dataStart int64
	nextID    strategies.VolumeID
	vols      []*volume // ordered by id
	byName    map[string]*volume
	free      *freeSpace // the data area no extent covers, derived from the table
	closed    bool
	stats     stats

	dirtyMu   sync.Mutex // guards dirtyVols; taken under a volume's first lock
	dirtyVols map[*volume]struct{}
}

var (
	_ strategies.BatchCloner  = (*Engine)(nil)
	_ strategies.BatchDeleter = (*Engine)(nil)
)

// noteDirty records that v has bitmap blocks to write at the next flush, so
// that a flush visits only those volumes.
func (e *Engine) noteDirty(v *volume) {
	e.dirtyMu.Lock()
	e.dirtyVols[v] = struct{}{}
	e.dirtyMu.Unlock()
}

type stats struct {
	copies, copyBytes, commits, bitmapWrites int64
}

func newEngine(dev device.Device, opts strategies.Options) (*Engine, error) {
	chunk := int64(opts.ChunkSize)
	e := &Engine{dev: dev, chunk: chunk,
		dataStart: (headerBytes + chunk - 1) / chunk * chunk,
		byName:    map[string]*volume{}, dirtyVols: map[*volume]struct{}{}}
	e.store = e.newStore()
	if e.dataStart+2*chunk > dev.Size() {
		return nil, fmt.Errorf("full: %w: device area of %d bytes too small", strategies.ErrNoSpace, dev.Size())
	}
	return e, nil
}

// Validate checks what Format would refuse (options, space for the
// layout) without writing to dev.
func Validate(dev device.Device, opts strategies.Options) error {
	_, err := newEngine(dev, opts)
	return err
}

// Format lays an empty full-copy engine on dev.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	e.nextID = 1
	e.free = e.freeFromVolumes()
	e.store.Format()
	for range 2 { // both header blocks
		if err := e.commit(); err != nil {
			return nil, fmt.Errorf("full: format: %w", err)
		}
	}
	return e, nil
}

// Open loads the volume table and every volume's written bitmap.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	recs, nextID, st, err := e.loadTable()
	if err != nil {
		return nil, err
	}
	e.nextID, e.store = nextID, st
	if err := e.checkTable(recs, nextID, st); err != nil {
		return nil, err
	}
	for _, r := range recs {
		v := e.newVolume(r)
		for len(e.slotVols) <= r.slot {
			e.slotVols = append(e.slotVols, nil)
		}
		e.slotVols[r.slot] = v
		if err := v.loadBitmap(); err != nil {
			return nil, err
		}
		e.vols = append(e.vols, v)
		e.byName[v.name] = v
	}
	e.free = e.freeFromVolumes()
	return e, nil
}

func (e *Engine) Name() string { return "full" }

func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true}
}

func (e *Engine) find(id strategies.VolumeID) (*volume, int) {
	i, ok := slices.BinarySearchFunc(e.vols, id, func(v *volume, id strategies.VolumeID) int {
		return cmp.Compare(v.id, id)
	})
	if !ok {
		return nil, -1
	}
	return e.vols[i], i
}

func (e *Engine) nameTaken(name string) bool { return e.byName[name] != nil }

func (e *Engine) ready(name string) error {
	if e.closed {
		return fmt.Errorf("full: %w", strategies.ErrClosed)
	}
	if err := strategies.ValidateName("full", name); err != nil {
		return err
	}
	if e.nameTaken(name) {
		return fmt.Errorf("full: %q: %w", name, strategies.ErrExists)
	}
	return nil
}

// bitmapLen is the bitmap region of a volume of size bytes: one bit per
// chunk, in whole 4 KiB blocks, rounded up to a chunk so data stays aligned.
func (e *Engine) bitmapLen(size int64) int64 {
	chunks := (size + e.chunk - 1) / e.chunk
	blocks := (chunks + 8*bitmapBlock - 1) / (8 * bitmapBlock)
	return (blocks*bitmapBlock + e.chunk - 1) / e.chunk * e.chunk
}

// allocate takes the lowest free range of n bytes (first fit), O(log
// extents). The caller gives it back with release if it does not commit
// a volume there.
func (e *Engine) allocate(n int64) (int64, error) {
	off, ok := e.free.Alloc(n, 1)
	if !ok {
		return 0, fmt.Errorf("full: extent of %d bytes: %w", n, strategies.ErrNoSpace)
	}
	return off, nil
}

func (e *Engine) release(off, n int64) { e.free.Release(off, off+n) }

// freeFromVolumes derives the free space from the volumes' extents.
func (e *Engine) freeFromVolumes() *freeSpace {
	byOff := slices.Clone(e.vols)
	slices.SortFunc(byOff, func(a, b *volume) int { return cmp.Compare(a.ext, b.ext) })
	type ext struct{ off, end int64 }
	exts := make([]ext, 0, len(byOff)+len(e.store.Extents()))
	for _, v := range byOff {
		exts = append(exts, ext{v.ext, v.ext + v.extentLen()})
	}
	for _, g := range e.store.Extents() {
		exts = append(exts, ext{g.Off, g.Off + g.Len})
	}
	slices.SortFunc(exts, func(a, b ext) int { return cmp.Compare(a.off, b.off) })
	f := newFreeSpace()
	at := e.dataStart
	for _, x := range exts {
		if x.off > at {
			f.Release(at, x.off)
		}
		at = max(at, x.end)
	}
	if at < e.dev.Size() {
		f.Release(at, e.dev.Size())
	}
	return f
}

func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateSize("full", size, int(e.chunk)); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ready(name); err != nil {
		return 0, err
	}
	bm := e.bitmapLen(size)
	ext, err := e.allocate(bm + size)
	if err != nil {
		return 0, err
	}
	if err := device.Zero(e.dev, ext, bm); err != nil {
		e.release(ext, bm+size)
		return 0, fmt.Errorf("full: create: zero bitmap: %w", err)
	}
	if err := e.dev.Flush(); err != nil {
		e.release(ext, bm+size)
		return 0, fmt.Errorf("full: create: %w", err)
	}
	v := e.newVolume(record{id: e.nextID, kind: strategies.KindBase, size: size, ext: ext, name: name})
	if err := e.commitWith(v); err != nil {
		e.release(ext, bm+size)
		return 0, err
	}
	return v.id, nil
}

func (e *Engine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.copies(src, []string{name}, strategies.KindSnapshot)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

func (e *Engine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.copies(src, []string{name}, strategies.KindClone)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// CloneMany makes full copies of src, one per name, with one flush after
// the copies and one table commit: all of them or, on error, none. Writes to
// src wait until every copy is made. Cost: each clone's copy of the written
// chunks and its bitmap, then one flush and one commit.
func (e *Engine) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	if len(names) == 0 {
		return nil, nil
	}
	return e.copies(src, names, strategies.KindClone)
}

// copies makes full copies of src: the creation cost of this engine.
func (e *Engine) copies(srcID strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if err := e.ready(name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("full: %q: %w (named twice)", name, strategies.ErrExists)
		}
		seen[name] = true
	}
	src, _ := e.find(srcID)
	if src == nil {
		return nil, fmt.Errorf("full: volume %d: %w", srcID, strategies.ErrNotFound)
	}
	bm := e.bitmapLen(src.size)
	var made []*volume
	undo := func() {
		for i := len(made) - 1; i >= 0; i-- {
			e.release(made[i].ext, made[i].extentLen())
		}
	}
	src.rw.Lock() // writes to the source wait until the copies are complete
	defer src.rw.Unlock()
	if err := e.flushLocked(); err != nil {
		return nil, err
	}
	var copied int64
	for i, name := range names {
		ext, err := e.allocate(bm + src.size)
		if err != nil {
			undo()
			return nil, err
		}
		dst := e.newVolume(record{id: e.nextID + strategies.VolumeID(i), parent: src.id, kind: kind, size: src.size, ext: ext, name: name})
		made = append(made, dst)
		copy(dst.written, src.written)
		n, err := e.copyChunks(src, dst)
		if err != nil {
			undo()
			return nil, err
		}
		if err := dst.writeWholeBitmap(); err != nil {
			undo()
			return nil, err
		}
		copied += n
	}
	if err := e.dev.Flush(); err != nil {
		undo()
		return nil, fmt.Errorf("full: %s: %w", kind, err)
	}
	if err := e.commitWith(made...); err != nil {
		undo()
		return nil, err
	}
	e.stats.copies += int64(len(made))
	e.stats.copyBytes += copied
	ids := make([]strategies.VolumeID, len(made))
	for i, v := range made {
		ids[i] = v.id
	}
	return ids, nil
}

// copyChunks copies every written chunk of src into dst, in runs of up to
// 1 MiB. The caller holds src.rw exclusively.
func (e *Engine) copyChunks(src, dst *volume) (int64, error) {
	buf := device.GetBuffer(1 << 20)
	defer device.PutBuffer(buf)
	perIO := int64(len(buf)) / e.chunk
	var copied int64
	chunks := src.size / e.chunk
	for c := int64(0); c < chunks; {
		if !src.isWritten(c) {
			c++
			continue
		}
		run := int64(1)
		for c+run < chunks && run < perIO && src.isWritten(c+run) {
			run++
		}
		b := buf[:run*e.chunk]
		if _, err := e.dev.ReadAt(b, src.dataOff()+c*e.chunk); err != nil {
			return copied, fmt.Errorf("full: copy: %w", err)
		}
		if _, err := e.dev.WriteAt(b, dst.dataOff()+c*e.chunk); err != nil {
			return copied, fmt.Errorf("full: copy: %w", err)
		}
		copied += int64(len(b))
		c += run
	}
	return copied, nil
}

// commitWith commits the table with vs added (their ids must be e.nextID
// onwards, ascending).
func (e *Engine) commitWith(vs ...*volume) error {
	n := len(e.vols)
	undo := func() {
		for _, v := range vs {
			e.freeSlot(v)
		}
		e.vols = e.vols[:n]
		e.nextID -= strategies.VolumeID(len(vs))
	}
	e.vols = append(e.vols, vs...)
	e.nextID += strategies.VolumeID(len(vs))
	for _, v := range vs {
		if err := e.allocSlot(v); err != nil {
			undo()
			return err
		}
	}
	if err := e.commit(); err != nil {
		undo()
		return err
	}
	for _, v := range vs {
		e.byName[v.name] = v
	}
	return nil
}

// Delete removes a volume and frees its extent; its snapshots and clones
// (independent copies) lose their parent. ErrBusy while it is open. One
// table commit.
func (e *Engine) Delete(id strategies.VolumeID) error {
	return e.DeleteMany([]strategies.VolumeID{id})
}

// DeleteMany deletes a batch of volumes with one table commit: every id is
// checked first (ErrNotFound, ErrBusy), and on error nothing is deleted.
// Ids listed twice count once. The copies of deleted volumes lose their
// parent. O(volumes) CPU (the table is rewritten whole) plus one commit.
func (e *Engine) DeleteMany(ids []strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("full: %w", strategies.ErrClosed)
	}
	doomed := make(map[strategies.VolumeID]*volume, len(ids))
	for _, id := range ids {
		v, _ := e.find(id)
		if v == nil {
			return fmt.Errorf("full: volume %d: %w", id, strategies.ErrNotFound)
		}
		if v.open > 0 {
			return fmt.Errorf("full: delete %q: %w", v.name, strategies.ErrBusy)
		}
		doomed[id] = v
	}
	if len(doomed) == 0 {
		return nil
	}
	old := e.vols
	kept := make([]*volume, 0, len(e.vols)-len(doomed))
	var orphans []*volume
	for _, o := range e.vols {
		if doomed[o.id] != nil {
			continue
		}
		kept = append(kept, o)
		if doomed[o.parent] != nil {
			orphans = append(orphans, o)
		}
	}
	parents := make([]strategies.VolumeID, len(orphans))
	for i, o := range orphans {
		parents[i] = o.parent
		o.parent = strategies.NoVolume
		e.store.MarkDirty(o.slot)
	}
	e.vols = kept
	for _, v := range doomed {
		e.freeSlot(v)
	}
	if err := e.commit(); err != nil {
		e.vols = old
		for i, o := range orphans {
			o.parent = parents[i]
		}
		for _, v := range old {
			if doomed[v.id] != nil {
				e.allocSlot(v) // their slots were just freed: cannot fail
			}
		}
		return err
	}
	for _, v := range doomed {
		delete(e.byName, v.name)
		e.release(v.ext, v.extentLen())
	}
	return nil
}

func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("full: %w", strategies.ErrClosed)
	}
	v, _ := e.find(id)
	if v == nil {
		return nil, fmt.Errorf("full: volume %d: %w", id, strategies.ErrNotFound)
	}
	v.open++
	return newHandle(v), nil
}

func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]strategies.VolumeInfo, 0, len(e.vols))
	for _, v := range e.vols {
		out = append(out, strategies.VolumeInfo{ID: v.id, Name: v.name, Parent: v.parent, Kind: v.kind,
			Size: v.size, ReadOnly: v.kind == strategies.KindSnapshot, Valid: true, PrivateBytes: v.extentLen()})
	}
	return out
}

func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spaceLocked()
}

func (e *Engine) spaceLocked() strategies.Space {
	s := strategies.Space{Capacity: e.dev.Size(), Metadata: e.dataStart + e.store.MetaBytes()}
	for _, v := range e.vols {
		s.Data += v.size
		s.Metadata += v.bmLen
	}
	s.Free = s.Capacity - s.Data - s.Metadata
	return s
}

// Flush makes every acknowledged write of every volume durable.
func (e *Engine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("full: %w", strategies.ErrClosed)
	}
	return e.flushLocked()
}

// flushLocked: capture dirty bitmap blocks, flush data, write the captured
// blocks, flush. A bit reaches the device only after the data it covers.
func (e *Engine) flushLocked() error {
	e.dirtyMu.Lock()
	dirty := make([]*volume, 0, len(e.dirtyVols))
	for v := range e.dirtyVols {
		if w, _ := e.find(v.id); w == v { // a deleted volume's blocks are not written
			dirty = append(dirty, v)
		}
	}
	clear(e.dirtyVols)
	e.dirtyMu.Unlock()
	slices.SortFunc(dirty, func(a, b *volume) int { return cmp.Compare(a.id, b.id) })
	var pending []bitmapWrite
	for _, v := range dirty {
		pending = v.takeDirty(pending)
	}
	if err := e.dev.Flush(); err != nil {
		e.redirty(pending)
		return fmt.Errorf("full: flush: %w", err)
	}
	if len(pending) == 0 {
		return nil
	}
	for i, w := range pending {
		if _, err := e.dev.WriteAt(w.buf, w.off); err != nil {
			e.redirty(pending[i:])
			return fmt.Errorf("full: write bitmap: %w", err)
		}
		device.PutBuffer(w.buf)
		e.stats.bitmapWrites++
	}
	if err := e.dev.Flush(); err != nil {
		e.redirty(pending)
		return fmt.Errorf("full: flush: %w", err)
	}
	return nil
}

func (e *Engine) redirty(ws []bitmapWrite) {
	for _, w := range ws {
		w.v.markDirty(w.block)
	}
}

func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("full: %w", strategies.ErrClosed)
	}
	e.closed = true
	return nil
}

// MemoryBytes estimates the in-memory metadata: bitmaps and records.
func (e *Engine) MemoryBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, v := range e.vols {
		n += int64(8*len(v.written)+8*len(v.dirty)) + 160 + int64(len(v.name))
	}
	return n
}

// Stats reports copies made and bytes copied by snapshots and clones.
func (e *Engine) Stats() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return map[string]int64{"full_copies": e.stats.copies, "full_copy_bytes": e.stats.copyBytes,
		"table_commits": e.stats.commits, "bitmap_writes": e.stats.bitmapWrites}
}
