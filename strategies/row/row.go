package row

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

func init() {
	strategies.Register(strategies.Factory{
		Order: 40,
		Name:  "row",
		Doc:   "redirect-on-write pool with refcounted copy-on-write B-trees (dm-thin, WAFL/FlexClone, btrfs): O(1) snapshots and clones",
		Params: []strategies.Param{
			{Name: "cache-mb", Default: "64", Help: "node cache in MiB (B-tree nodes and space-map pages, 4 KiB each; fractions allowed)"},
			{Name: "expire-snapshots-on-full", Default: "false", Help: "when the pool is full, delete the oldest read-only snapshots (never clones or bases) to make room"},
			{Name: "metadata-percent", Default: "2", Help: "share of the device set aside for B-tree nodes (at least 256 KiB)"},
		},
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

// maxCacheFrames caps cache-mb at 64 GiB of frames.
const maxCacheFrames = 1 << 24

// Engine is the redirect-on-write engine. Every method is safe for
// concurrent use.
//
// Locking, outermost first:
//   - mu: IO holds it shared for the whole call (so a commit never sees a
//     half-done write); metadata operations, commits, Check and Close hold
//     it exclusively, which drains IO.
//   - volState.mu: a volume's mapping tree; lookups share it, installing a
//     new mapping holds it exclusively (never across data IO).
//   - spaceMap.mu: reference counts, allocation, reservations.
//   - blockCache.mu: the cache's map and CLOCK.
type Engine struct {
	mu       sync.RWMutex
	dev      device.Device
	lay      layout
	sector   int
	memAlign int
	slots    *meta.DualSlot
	cache    *blockCache
	sm       *spaceMap
	expire   bool

	// Written only with mu held exclusively.
	txn     uint64 // the open transaction: last committed + 1
	nextID  strategies.VolumeID
	expired int64
	volRoot uint64
	idxCur  []uint8 // current copy of each index page
	vols    []*volState
	byID    map[strategies.VolumeID]*volState
	byName  map[string]*volState
	removed []strategies.VolumeID // records to remove at the next commit

	// recMu guards recList: the volumes whose record the next commit writes
	// (isNew or recDirty set; a deleted one is skipped), so a commit costs
	// O(changed records), not O(volumes). IO adds to it with mu shared.
	recMu   sync.Mutex
	recList []*volState

	dirty   atomic.Bool // metadata changed since the last commit
	closed  atomic.Bool
	failed  atomic.Bool
	failMu  sync.Mutex
	failErr error

	st stats
}

// volState is a volume in memory: its record plus the live root.
type volState struct {
	id     strategies.VolumeID
	name   string
	kind   strategies.Kind
	parent strategies.VolumeID
	size   int64

	// Written only with Engine.mu held exclusively.
	snapGen uint64 // transaction of the last snapshot or clone sharing this tree
	isNew   bool   // not yet in the committed volume table

	mu       sync.RWMutex
	root     uint64 // guarded by mu and Engine.mu (either exclusively to write)
	recDirty bool   // guarded like root: record to rewrite at the next commit
	open     atomic.Int32
}

func (v *volState) record() volRecord {
	return volRecord{parent: v.parent, root: v.root, size: v.size, snapGen: v.snapGen, kind: v.kind, name: v.name}
}

func newEngine(dev device.Device, opts strategies.Options) (*Engine, error) {
	mb, err := opts.Float("row", "cache-mb")
	if err != nil {
		return nil, err
	}
	if !(mb > 0) {
		return nil, fmt.Errorf("row: option cache-mb=%v: %w: must be positive", mb, strategies.ErrInvalidArgument)
	}
	exp, err := opts.Bool("row", "expire-snapshots-on-full")
	if err != nil {
		return nil, err
	}
	pct, err := opts.Float("row", "metadata-percent")
	if err != nil {
		return nil, err
	}
	sec := dev.SectorSize()
	if sec <= 0 || sec > blockSize || blockSize%sec != 0 {
		return nil, fmt.Errorf("row: %w: sector size %d (need a divisor of 4096)", strategies.ErrInvalidArgument, sec)
	}
	lay, err := computeLayout(dev.Size(), opts.ChunkSize, pct)
	if err != nil {
		return nil, err
	}
	e := &Engine{dev: dev, lay: lay, sector: sec, memAlign: max(device.Describe(dev).MemAlign, 1), expire: exp,
		slots:  meta.NewDualSlot(dev, 0, lay.slotSize, lay.slotSize),
		idxCur: make([]uint8, lay.idxPages),
		byID:   make(map[strategies.VolumeID]*volState),
		byName: make(map[string]*volState)}
	e.cache = newBlockCache(int(min(mb*256, maxCacheFrames)), e)
	e.sm = newSpaceMap(lay, e.cache)
	return e, nil
}

// Validate checks what Format would refuse (options, space for the
// layout) without writing to dev.
func Validate(dev device.Device, opts strategies.Options) error {
	_, err := newEngine(dev, opts)
	return err
}

// Format lays an empty engine on dev: index pages describing an empty space
// map, then both commit-record slots. Space-map pages are written only when
// first used (an unmaterialized page reads as all zero), so Format costs
// O(device / 2 GiB) blocks, not O(device).
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	e.txn, e.nextID = 1, 1
	for p := range e.sm.free {
		e.sm.free[p] = uint32(e.sm.entriesIn(uint64(p)))
	}
	buf := device.Alloc(blockSize)
	for i := uint64(0); i < e.lay.idxPages; i++ {
		e.sm.encodeIdxPage(buf, i, e.txn, func(uint64) uint32 { return 0 })
		if _, err := dev.WriteAt(buf, e.lay.idxOffOf(i, 0)); err != nil {
			return nil, fmt.Errorf("row: format: write index page: %w", err)
		}
	}
	if err := dev.Flush(); err != nil {
		return nil, fmt.Errorf("row: format: %w", err)
	}
	if err := e.slots.Format(e.record(e.idxBits()).encode()); err != nil {
		return nil, fmt.Errorf("row: format: %w", err)
	}
	e.txn++
	clear(e.sm.idxDirty)
	return e, nil
}

// Open loads the newest commit record, the index pages and the volume
// table. Space-map pages and mapping nodes are read on demand.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts)
	if err != nil {
		return nil, err
	}
	raw, err := e.slots.Load()
	switch {
	case errors.Is(err, meta.ErrNoRecord):
		return nil, fmt.Errorf("row: %w: no valid commit record", strategies.ErrCorrupt)
	case err != nil:
		return nil, fmt.Errorf("row: open: %w", err)
	}
	rec, err := decodeCommitRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("row: %w", err)
	}
	if !rec.sameGeometry(e.lay) {
		return nil, fmt.Errorf("row: %w: recorded geometry %+v differs from the computed %+v", strategies.ErrCorrupt, rec.lay, e.lay)
	}
	if rec.volRoot > e.lay.metaBlocks || rec.nextID > 1<<62 {
		return nil, fmt.Errorf("row: %w: commit record: volume table root %d, next id %d", strategies.ErrCorrupt, rec.volRoot, rec.nextID)
	}
	e.txn = rec.txn + 1
	e.nextID = strategies.VolumeID(rec.nextID)
	e.expired = int64(rec.expired)
	e.volRoot = rec.volRoot
	if err := e.loadIndex(rec); err != nil {
		return nil, err
	}
	if err := e.loadVolumes(); err != nil {
		return nil, err
	}
	return e, nil
}

