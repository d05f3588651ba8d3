package linked

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

func init() {
	strategies.Register(strategies.Factory{
		Order: 50,
		Name:  "linked",
		Doc:   "VMware View replica + linked clones, VMDK redo logs, qcow2 backing chains: sparse deltas over a read-only replica",
		Params: []strategies.Param{{
			Name:    "replica",
			Default: "true",
			Help: "clone a base through a read-only full-copy replica made once per base content (VMware View); " +
				"false stacks clones directly on the base's frozen delta (a qcow2 backing file)",
		}, {
			Name:    "replica-device",
			Default: "",
			Device:  true,
			Help: "a second device (file or block device, which must exist) holding the replicas, their data and grain tables: " +
				"the template on the main (cheaper) device, the replica on a faster tier; empty keeps replicas in the main pool",
		}},
		Validate: Validate,
		Format:   Format,
		Open:     Open,
	})
}

// Layout of the engine area (offsets from the start of the area):
//
//	0         catalog slot A (slotSize bytes, meta.DualSlot)
//	slotSize  catalog slot B
//	poolOff   the pool: grain n (n >= 1) at poolOff + (n-1)*chunk, holding
//	          either volume data or grain-table blocks
const (
	slotSize = 1 << 20
	poolOff  = 2 * slotSize
)

// geometry is everything derived from the device and options.
type geometry struct {
	chunk  int
	shift  uint
	sector int
	epb    int // GT entries per block (sector)
	bpg    int // GT blocks per pool grain
	nPool  uint32
	area   int64
	// nRep: grains of the replica pool on the replica device (0: none).
	// They are numbered nPool+1..nPool+nRep.
	nRep uint32
}

func newGeometry(area int64, chunk, sector int) (*geometry, error) {
	if chunk < strategies.MinChunkSize || chunk > strategies.MaxChunkSize || chunk&(chunk-1) != 0 {
		return nil, fmt.Errorf("linked: %w: chunk size %d", strategies.ErrInvalidArgument, chunk)
	}
	if sector < 512 || sector > chunk || sector&(sector-1) != 0 {
		return nil, fmt.Errorf("linked: %w: sector size %d with chunk %d", strategies.ErrInvalidArgument, sector, chunk)
	}
	n := (area - poolOff) / int64(chunk)
	if n < 2 {
		return nil, fmt.Errorf("linked: %w: engine area of %d bytes is too small (need %d)", strategies.ErrNoSpace, area, poolOff+2*int64(chunk))
	}
	if n > int64(maxGrain) {
		n = int64(maxGrain) // the rest of a huge device is unused: grain numbers are 31-bit
	}
	return &geometry{chunk: chunk, shift: uint(bits.TrailingZeros(uint(chunk))), sector: sector,
		epb: entriesPerBlock(sector), bpg: chunk / sector, nPool: uint32(n), area: area}, nil
}

// grainOff is the offset of pool grain n on its device (see Engine.devOf):
// the main device for n <= nPool, else the replica device.
func (g *geometry) grainOff(n uint32) int64 {
	if n > g.nPool {
		return repPoolOffFor(g.chunk) + int64(n-g.nPool-1)<<g.shift
	}
	return poolOff + int64(n-1)<<g.shift
}

// total is the highest grain number of both pools.
func (g *geometry) total() uint32 { return g.nPool + g.nRep }

// gtBlocks is how many GT blocks a table of n grains needs.
func (g *geometry) gtBlocks(n uint32) int { return (int(n) + g.epb - 1) / g.epb }

// gdLen is how many pool grains hold a table of n grains.
func (g *geometry) gdLen(n uint32) int { return (g.gtBlocks(n) + g.bpg - 1) / g.bpg }

// catalogReserve is the main-pool grains kept for catalog commits: eight
// full buckets (a metadata operation touches a handful), at most a quarter
// of the pool.
func (g *geometry) catalogReserve() uint32 {
	per := (maxEntryFixed<<bucketShift + g.chunk - 1) / g.chunk
	return min(uint32(8*per), g.nPool/4)
}

