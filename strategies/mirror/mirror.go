package mirror

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/paged"
)

const engineName = "mirror"

// Params.
const (
	paramAutoMirrors  = "auto-mirrors"
	paramBackground   = "background-sync"
	paramIntentRegion = "intent-region"
	maxAutoMirrors    = 16
)

func init() {
	strategies.Register(strategies.Factory{
		Order: 60,
		Name:  engineName,
		Doc:   "split mirrors (EMC TimeFinder BCV): clones are synchronised full mirrors split off instantly; re-establish resyncs changes",
		Params: []strategies.Param{
			{Name: paramAutoMirrors, Default: "0", Help: "mirrors established automatically for each new base volume and re-established after each split (0-16)"},
			{Name: paramBackground, Default: "false", Help: "synchronise mirrors from a background goroutine (its device IO then interleaves non-deterministically); otherwise on demand: Sync, or at split"},
			{Name: paramIntentRegion, Default: "0", Help: "bytes covered by one write-intent bit, a power of two of at least 4096 (0: the chunk size, doubled until the map fits one 4 KiB block)"},
		},
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

// Engine is the split-mirror engine. Every method is safe for concurrent
// use. Metadata operations (create, split, establish, sync, delete, flush,
// check) are serialised by one lock; reads and writes never take it: a write
// holds only its volume's IO lock shared, which splits and sync steps take
// exclusively.
type Engine struct {
	mu     sync.Mutex
	dev    device.Device
	geo    geometry
	chunk  int64
	auto   int
	store  *paged.Store // the volume table (table.go)
	intent *intentLog
	alloc  allocator
	rows   []*tableRow // the entry in each table slot; nil: free
	gen    uint64      // commits staged so far (tableRow.gen)

	nextVol strategies.VolumeID
	nextMir MirrorID
	vols    []*volume // by id
	byName  map[string]*volume
	mirs    []*mirror // by id

	mbuf   []byte // one bitmap block, guarded by mu
	closed bool
	failed error // a failed table commit: memory and device may disagree
	bg     *syncer
	st     stats
}

type stats struct {
	mirrorWrites, mirrorBytes, syncBytes, resyncBytes          atomic.Int64
	splits, establishes, reestablishes, recycles, detaches     atomic.Int64
	commits, bitmapWrites, recoveredChunks, repairs, syncFails atomic.Int64
}

// volume is a user volume: base, snapshot or clone.
type volume struct {
	e *Engine
	volRecord
	row tableRow
	// changed: chunks written on either side since the split (parent != 0).
	changed *chunkBitmap

	// rw: writes hold it shared; sync steps, splits and changes to the
	// pairing below hold it exclusively.
	rw       sync.RWMutex
	mirrors  []*mirror // attached, by id
	trackers []*volume // splits of this volume that track it, by id
	open     int       // guarded by e.mu
}

func (v *volume) dataOff() int64 { return v.ext + v.bmLen }

// mirror is an attached mirror of a volume (a BCV in its established state).
type mirror struct {
	mirRecord
	row tableRow
	src *volume
	// oos: chunks not yet copied from the source (the copy cursor's work).
	oos    *chunkBitmap
	cursor int64 // where the next sync step looks first (a hint)
	resync bool  // copies count as resync (re-established) rather than sync
}

func (m *mirror) dataOff() int64 { return m.ext + m.bmLen }

func newEngine(dev device.Device, opts strategies.Options) (*Engine, error) {
	chunk := int64(opts.ChunkSize)
	auto, err := opts.Int(engineName, paramAutoMirrors)
	if err != nil {
		return nil, err
	}
	if auto < 0 || auto > maxAutoMirrors {
		return nil, fmt.Errorf("mirror: %s=%d: %w: want 0 to %d", paramAutoMirrors, auto, strategies.ErrInvalidArgument, maxAutoMirrors)
	}
	background, err := opts.Bool(engineName, paramBackground)
	if err != nil {
		return nil, err
	}
	region, err := opts.Int(engineName, paramIntentRegion)
	if err != nil {
		return nil, err
	}
	capacity := dev.Size()
	metaLen := int64(blockSize + tableBytes)
	g := geometry{chunk: chunk, dataStart: (metaLen + chunk - 1) / chunk * chunk, capacity: capacity}
	if g.dataStart+2*chunk > capacity {
		return nil, fmt.Errorf("mirror: %w: device area of %d bytes too small", strategies.ErrNoSpace, capacity)
	}
	if region == 0 {
		region = chunk
		for (capacity+region-1)/region > bitsPerBlock {
			region *= 2
		}
	}
	if region < blockSize || region&(region-1) != 0 || (capacity+region-1)/region > bitsPerBlock {
		return nil, fmt.Errorf("mirror: %s=%d: %w: want a power of two of at least 4096 covering the device in %d bits",
			paramIntentRegion, region, strategies.ErrInvalidArgument, bitsPerBlock)
	}
	if bits.OnesCount64(uint64(chunk)) != 1 {
		return nil, fmt.Errorf("mirror: chunk %d: %w", chunk, strategies.ErrInvalidArgument)
	}
	e := &Engine{dev: dev, geo: g, chunk: chunk, auto: int(auto),
		store:  newStore(dev, chunk),
		intent: newIntentLog(dev, 0, region, capacity),
		alloc:  newAllocator(g.dataStart, capacity),
		mbuf:   device.Alloc(blockSize),
		byName: map[string]*volume{},
	}
	if background {
		e.bg = newSyncer()
	}
	return e, nil
}

// Validate checks what Format would refuse (options, space for the
// layout) without writing to dev.
func Validate(dev device.Device, opts strategies.Options) error {
	_, err := newEngine(dev, opts)
	return err
}

// Format lays an empty engine on dev: an empty intent block, flushed, then
// an empty volume table in both header blocks (each written and flushed).
// It is durable on return.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	e.nextVol, e.nextMir = 1, 1
	if err := e.intent.format(); err != nil {
		return nil, err
	}
	if err := dev.Flush(); err != nil {
		return nil, fmt.Errorf("mirror: format: %w", err)
	}
	e.store.Format()
	for range 2 { // both header blocks
		if err := e.commitLocked(); err != nil {
			return nil, fmt.Errorf("mirror: format: %w", err)
		}
	}
	e.st.commits.Store(0)
	e.start()
	return e, nil
}

// Open loads the table and every bitmap from dev, then recovers from an
// unclean shutdown (see recover.go).
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	t, slots, err := loadTable(e.store, e.geo)
	if err != nil {
		return nil, err
	}
	e.build(t, slots)
	if err := e.loadBitmaps(); err != nil {
		return nil, err
	}
	if err := e.recover(); err != nil {
		return nil, err
	}
	e.start()
	return e, nil
}

// build creates the in-memory objects of a validated table; slots are
// their records' slots in the store (by volume id, then by mirror id).
func (e *Engine) build(t *table, slots tableSlots) {
	e.nextVol, e.nextMir = t.nextVol, t.nextMir
	for _, x := range e.store.Extents() {
		e.alloc.add(x.Off, x.Len)
	}
	for _, r := range t.vols {
		v := &volume{e: e, volRecord: r}
		if p := e.find(r.parent); p != nil {
			v.changed = newChunkBitmap(r.size / e.chunk)
			p.trackers = append(p.trackers, v)
		}
		e.vols = append(e.vols, v)
		e.byName[v.name] = v
		e.alloc.add(r.ext, r.bmLen+r.size)
		e.adoptRow(&v.row, slots.vols[r.id])
		v.row.savedV = r
	}
	for _, r := range t.mirs {
		src := e.find(r.src)
		m := &mirror{mirRecord: r, src: src, oos: newChunkBitmap(r.size / e.chunk), resync: true}
		src.mirrors = append(src.mirrors, m)
		e.mirs = append(e.mirs, m)
		e.alloc.add(r.ext, r.bmLen+r.size)
		e.adoptRow(&m.row, slots.mirs[r.id])
		m.row.savedM = r
	}
}

// adoptRow gives row slot sl (loaded from it, or just allocated).
func (e *Engine) adoptRow(row *tableRow, sl int) {
	for len(e.rows) <= sl {
		e.rows = append(e.rows, nil)
	}
	e.rows[sl], row.slot, row.stored = row, sl, true
}

func (e *Engine) tableState() *table {
	t := &table{nextVol: e.nextVol, nextMir: e.nextMir,
		vols: make([]volRecord, len(e.vols)), mirs: make([]mirRecord, len(e.mirs))}
	for i, v := range e.vols {
		t.vols[i] = v.volRecord
	}
	for i, m := range e.mirs {
		m.mirRecord.src = m.src.id
		t.mirs[i] = m.mirRecord
	}
	return t
}

// commitLocked commits the in-memory table: the records that changed since
// the last commit, the new ones and the freed slots (stageTable), then the
// header. A failure poisons the engine: which table the device will keep
// is unknown until it is reopened.
func (e *Engine) commitLocked() error {
	var owner [16]byte
	binary.LittleEndian.PutUint64(owner[0:], uint64(e.nextVol))
	binary.LittleEndian.PutUint64(owner[8:], uint64(e.nextMir))
	e.store.SetOwner(owner[:])
	err := e.stageTable()
	if err == nil {
		err = e.store.Commit(e.dev.Flush, e.encodeSlot)
	}
	if err != nil {
		e.failed = err
		return fmt.Errorf("mirror: commit volume table: %w", err)
	}
	e.st.commits.Add(1)
	return nil
}

// roomInTable fails with ErrNoSpace when the table cannot take extra
// volumes and mirrors: it grows the table now (a segment of the data area
// when its pages are full), so that the commit that adds them cannot fail
// for space.
func (e *Engine) roomInTable(vols, mirs int) error {
	if err := e.store.Reserve(vols+mirs, e.allocSegment); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	return nil
}

// usable fails when the engine is closed or poisoned.
func (e *Engine) usable() error {
	switch {
	case e.closed:
		return fmt.Errorf("mirror: %w", strategies.ErrClosed)
	case e.failed != nil:
		return fmt.Errorf("mirror: engine failed after a metadata write error; reopen it: %w", e.failed)
	}
	return nil
}

// checkNewName validates a name and that no volume has it.
func (e *Engine) checkNewName(name string) error {
	if err := strategies.ValidateName(engineName, name); err != nil {
		return err
	}
	if e.byName[name] != nil {
		return fmt.Errorf("mirror: %q: %w", name, strategies.ErrExists)
	}
	return nil
}

func (e *Engine) find(id strategies.VolumeID) *volume {
	if id == 0 {
		return nil
	}
	i, ok := slices.BinarySearchFunc(e.vols, id, func(v *volume, id strategies.VolumeID) int { return cmp64(int64(v.id), int64(id)) })
	if !ok {
		return nil
	}
	return e.vols[i]
}

func (e *Engine) findMirror(id MirrorID) *mirror {
	i, ok := slices.BinarySearchFunc(e.mirs, id, func(m *mirror, id MirrorID) int { return cmp64(int64(m.id), int64(id)) })
	if !ok {
		return nil
	}
	return e.mirs[i]
}

func (e *Engine) notFound(id strategies.VolumeID) error {
	return fmt.Errorf("mirror: volume %d: %w", id, strategies.ErrNotFound)
}

// Name is "mirror".
func (e *Engine) Name() string { return engineName }

// Caps: snapshots and clones (splits), nested (a new establish on the
// copy), deleting parents (copies are independent), many volumes; not thin.
func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true}
}