// loadIndex reads the current index pages into the space map's page states.
func (e *Engine) loadIndex(rec commitRecord) error {
	buf := device.Alloc(blockSize)
	s := e.sm
	pages := e.lay.pages()
	for i := uint64(0); i < e.lay.idxPages; i++ {
		slot := idxBit(rec.idxBits, i)
		if _, err := e.dev.ReadAt(buf, e.lay.idxOffOf(i, slot)); err != nil {
			return fmt.Errorf("row: read index page %d: %w", i, err)
		}
		err := decodeIdxPage(buf, i, rec.txn, pages, s.entriesIn, func(p uint64, st, free uint32) {
			s.state[p].Store(st)
			s.free[p] = free
		})
		if err != nil {
			return fmt.Errorf("row: %w", err)
		}
		e.idxCur[i] = uint8(slot)
	}
	for k := range 2 {
		var free uint64
		for p := s.base[k]; p < s.base[k]+s.np[k]; p++ {
			free += uint64(s.free[p])
		}
		s.used[k] = s.n[k] - free
	}
	return nil
}

// loadVolumes walks the volume table into memory.
func (e *Engine) loadVolumes() error {
	levels, nodes, err := e.walkVolTable(e.volRoot, func(id uint64, r volRecord) error {
		if id == 0 || id >= uint64(e.nextID) {
			return fmt.Errorf("%w: volume id %d outside [1, %d)", strategies.ErrCorrupt, id, e.nextID)
		}
		if err := e.checkRecord(r); err != nil {
			return fmt.Errorf("volume %d: %w", id, err)
		}
		if e.byName[r.name] != nil {
			return fmt.Errorf("%w: two volumes named %q", strategies.ErrCorrupt, r.name)
		}
		v := &volState{id: strategies.VolumeID(id), name: r.name, kind: r.kind, parent: r.parent, size: r.size,
			snapGen: r.snapGen, root: r.root}
		e.vols = append(e.vols, v)
		e.byID[v.id] = v
		e.byName[v.name] = v
		return nil
	})
	if err != nil {
		return fmt.Errorf("row: load volume table: %w", err)
	}
	e.sm.vt.levels, e.sm.vt.nodes = levels, nodes
	return nil
}