// perTable is how many volume grains one grain-table grain maps.
func (g *geometry) perTable() int { return g.epb * g.bpg }

// blockOff is the device offset of GT block b of d.
func (g *geometry) blockOff(d *delta, b int) int64 {
	return g.grainOff(d.gd[b/g.bpg]) + int64(b%g.bpg)*int64(g.sector)
}

// Engine is the linked engine. Every method is safe for concurrent use.
//
// Locking: mu serialises metadata operations (create, snapshot, clone,
// delete, flush of the engine, listing) and guards the volume and delta
// maps. Each volume has an IO lock (volume.mu): IO holds it shared, and an
// operation that changes the chain under a volume (its snapshot, a merge
// below it) holds it exclusively. The allocator and each delta's commit
// state have their own leaf locks. Order: mu, then volume IO locks in
// ascending id order, then delta.flushMu in ascending id order.
type Engine struct {
	mu         sync.Mutex
	dev        device.Device
	geo        *geometry
	memAlign   int
	slots      *meta.DualSlot
	alloc      *allocator
	rdev       *replicaDev // the replica device (option replica-device), nil: none
	ralloc     *allocator  // its pool, local grain numbers 1..nRep; nil: none
	vols       map[strategies.VolumeID]*volume
	names      map[string]*volume
	deltas     map[uint64]*delta
	nextVol    strategies.VolumeID
	nextDelta  uint64
	useReplica bool
	buckets    []bucketRef     // the committed catalog buckets, by ascending index (the root's)
	dirtyB     map[uint32]bool // buckets to rewrite at the next commit
	zero       []byte          // one chunk of zeros, for new grain tables

	closed atomic.Bool
	failed atomic.Pointer[error] // set when a catalog commit failed: state on the device is ambiguous

	stats stats
}

// stats are the engine's counters (see Stats).
type stats struct {
	replicasMade, replicaBytes, replicaNs atomic.Int64
	clonesOnReplica                       atomic.Int64
	merges, mergeBytes, mergeNs           atomic.Int64
	copyups, copyupBytes                  atomic.Int64
	commits, gtBlockWrites                atomic.Int64
	chainDepthMax                         atomic.Int64
}