// Create makes a fully provisioned, zeroed base volume, with auto-mirrors
// mirrors zeroed alongside it (so they start in sync). Cost: zeroing
// (1+auto-mirrors)×size, one flush, one table commit.
func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName(engineName, name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize(engineName, size, int(e.chunk)); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	if err := e.checkNewName(name); err != nil {
		return 0, err
	}
	if err := e.roomInTable(1, e.auto); err != nil {
		return 0, err
	}
	if size > e.geo.capacity {
		return 0, fmt.Errorf("mirror: volume of %d bytes: %w", size, strategies.ErrNoSpace)
	}
	var got []int64
	fail := func(err error) (strategies.VolumeID, error) {
		for _, off := range got {
			e.alloc.free(off)
		}
		return 0, err
	}
	ext, err := e.alloc.alloc(size)
	if err != nil {
		return 0, err
	}
	got = append(got, ext)
	bm := e.geo.bitmapLen(size)
	for i := 0; i < e.auto; i++ {
		off, err := e.alloc.alloc(bm + size)
		if err != nil {
			return fail(err)
		}
		got = append(got, off)
	}
	v := &volume{e: e, volRecord: volRecord{id: e.nextVol, kind: strategies.KindBase, size: size, ext: ext, name: name}}
	if err := device.Zero(e.dev, ext, size); err != nil {
		return fail(fmt.Errorf("mirror: create: zero volume: %w", err))
	}
	for i, off := range got[1:] {
		m := &mirror{mirRecord: mirRecord{id: e.nextMir + MirrorID(i), src: v.id, size: size, ext: off, bmLen: bm},
			src: v, oos: newChunkBitmap(size / e.chunk)}
		if err := device.Zero(e.dev, m.dataOff(), size); err != nil {
			return fail(fmt.Errorf("mirror: create: zero mirror: %w", err))
		}
		if err := e.writeWholeBitmap(m.oos, m.ext); err != nil {
			return fail(err)
		}
		v.mirrors = append(v.mirrors, m)
	}
	if err := e.dev.Flush(); err != nil {
		return fail(fmt.Errorf("mirror: create: %w", err))
	}
	e.vols = append(e.vols, v)
	e.byName[v.name] = v
	e.mirs = append(e.mirs, v.mirrors...)
	e.nextVol++
	e.nextMir += MirrorID(e.auto)
	if err := e.commitLocked(); err != nil {
		return 0, err
	}
	e.st.establishes.Add(int64(e.auto))
	return v.id, nil
}