// checkRecord validates a volume record against the engine.
func (e *Engine) checkRecord(r volRecord) error {
	switch {
	case r.size%e.lay.chunk != 0:
		return fmt.Errorf("%w: size %d not a multiple of the chunk size", strategies.ErrCorrupt, r.size)
	case r.root > e.lay.metaBlocks:
		return fmt.Errorf("%w: root %d beyond the node area", strategies.ErrCorrupt, r.root)
	case r.snapGen >= e.txn:
		return fmt.Errorf("%w: snapshot generation %d not before the open transaction %d", strategies.ErrCorrupt, r.snapGen, e.txn)
	case r.parent >= e.nextID:
		return fmt.Errorf("%w: parent %d not yet allocated", strategies.ErrCorrupt, r.parent)
	}
	return nil
}

// record builds the commit record of the current state with idxBits.
func (e *Engine) record(idxBits []byte) commitRecord {
	return commitRecord{txn: e.txn, nextID: uint64(e.nextID), expired: uint64(e.expired), volRoot: e.volRoot,
		lay: e.lay, idxBits: idxBits}
}

// idxBits encodes the current index copies.
func (e *Engine) idxBits() []byte {
	b := make([]byte, ceilDiv(e.lay.idxPages, 8))
	for i, c := range e.idxCur {
		b[i/8] |= c << (i % 8)
	}
	return b
}

// loadBlock is the cache's miss handler: a node (validated) or a space-map
// page (its current copy, the copy written this transaction, or zeros).
func (e *Engine) loadBlock(key uint64, buf []byte) error {
	if key&pageKeyBit != 0 {
		p := key &^ pageKeyBit
		st := e.sm.state[p].Load()
		if st&(stMat|stWritten) == 0 {
			initSMPage(buf, p)
			return nil
		}
		slot := int(st & stCur)
		if st&stWritten != 0 {
			slot ^= 1
		}
		if _, err := e.dev.ReadAt(buf, e.lay.pageOff(p, slot)); err != nil {
			return fmt.Errorf("row: read space-map page %d: %w", p, err)
		}
		e.st.pageReads.Add(1)
		if err := checkSMPage(buf, p, e.txn, e.sm.entriesIn(p)); err != nil {
			return fmt.Errorf("row: %w", err)
		}
		return nil
	}
	if _, err := e.dev.ReadAt(buf, e.lay.nodeOff(key)); err != nil {
		return fmt.Errorf("row: read node %d: %w", key, err)
	}
	e.st.nodeReads.Add(1)
	if err := checkNode(buf, key, e.txn); err != nil {
		return fmt.Errorf("row: %w", err)
	}
	return nil
}

// storeBlock is the cache's write-back of a dirty frame before the commit:
// a node to its own block (new in this transaction, so no committed tree
// points to it), a space-map page to its non-current copy.
func (e *Engine) storeBlock(key uint64, buf []byte) error {
	if key&pageKeyBit != 0 {
		p := key &^ pageKeyBit
		sealSMPage(buf, p, e.txn)
		slot := 1 - int(e.sm.state[p].Load()&stCur)
		if _, err := e.dev.WriteAt(buf, e.lay.pageOff(p, slot)); err != nil {
			return fmt.Errorf("row: write space-map page %d: %w", p, err)
		}
		e.sm.state[p].Or(stWritten)
		e.st.pagesWritten.Add(1)
		return nil
	}
	sealNode(buf)
	if _, err := e.dev.WriteAt(buf, e.lay.nodeOff(key)); err != nil {
		return fmt.Errorf("row: write node %d: %w", key, err)
	}
	e.st.nodesWritten.Add(1)
	return nil
}

// usable reports why the engine cannot be used, if it cannot.
func (e *Engine) usable() error {
	if e.closed.Load() {
		return fmt.Errorf("row: %w", strategies.ErrClosed)
	}
	if e.failed.Load() {
		e.failMu.Lock()
		defer e.failMu.Unlock()
		return fmt.Errorf("row: engine stopped after a metadata update failed (reopen the device to recover the last commit): %w", e.failErr)
	}
	return nil
}

// fail stops the engine after an error that left in-memory metadata
// inconsistent with what a commit would need (a device error half-way
// through a tree update or a commit), as dm-thin switches a pool to
// fail mode. The on-device state is the last commit, which reopening finds.
func (e *Engine) fail(err error) error {
	if errors.Is(err, strategies.ErrClosed) {
		return err
	}
	e.failMu.Lock()
	if e.failErr == nil {
		e.failErr = err
		e.failed.Store(true)
	}
	e.failMu.Unlock()
	return err
}

// Name returns "row".
func (e *Engine) Name() string { return "row" }

// Caps: everything.
func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true, Thin: true}
}

// Close releases the engine without flushing: unflushed writes are lost as
// in a crash. It waits for IO in flight.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Swap(true) {
		return fmt.Errorf("row: %w", strategies.ErrClosed)
	}
	return nil
}