func (s *stats) noteDepth(d int) {
	for {
		cur := s.chainDepthMax.Load()
		if int64(d) <= cur || s.chainDepthMax.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// newEngine makes the engine's memory state and, with option
// replica-device, opens the replica device: at Format it writes its header
// (durable), at Open it reads and checks it.
func newEngine(dev device.Device, opts strategies.Options, format bool) (*Engine, error) {
	geo, err := newGeometry(dev.Size(), opts.ChunkSize, dev.SectorSize())
	if err != nil {
		return nil, err
	}
	useReplica := true
	if s, ok := opts.Params["replica"]; ok && s != "" {
		if useReplica, err = opts.Bool("linked", "replica"); err != nil {
			return nil, err
		}
	}
	e := &Engine{dev: dev, geo: geo, memAlign: max(device.Describe(dev).MemAlign, 1),
		slots: meta.NewDualSlot(dev, 0, slotSize, slotSize), useReplica: useReplica,
		vols: make(map[strategies.VolumeID]*volume), names: make(map[string]*volume),
		deltas: make(map[uint64]*delta), nextVol: 1, nextDelta: 1,
		dirtyB: make(map[uint32]bool),
		zero:   device.Alloc(geo.chunk)}
	if path := opts.Params["replica-device"]; path != "" {
		if format {
			err = e.formatReplicaDevice(path)
		} else {
			err = e.openReplica(path)
		}
		if err != nil {
			return nil, err
		}
		e.memAlign = max(e.memAlign, device.Describe(e.rdev.Device).MemAlign)
	}
	return e, nil
}

// Validate checks what Format would refuse without writing anything: the
// options, the geometry of dev, and the replica device when one is named
// (opened, its geometry checked against the main one, closed).
func Validate(dev device.Device, opts strategies.Options) error {
	geo, err := newGeometry(dev.Size(), opts.ChunkSize, dev.SectorSize())
	if err != nil {
		return err
	}
	if s := opts.Params["replica"]; s != "" {
		if _, err := opts.Bool("linked", "replica"); err != nil {
			return err
		}
	}
	path := opts.Params["replica-device"]
	if path == "" {
		return nil
	}
	r, err := openReplicaDevice(path, false)
	if err != nil {
		return err
	}
	defer r.close()
	_, err = replicaGeometry(r, path, geo)
	return err
}

// Format lays an empty linked engine on dev: an empty catalog in both slots,
// durable on return. The pool needs no initialisation: the allocator is
// rebuilt from the catalog at Open. With a replica device, its header is
// written and flushed first, then the catalog that names its nonce.
func Format(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts, true)
	if err != nil {
		return nil, err
	}
	e.alloc = newAllocator(e.geo.nPool)
	e.alloc.reserve = e.geo.catalogReserve()
	if e.rdev != nil {
		e.ralloc = newAllocator(e.geo.nRep)
	}
	if err := e.slots.Format(encodeRoot(e.rootLocked())); err != nil {
		e.closeReplica()
		return nil, fmt.Errorf("linked: format: %w", err)
	}
	return e, nil
}

// Open reads the catalog and every grain table from dev (and the replica
// device) and rebuilds the allocators from them.
func Open(dev device.Device, opts strategies.Options) (strategies.Engine, error) {
	e, err := newEngine(dev, opts, false)
	if err != nil {
		return nil, err
	}
	st, err := e.load()
	if err != nil {
		e.closeReplica()
		return nil, err
	}
	e.install(st)
	return e, nil
}

// closeReplica closes the replica device, if any.
func (e *Engine) closeReplica() error {
	if e.rdev == nil {
		return nil
	}
	return e.rdev.close()
}

// Name returns "linked".
func (e *Engine) Name() string { return "linked" }

// Caps reports every capability: snapshots and clones of anything, any
// delete order, many volumes, thin provisioning.
func (e *Engine) Caps() strategies.Caps {
	return strategies.Caps{Snapshot: true, Clone: true, Nested: true, DeleteParent: true, MultiVolume: true, Thin: true}
}

// usable fails once the engine is closed or a catalog commit failed.
func (e *Engine) usable() error {
	if e.closed.Load() {
		return fmt.Errorf("linked: %w", strategies.ErrClosed)
	}
	if p := e.failed.Load(); p != nil {
		return fmt.Errorf("linked: engine stopped after a failed metadata commit (reopen it): %w", *p)
	}
	return nil
}

// commitRoot commits the catalog: the buckets of the volumes touched since
// the last commit are encoded into newly allocated main-pool grains and
// flushed, then the root naming them is written (DualSlot) and flushed,
// and only then are the grains of the buckets it replaced freed. Cost:
// O(volumes touched + buckets), not O(catalog). Everything the catalog
// refers to must be durable. On failure the device holds the old or the
// new catalog and the engine cannot tell which: it stops taking metadata
// operations (a reopen recovers whichever is on the device).
func (e *Engine) commitRoot() error {
	err := e.writeRoot()
	if err != nil {
		err = fmt.Errorf("linked: commit catalog: %w", err)
		e.failed.CompareAndSwap(nil, &err)
		return err
	}
	e.stats.commits.Add(1)
	return nil
}

func (e *Engine) writeRoot() error {
	var written, replaced []uint32
	fail := func(err error) error {
		for _, x := range written {
			e.freeGrain(x, true)
		}
		return err
	}
	next := make(map[uint32]bucketRef, len(e.dirtyB))
	buf := device.GetBuffer(e.geo.chunk)
	defer device.PutBuffer(buf)
	for _, idx := range sortedKeys(e.dirtyB) {
		rec := encodeBucket(e.bucketLocked(idx))
		br := bucketRef{idx: idx}
		if len(rec) > 4 {
			br.length, br.crc = uint32(len(rec)), meta.Checksum(rec)
			for off := 0; off < len(rec); off += e.geo.chunk {
				x := e.alloc.allocCatalog()
				if x == 0 {
					return fail(fmt.Errorf("catalog bucket %d: %w: the pool has no free grain for the catalog", idx, strategies.ErrNoSpace))
				}
				written = append(written, x)
				br.grains = append(br.grains, x)
				part := rec[off:min(off+e.geo.chunk, len(rec))]
				n := copy(buf, part)
				n = (n + e.geo.sector - 1) / e.geo.sector * e.geo.sector
				clear(buf[len(part):n])
				if _, err := e.dev.WriteAt(buf[:n], e.geo.grainOff(x)); err != nil {
					return fail(fmt.Errorf("catalog bucket %d: %w", idx, err))
				}
			}
		}
		next[idx] = br
	}
	if len(written) > 0 {
		if err := e.flushData(); err != nil {
			return fail(fmt.Errorf("flush: %w", err))
		}
	}
	// Apply the changed buckets to the sorted list (a binary search each;
	// the root written below is O(buckets) anyway), keeping the old list to
	// undo a failed commit.
	old := slices.Clone(e.buckets)
	for _, idx := range sortedKeys(next) {
		br := next[idx]
		i, found := slices.BinarySearchFunc(e.buckets, idx, func(b bucketRef, idx uint32) int { return cmp.Compare(b.idx, idx) })
		switch {
		case found:
			replaced = append(replaced, e.buckets[i].grains...)
			if br.length == 0 {
				e.buckets = slices.Delete(e.buckets, i, i+1)
			} else {
				e.buckets[i] = br
			}
		case br.length != 0:
			e.buckets = slices.Insert(e.buckets, i, br)
		}
	}
	rec := encodeRoot(e.rootLocked())
	if len(rec) > e.slots.MaxPayload() {
		e.buckets = old
		return fail(fmt.Errorf("%w: catalog root of %d bytes (%d buckets) exceeds its %d-byte slot",
			strategies.ErrNoSpace, len(rec), len(e.buckets), e.slots.MaxPayload()))
	}
	if err := e.slots.Commit(rec); err != nil {
		e.buckets = old
		return fail(err)
	}
	clear(e.dirtyB)
	for _, x := range replaced {
		e.freeGrain(x, true)
	}
	return nil
}

// roomFor fails with ErrNoSpace when the main pool could not hold the
// catalog buckets of vols more volumes (and the buckets they touch), so
// that a metadata operation fails cleanly before it changes anything
// rather than in its catalog commit. The root holds one bucket reference
// per 128 volume ids in use: at 16 bytes plus a grain number per bucket
// grain, the 1 MiB slot holds tens of thousands of buckets (millions of
// volumes).
func (e *Engine) roomFor(vols int) error {
	per := (maxEntryFixed<<bucketShift + e.geo.chunk - 1) / e.geo.chunk // grains of a full bucket without directories
	need := uint32((vols>>bucketShift + 3) * per)
	used, _ := e.alloc.counts()
	if free := e.geo.nPool - used; free < need {
		return fmt.Errorf("linked: %w: the catalog needs up to %d free grains for %d new volumes, the pool has %d",
			strategies.ErrNoSpace, need, vols, free)
	}
	return nil
}

// Space reports the pool: data grains, grain-table grains plus the catalog
// slots (metadata), free grains. With a replica device both devices are
// accounted: Capacity is the engine area plus the whole replica device,
// Data and Free add the replica pool's data and free grains, and Metadata
// (the rest) adds its grain tables, its header area and its unusable tail.
func (e *Engine) Space() strategies.Space {
	used, metaGrains := e.alloc.counts()
	c := int64(e.geo.chunk)
	s := strategies.Space{Capacity: e.geo.area}
	s.Data = int64(used-metaGrains) * c
	s.Free = int64(e.geo.nPool-used) * c
	if e.rdev != nil {
		rused, rmeta := e.ralloc.counts()
		s.Capacity += e.rdev.Size()
		s.Data += int64(rused-rmeta) * c
		s.Free += int64(e.geo.nRep-rused) * c
	}
	s.Metadata = s.Capacity - s.Data - s.Free // slots, GT grains, and the unusable tail
	return s
}

// Volumes lists every volume by id, internal replicas and layers included
// (KindInternal, read-only). PrivateBytes is what the volume's own delta
// holds: its data grains and grain-table grains.
func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]strategies.VolumeInfo, 0, len(e.vols))
	for _, id := range sortedKeys(e.vols) {
		v := e.vols[id]
		parent := v.parentVol
		if e.vols[parent] == nil {
			parent = strategies.NoVolume // deleted
		}
		out = append(out, strategies.VolumeInfo{ID: v.id, Name: v.name, Parent: parent, Kind: v.kind,
			Size: v.size, ReadOnly: v.readOnly, Valid: true,
			PrivateBytes: (v.d.used.Load() + v.d.tables.Load()) * int64(e.geo.chunk)})
	}
	return out
}