// Snapshot splits a synchronised mirror of src off as a read-only volume
// (establishing and synchronising one first when none is attached).
func (e *Engine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.split(src, []string{name}, strategies.KindSnapshot)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// Clone splits a synchronised mirror of src off as a writable volume
// (establishing and synchronising one first when none is attached).
func (e *Engine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.split(src, []string{name}, strategies.KindClone)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// CloneMany splits len(names) mirrors of src at once, establishing and
// synchronising the missing ones first; the clones are committed together.
// All or nothing: on error no clone exists.
func (e *Engine) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	return e.split(src, names, strategies.KindClone)
}

// Delete removes a volume: its extent and its attached mirrors are freed
// (deleting a base detaches its mirrors), splits that tracked it stop
// tracking. With auto-mirrors, a split whose base still exists is recycled
// instead when that is cheaper than what its base has attached: it is
// re-established as a mirror of the base (a BCV returned to its pool), to be
// resynchronised by the chunks it changed. Fails with ErrBusy while open.
func (e *Engine) Delete(id strategies.VolumeID) error {
	return e.DeleteMany([]strategies.VolumeID{id})
}

// DeleteMany deletes a batch of volumes, each as Delete does (in ascending
// id order, so a split of a base deleted earlier in the batch is not
// recycled), with one table commit. Every id is checked first (ErrNotFound,
// ErrBusy) and on error nothing is deleted; ids listed twice count once. The
// IO of every volume whose pairing changes is held until the commit is
// durable. O(batch × its pairings + volumes) CPU and one commit.
func (e *Engine) DeleteMany(ids []strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	doomed := make(map[strategies.VolumeID]*volume, len(ids))
	var batch []*volume
	for _, id := range ids {
		if doomed[id] != nil {
			continue
		}
		v := e.find(id)
		if v == nil {
			return e.notFound(id)
		}
		if v.open > 0 {
			return fmt.Errorf("mirror: delete %q: %w", v.name, strategies.ErrBusy)
		}
		doomed[id] = v
		batch = append(batch, v)
	}
	if len(batch) == 0 {
		return nil
	}
	slices.SortFunc(batch, func(a, b *volume) int { return cmp64(int64(a.id), int64(b.id)) })
	// Hold the IO locks of every volume whose pairing changes (sources and
	// trackers of the doomed) until the commit is durable, so no write
	// escapes tracking in between. Metadata operations are serialised by
	// e.mu, so taking several in id order cannot deadlock.
	lockSet := map[*volume]bool{}
	for _, v := range batch {
		if src := e.find(v.parent); src != nil {
			lockSet[src] = true
		}
		for _, t := range v.trackers {
			lockSet[t] = true
		}
	}
	locked := make([]*volume, 0, len(lockSet))
	for l := range lockSet {
		locked = append(locked, l)
	}
	slices.SortFunc(locked, func(a, b *volume) int { return cmp64(int64(a.id), int64(b.id)) })
	for _, l := range locked {
		l.rw.Lock()
	}
	defer func() {
		for _, l := range locked {
			l.rw.Unlock()
		}
	}()
	var freed []int64
	recycled := 0
	gone := make(map[strategies.VolumeID]bool, len(batch))
	for _, v := range batch {
		var src *volume
		if !gone[v.parent] {
			src = e.find(v.parent)
		}
		var into *volume
		var replace *mirror
		if e.auto > 0 && src != nil && src.kind == strategies.KindBase {
			if len(src.mirrors) < e.auto {
				into = src
			} else {
				var worst *mirror
				var worstN int64
				for _, m := range src.mirrors {
					if n := m.oos.count(); worst == nil || n > worstN {
						worst, worstN = m, n
					}
				}
				if worstN > v.changed.count() {
					into, replace = src, worst
				}
			}
		}
		f, err := e.retireMemLocked(v, src, into, replace)
		if err != nil {
			e.failed = err // memory already changed for earlier volumes of the batch
			return err
		}
		freed = append(freed, f...)
		gone[v.id] = true
		if into != nil {
			recycled++
		}
	}
	for _, o := range e.vols {
		if gone[o.parent] { // untracked copies too
			o.parent = 0
		}
	}
	e.vols = slices.DeleteFunc(e.vols, func(x *volume) bool { return gone[x.id] })
	for _, v := range batch {
		delete(e.byName, v.name)
	}
	if err := e.commitLocked(); err != nil {
		return err
	}
	for _, off := range freed {
		e.alloc.free(off)
	}
	if recycled > 0 {
		e.st.recycles.Add(int64(recycled))
		e.wake()
	}
	return nil
}

// retireLocked removes volume v from the user volumes in one commit. With
// into == nil its extent is freed; otherwise it becomes an attached mirror of
// into (its parent), out of sync by its change bitmap, replacing mirror
// replace (freed) when that is not nil. It returns that mirror.
func (e *Engine) retireLocked(v *volume, into *volume, replace *mirror) (*mirror, error) {
	src := e.find(v.parent)
	// Hold the IO locks of every volume whose pairing changes until the
	// commit is durable, so no write escapes tracking in between.
	var locked []*volume
	if src != nil {
		locked = append(locked, src)
	}
	locked = append(locked, v.trackers...)
	for _, l := range locked {
		l.rw.Lock()
	}
	defer func() {
		for _, l := range locked {
			l.rw.Unlock()
		}
	}()
	freed, err := e.retireMemLocked(v, src, into, replace)
	if err != nil {
		return nil, err
	}
	for _, o := range e.vols {
		if o.parent == v.id { // untracked copies too
			o.parent = 0
		}
	}
	e.vols = slices.DeleteFunc(e.vols, func(x *volume) bool { return x == v })
	delete(e.byName, v.name)
	if err := e.commitLocked(); err != nil {
		return nil, err
	}
	for _, off := range freed {
		e.alloc.free(off)
	}
	var m *mirror
	if into != nil {
		m = into.mirrors[len(into.mirrors)-1]
		e.st.recycles.Add(1)
		e.wake()
	}
	return m, nil
}

// retireMemLocked removes volume v from the user volumes in memory, except
// from e.vols and from its copies' parent fields (the caller does those for
// the whole batch). With into == nil its extent is to be freed; otherwise
// it becomes an attached mirror of into (its parent, src), out of sync by
// its change bitmap, replacing mirror replace (freed) when that is not nil.
// It returns the extents to free once the table is committed.
func (e *Engine) retireMemLocked(v, src, into *volume, replace *mirror) ([]int64, error) {
	if into != nil {
		// The change bits become out-of-sync bits: write what is pending
		// (set bits only, safe at any time; the commit flushes them).
		if _, err := e.writeDirty(v.changed, v.ext); err != nil {
			return nil, err
		}
	}
	var freed []int64
	for _, m := range v.mirrors {
		e.mirs = slices.DeleteFunc(e.mirs, func(x *mirror) bool { return x == m })
		freed = append(freed, m.ext)
	}
	v.mirrors = nil
	for _, t := range v.trackers {
		t.parent, t.changed = 0, nil
	}
	v.trackers = nil
	if src != nil {
		src.trackers = slices.DeleteFunc(src.trackers, func(x *volume) bool { return x == v })
	}
	if into == nil {
		freed = append(freed, v.ext)
		return freed, nil
	}
	if replace != nil {
		into.mirrors = slices.DeleteFunc(into.mirrors, func(x *mirror) bool { return x == replace })
		e.mirs = slices.DeleteFunc(e.mirs, func(x *mirror) bool { return x == replace })
		freed = append(freed, replace.ext)
	}
	m := &mirror{mirRecord: mirRecord{id: e.nextMir, src: into.id, size: v.size, ext: v.ext, bmLen: v.bmLen},
		src: into, oos: v.changed, resync: true}
	e.nextMir++
	into.mirrors = append(into.mirrors, m)
	e.mirs = append(e.mirs, m)
	return freed, nil
}

// Open returns a handle for IO on volume id.
func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("mirror: %w", strategies.ErrClosed)
	}
	v := e.find(id)
	if v == nil {
		return nil, e.notFound(id)
	}
	v.open++
	return newHandle(v), nil
}

