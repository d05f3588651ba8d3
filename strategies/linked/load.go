package linked

import (
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// state is the engine metadata as read from the device.
type state struct {
	root      *root
	bucketRaw map[uint32][]byte // each bucket's bytes
	cat       *catalog
	vols      map[strategies.VolumeID]*volume
	deltas    map[uint64]*delta
	alloc     *allocator // main pool
	ralloc    *allocator // replica pool (nil: no replica device)
	maxDepth  int
	nextVol   strategies.VolumeID
	nextDelta uint64
}

// readBuckets reads and decodes the buckets r names: one read per run of
// contiguous grains, each bucket's length and CRC checked. Bucket grains
// are main-pool grains.
func (e *Engine) readBuckets(r *root) (map[uint32][]byte, [][]entry, error) {
	raw := make(map[uint32][]byte, len(r.buckets))
	var out [][]entry
	g := e.geo
	for _, br := range r.buckets {
		b := device.Alloc(len(br.grains) * g.chunk)
		for i := 0; i < len(br.grains); {
			x := br.grains[i]
			if x == 0 || x > g.nPool {
				return nil, nil, corrupt("catalog", fmt.Errorf("bucket %d in grain %d outside the main pool", br.idx, x))
			}
			j := i + 1
			for j < len(br.grains) && br.grains[j] == br.grains[j-1]+1 {
				j++
			}
			if _, err := e.dev.ReadAt(b[i*g.chunk:j*g.chunk], g.grainOff(x)); err != nil {
				return nil, nil, fmt.Errorf("linked: read catalog bucket %d: %w", br.idx, err)
			}
			i = j
		}
		b = b[:br.length]
		if c := meta.Checksum(b); c != br.crc {
			return nil, nil, corrupt("catalog", fmt.Errorf("bucket %d: checksum %08x, the root says %08x", br.idx, c, br.crc))
		}
		es, err := decodeBucket(b, br.idx, g)
		if err != nil {
			return nil, nil, corrupt("catalog", err)
		}
		raw[br.idx] = b
		out = append(out, es)
	}
	return raw, out, nil
}

// load reads and checks the catalog (root and buckets) and every grain
// table (and the replica device's header, against the catalog's nonce).
// Device errors are returned wrapped; damage or inconsistency wraps
// ErrCorrupt; a replica device of another engine wraps ErrInvalidArgument.
func (e *Engine) load() (*state, error) {
	rec, err := e.slots.Load()
	switch {
	case errors.Is(err, meta.ErrNoRecord):
		return nil, corrupt("catalog", errNoCatalog)
	case err != nil:
		return nil, fmt.Errorf("linked: read catalog: %w", err)
	}
	rt, err := decodeRoot(rec)
	if err != nil {
		return nil, corrupt("catalog", err)
	}
	if rt.chunk != uint32(e.geo.chunk) || rt.sector != uint32(e.geo.sector) || rt.nPool != e.geo.nPool {
		return nil, corrupt("catalog", fmt.Errorf("geometry chunk %d sector %d pool %d, the device has %d %d %d",
			rt.chunk, rt.sector, rt.nPool, e.geo.chunk, e.geo.sector, e.geo.nPool))
	}
	raw, bs, err := e.readBuckets(rt)
	if err != nil {
		return nil, err
	}
	cat := assemble(rt, bs)
	if err := e.checkReplicaBinding(cat); err != nil {
		return nil, err
	}
	if e.rdev != nil {
		nonce, nRep, err := e.readReplicaHeader()
		if err != nil {
			return nil, err
		}
		if nonce != e.rdev.nonce || nRep != e.geo.nRep {
			return nil, corrupt("replica device header", fmt.Errorf("nonce %x and %d grains, read %x and %d at open", nonce, nRep, e.rdev.nonce, e.geo.nRep))
		}
	}
	if err := cat.validate(e.geo); err != nil {
		return nil, corrupt("catalog", err)
	}
	gs := e.geo.newGrainSet()
	st := &state{root: rt, bucketRaw: raw, cat: cat, vols: make(map[strategies.VolumeID]*volume, len(cat.vols)),
		deltas: make(map[uint64]*delta, len(cat.deltas)), alloc: gs.main, ralloc: gs.rep,
		nextVol: strategies.VolumeID(cat.nextVol), nextDelta: cat.nextDelta}
	for _, r := range cat.deltas {
		d := newDeltaTable(r.id, r.nGrains)
		d.frozen, d.gd = r.frozen, r.gd
		st.deltas[r.id] = d
	}
	for _, r := range cat.deltas {
		if r.parent != 0 {
			p := st.deltas[r.parent]
			st.deltas[r.id].parent = p
			p.children++
		}
	}
	for _, r := range cat.vols {
		v := &volume{id: strategies.VolumeID(r.id), name: r.name, kind: strategies.Kind(r.kind), role: r.role,
			size: r.size, readOnly: r.readOnly, parentVol: strategies.VolumeID(r.parentVol),
			link: strategies.VolumeID(r.link), d: st.deltas[r.delta]}
		v.replicaClean.Store(r.clean)
		v.d.owner = v
		st.vols[v.id] = v
	}
	var errs []error
	for _, br := range rt.buckets {
		for _, g := range br.grains {
			if !st.grains(e.geo).mark(g, true) {
				errs = append(errs, fmt.Errorf("catalog bucket %d: grain %d owned twice", br.idx, g))
			}
		}
	}
	for _, id := range sortedKeys(st.deltas) {
		d := st.deltas[id]
		st.maxDepth = max(st.maxDepth, d.depth())
		for _, g := range d.gd {
			if g == 0 {
				continue
			}
			d.tables.Add(1)
			if !st.grains(e.geo).mark(g, true) {
				errs = append(errs, fmt.Errorf("delta %d: grain-table grain %d owned twice", d.id, g))
			}
		}
	}
	if len(errs) > 0 {
		return nil, corrupt("grain directories", errors.Join(errs...))
	}
	for _, id := range sortedKeys(st.deltas) {
		if err := e.loadTable(st, st.deltas[id]); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// grains addresses st's allocators by global grain number.
func (st *state) grains(g *geometry) grainSet {
	return grainSet{main: st.alloc, rep: st.ralloc, nPool: g.nPool}
}

// loadTable reads the GT blocks of d, one IO per pool grain of table in use,
// fills d's pages and claims every mapped grain in st's allocators. With a
// replica device, a replica's grains must all be on it, and no other
// delta's may be.
func (e *Engine) loadTable(st *state, d *delta) error {
	g := e.geo
	gs := st.grains(g)
	onRep := g.nRep > 0 && d.owner.role == roleReplica
	nBlocks := g.gtBlocks(d.nGrains)
	buf := device.GetBuffer(g.chunk)
	defer device.PutBuffer(buf)
	var dst [1023]uint32
	var errs []error
	for k, grain := range d.gd {
		if grain == 0 {
			continue // no table grain: nothing mapped there
		}
		blocks := min(g.bpg, nBlocks-k*g.bpg)
		b := buf[:blocks*g.sector]
		if _, err := e.devOf(grain).ReadAt(b, g.grainOff(grain)); err != nil {
			return fmt.Errorf("linked: read grain table of delta %d: %w", d.id, err)
		}
		for i := 0; i < blocks; i++ {
			bi := k*g.bpg + i
			first := bi * g.epb
			n := min(g.epb, int(d.nGrains)-first)
			err := decodeGTBlock(b[i*g.sector:(i+1)*g.sector], d.id, uint32(bi), dst[:n], g.total())
			if errors.Is(err, errEmptyBlock) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for j, v := range dst[:n] {
				if v == 0 {
					continue
				}
				if g.nRep > 0 && (v > g.nPool) != onRep {
					errs = append(errs, fmt.Errorf("delta %d grain %d: pool grain %d on the wrong device (replica: %v)", d.id, first+j, v, onRep))
					continue
				}
				if !gs.mark(v, false) {
					errs = append(errs, fmt.Errorf("delta %d grain %d: pool grain %d owned twice", d.id, first+j, v))
					continue
				}
				d.set(uint32(first+j), v)
				d.used.Add(1)
			}
		}
		if len(errs) > 16 {
			break
		}
	}
	if len(errs) > 0 {
		return corrupt("grain tables", errors.Join(errs...))
	}
	return nil
}

// install makes a loaded state the engine's.
func (e *Engine) install(st *state) {
	e.vols, e.deltas, e.alloc, e.ralloc = st.vols, st.deltas, st.alloc, st.ralloc
	e.alloc.reserve = e.geo.catalogReserve()
	e.names = make(map[string]*volume, len(st.vols))
	for _, v := range st.vols {
		e.names[v.name] = v
	}
	e.nextVol, e.nextDelta = st.nextVol, st.nextDelta
	e.buckets = slices.Clone(st.root.buckets) // ascending index: decodeRoot checked
	clear(e.dirtyB)
	e.stats.noteDepth(st.maxDepth)
}