// Flush makes every acknowledged write of every volume durable: one device
// flush for the data, then the grain-table blocks of every delta with new
// mappings, then a second flush.
func (e *Engine) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	var ds []*delta
	for _, d := range e.deltas {
		if d.hasDirty() || d.hasNewTables() {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b *delta) int { return cmp.Compare(a.id, b.id) })
	needRoot, err := e.commitDeltas(true, ds...)
	if err != nil || !needRoot {
		return err
	}
	return e.commitRoot()
}

// Close releases the engine without flushing, and closes the replica
// device (the main device is the caller's). Open handles fail afterwards.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return fmt.Errorf("linked: %w", strategies.ErrClosed)
	}
	if e.rdev == nil {
		return nil
	}
	e.mu.Lock() // let a metadata operation in flight finish with the device
	defer e.mu.Unlock()
	return e.closeReplica()
}

// MemoryBytes estimates the in-memory metadata: grain-table pages, page
// directories, grain directories, pending lists, the allocator bitmap and
// per-volume state.
func (e *Engine) MemoryBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := int64(len(e.alloc.words))*8 + int64(len(e.zero)) + 512
	if e.ralloc != nil {
		n += int64(len(e.ralloc.words)) * 8
	}
	for _, d := range e.deltas {
		n += d.npages.Load()*pageBytes + int64(len(d.pages))*8 + int64(len(d.gd))*4 + 160
		d.dirtyMu.Lock()
		n += int64(cap(d.dirty)) * 4
		d.dirtyMu.Unlock()
	}
	n += int64(len(e.vols)) * (volumeOverhead + 64)
	return n
}