// Volumes lists the user volumes by id. Attached mirrors are internal and
// not listed (see Mirrors); they count in each volume's PrivateBytes.
func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]strategies.VolumeInfo, 0, len(e.vols))
	for _, v := range e.vols {
		private := v.bmLen + v.size
		for _, m := range v.mirrors {
			private += m.bmLen + m.size
		}
		out = append(out, strategies.VolumeInfo{ID: v.id, Name: v.name, Parent: v.parent, Kind: v.kind, Size: v.size,
			ReadOnly: v.kind == strategies.KindSnapshot, Valid: true, PrivateBytes: private})
	}
	return out
}

// Space: Data is the data of volumes and attached mirrors; Metadata the
// fixed area (intent block, table headers), the table's pages and every
// bitmap area.
func (e *Engine) Space() strategies.Space {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spaceLocked()
}

func (e *Engine) spaceLocked() strategies.Space {
	s := strategies.Space{Capacity: e.geo.capacity, Metadata: e.geo.dataStart + e.store.MetaBytes()}
	for _, v := range e.vols {
		s.Data += v.size
		s.Metadata += v.bmLen
	}
	for _, m := range e.mirs {
		s.Data += m.size
		s.Metadata += m.bmLen
	}
	s.Free = s.Capacity - s.Data - s.Metadata
	return s
}

// Flush makes every acknowledged write of every volume (and its mirrors)
// durable, then persists changed bitmap blocks and clears write intents.
func (e *Engine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	return e.flushLocked()
}

// flushLocked: (1) start an intent epoch, (2) flush the device, so every
// acknowledged write is durable on every copy, (3) write the dirty bitmap
// blocks and flush again, so every change bit is durable, (4) clear the
// intent bits of regions untouched since (1). Cost: one device flush, plus a
// block write per dirty bitmap block and a second flush when there are any,
// plus one intent block write when a bit clears.
func (e *Engine) flushLocked() error {
	e.intent.beginFlush()
	if err := e.dev.Flush(); err != nil {
		return fmt.Errorf("mirror: flush: %w", err)
	}
	n, err := e.writeAllDirty()
	if err != nil {
		return err
	}
	if n > 0 {
		if err := e.dev.Flush(); err != nil {
			return fmt.Errorf("mirror: flush: %w", err)
		}
	}
	return e.intent.endFlush()
}

// writeAllDirty writes every dirty bitmap block, volumes then mirrors, by id.
func (e *Engine) writeAllDirty() (int, error) {
	total := 0
	for _, v := range e.vols {
		if v.changed != nil {
			n, err := e.writeDirty(v.changed, v.ext)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	for _, m := range e.mirs {
		n, err := e.writeDirty(m.oos, m.ext)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// writeDirty writes b's dirty blocks to the bitmap area at ext, in block
// order, without flushing. On error the unwritten blocks stay dirty.
func (e *Engine) writeDirty(b *chunkBitmap, ext int64) (int, error) {
	n := 0
	for i := range b.dirty {
		word := b.takeDirtyWord(i)
		for word != 0 {
			bit := int64(bits.TrailingZeros64(word))
			blk := int64(i)*64 + bit
			b.encodeBlock(blk, e.mbuf)
			if _, err := e.dev.WriteAt(e.mbuf, ext+blk*blockSize); err != nil {
				for word != 0 { // this block and the rest of the word stay dirty
					b.markDirty(int64(i)*64 + int64(bits.TrailingZeros64(word)))
					word &= word - 1
				}
				return n, fmt.Errorf("mirror: write bitmap: %w", err)
			}
			e.st.bitmapWrites.Add(1)
			n++
			word &= word - 1
		}
	}
	return n, nil
}

// writeWholeBitmap writes every block of b (a new bitmap) in IOs of up to
// 64 blocks, without flushing, and clears its dirty marks.
func (e *Engine) writeWholeBitmap(b *chunkBitmap, ext int64) error {
	for i := range b.dirty {
		b.takeDirtyWord(i)
	}
	nb := b.blocks()
	const batch = 64
	buf := device.GetBuffer(int(min(nb, batch) * blockSize))
	defer device.PutBuffer(buf)
	for first := int64(0); first < nb; first += batch {
		k := min(nb-first, batch)
		for j := int64(0); j < k; j++ {
			b.encodeBlock(first+j, buf[j*blockSize:(j+1)*blockSize])
		}
		if _, err := e.dev.WriteAt(buf[:k*blockSize], ext+first*blockSize); err != nil {
			for j := first; j < nb; j++ {
				b.markDirty(j)
			}
			return fmt.Errorf("mirror: write bitmap: %w", err)
		}
		e.st.bitmapWrites.Add(k)
	}
	return nil
}

// Close stops the background syncer and releases the engine. It does not
// flush: unflushed writes are as after a crash.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return fmt.Errorf("mirror: %w", strategies.ErrClosed)
	}
	e.closed = true
	e.mu.Unlock()
	e.stop()
	return nil
}

// MemoryBytes estimates the in-memory metadata: bitmaps, intent state and
// per-volume records.
func (e *Engine) MemoryBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := int64(8*len(e.intent.regions)) + int64(len(e.mbuf)) + e.copyBufLen()
	for _, v := range e.vols {
		n += 200 + int64(len(v.name)) + int64(8*(len(v.mirrors)+len(v.trackers)))
		if v.changed != nil {
			n += v.changed.memoryBytes()
		}
	}
	for _, m := range e.mirs {
		n += 120 + m.oos.memoryBytes()
	}
	return n
}

// Stats reports the mechanism's counters since open: mirror_writes and
// mirror_write_bytes (copies of base writes), sync_bytes (copied by initial
// synchronisation), resync_bytes (copied to re-established or recovered
// mirrors), splits, establishes, reestablishes, recycles, detaches,
// intent_writes, bitmap_writes, table_commits, recovered_chunks (marked out
// of sync or changed by crash recovery), bitmap_repairs, sync_errors.
func (e *Engine) Stats() map[string]int64 {
	return map[string]int64{
		"mirror_writes":      e.st.mirrorWrites.Load(),
		"mirror_write_bytes": e.st.mirrorBytes.Load(),
		"sync_bytes":         e.st.syncBytes.Load(),
		"resync_bytes":       e.st.resyncBytes.Load(),
		"splits":             e.st.splits.Load(),
		"establishes":        e.st.establishes.Load(),
		"reestablishes":      e.st.reestablishes.Load(),
		"recycles":           e.st.recycles.Load(),
		"detaches":           e.st.detaches.Load(),
		"intent_writes":      e.intent.writes.Load(),
		"bitmap_writes":      e.st.bitmapWrites.Load(),
		"table_commits":      e.st.commits.Load(),
		"recovered_chunks":   e.st.recoveredChunks.Load(),
		"bitmap_repairs":     e.st.repairs.Load(),
		"sync_errors":        e.st.syncFails.Load(),
	}
}