// Stats returns the mechanism's counters since Open: replicas made (bytes
// copied, time), clones linked to a replica, merges on delete (bytes
// copied, time), copy-ups of partial-grain writes, catalog commits,
// grain-table block writes, and the deepest chain seen.
func (e *Engine) Stats() map[string]int64 {
	s := &e.stats
	return map[string]int64{
		"replicas_made":     s.replicasMade.Load(),
		"replica_bytes":     s.replicaBytes.Load(),
		"replica_ns":        s.replicaNs.Load(),
		"clones_on_replica": s.clonesOnReplica.Load(),
		"merges":            s.merges.Load(),
		"merge_bytes":       s.mergeBytes.Load(),
		"merge_ns":          s.mergeNs.Load(),
		"copyups":           s.copyups.Load(),
		"copyup_bytes":      s.copyupBytes.Load(),
		"catalog_commits":   s.commits.Load(),
		"gt_block_writes":   s.gtBlockWrites.Load(),
		"chain_depth_max":   s.chainDepthMax.Load(),
	}
}

var (
	_ strategies.Engine         = (*Engine)(nil)
	_ strategies.BatchCloner    = (*Engine)(nil)
	_ strategies.BatchDeleter   = (*Engine)(nil)
	_ strategies.MemoryReporter = (*Engine)(nil)
	_ strategies.Statser        = (*Engine)(nil)
)

// corrupt wraps problems as ErrCorrupt.
func corrupt(what string, err error) error {
	return fmt.Errorf("linked: %w: %s: %w", strategies.ErrCorrupt, what, err)
}

var errNoCatalog = errors.New("no valid catalog in either slot")
