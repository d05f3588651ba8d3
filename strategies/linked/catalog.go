package linked

import (
	"errors"
	"fmt"
	"sort"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The catalog is the root record, committed atomically with meta.DualSlot:
// every volume, every delta with its parent and grain directory, and the id
// counters. Grain tables themselves live in pool grains (see table.go).
//
// Encoding (little endian, meta.Encoder):
//
//	u32 catalogVersion (catalogVersionRep with a replica device)
//	u32 chunk size, u32 sector size, u32 pool grains   (geometry guard)
//	with a replica device only: u32 replica pool grains, then the 16-byte
//	    format nonce written in the replica device's header
//	u64 next volume id, u64 next delta id
//	u32 delta count, then per delta (ascending id):
//	    u64 id, u64 parent delta id (0: none), u32 grains, u8 flags (1: frozen),
//	    u32 directory length, then that many u32 pool grains
//	u32 volume count, then per volume (ascending id):
//	    u64 id, u16+bytes name, u8 kind, u8 role, u8 flags (1: read-only,
//	    2: replica clean), u64 size, u64 parent volume, u64 delta id,
//	    u64 link (a base: its current replica; a replica: its base)
//
// An engine without a replica device writes version 1, byte for byte what
// it wrote before the replica device existed.
const (
	catalogVersion    = 1
	catalogVersionRep = 2
)

// Roles of volumes. Internal volumes are named "<role>/<id>": the '/' keeps
// them apart from user names, which cannot contain one.
const (
	roleUser    uint8 = 0
	roleReplica uint8 = 1 // read-only full copy of a base, parent of its linked clones
	roleLayer   uint8 = 2 // a frozen delta kept because several chains share it
)

const (
	deltaFrozen     = 1 << 0
	volReadOnly     = 1 << 0
	volReplicaClean = 1 << 1
)

const (
	minDeltaRec = 8 + 8 + 4 + 1 + 4
	minVolRec   = 8 + 2 + 1 + 1 + 1 + 8 + 8 + 8 + 8
)

type deltaRec struct {
	id, parent uint64
	nGrains    uint32
	frozen     bool
	gd         []uint32
}

type volRec struct {
	id              uint64
	name            string
	kind, role      uint8
	readOnly, clean bool
	size            int64
	parentVol       uint64
	delta           uint64
	link            uint64
}

type catalog struct {
	chunk, sector, nPool uint32
	hasRep               bool // a replica device: nRep and nonce below
	nRep                 uint32
	nonce                [16]byte
	nextVol, nextDelta   uint64
	deltas               []deltaRec
	vols                 []volRec
}

func encodeCatalog(c *catalog) []byte {
	enc := meta.Encoder{B: make([]byte, 0, 64+len(c.deltas)*48+len(c.vols)*80)}
	if c.hasRep {
		enc.U32(catalogVersionRep)
	} else {
		enc.U32(catalogVersion)
	}
	enc.U32(c.chunk)
	enc.U32(c.sector)
	enc.U32(c.nPool)
	if c.hasRep {
		enc.U32(c.nRep)
		enc.B = append(enc.B, c.nonce[:]...)
	}
	enc.U64(c.nextVol)
	enc.U64(c.nextDelta)
	enc.U32(uint32(len(c.deltas)))
	for _, d := range c.deltas {
		enc.U64(d.id)
		enc.U64(d.parent)
		enc.U32(d.nGrains)
		var f uint8
		if d.frozen {
			f |= deltaFrozen
		}
		enc.U8(f)
		enc.U32(uint32(len(d.gd)))
		for _, g := range d.gd {
			enc.U32(g)
		}
	}
	enc.U32(uint32(len(c.vols)))
	for _, v := range c.vols {
		enc.U64(v.id)
		enc.String(v.name)
		enc.U8(v.kind)
		enc.U8(v.role)
		var f uint8
		if v.readOnly {
			f |= volReadOnly
		}
		if v.clean {
			f |= volReplicaClean
		}
		enc.U8(f)
		enc.I64(v.size)
		enc.U64(v.parentVol)
		enc.U64(v.delta)
		enc.U64(v.link)
	}
	return enc.B
}

// decodeCatalog parses a catalog record. It checks the encoding only (see
// validate for the meaning) and never panics on hostile input.
func decodeCatalog(b []byte) (*catalog, error) {
	d := meta.Decoder{B: b}
	v := d.U32()
	if v != catalogVersion && v != catalogVersionRep {
		if d.Err() != nil {
			return nil, fmt.Errorf("catalog: %v", d.Err())
		}
		return nil, fmt.Errorf("catalog: format version %d (this build reads %d and %d)", v, catalogVersion, catalogVersionRep)
	}
	c := &catalog{chunk: d.U32(), sector: d.U32(), nPool: d.U32()}
	if v == catalogVersionRep {
		c.hasRep = true
		c.nRep = d.U32()
		for i := range c.nonce {
			c.nonce[i] = d.U8()
		}
	}
	c.nextVol, c.nextDelta = d.U64(), d.U64()
	n := int(d.U32())
	if n > d.Remaining()/minDeltaRec {
		return nil, fmt.Errorf("catalog: %d deltas in %d bytes", n, d.Remaining())
	}
	c.deltas = make([]deltaRec, n)
	for i := range c.deltas {
		r := &c.deltas[i]
		r.id, r.parent, r.nGrains = d.U64(), d.U64(), d.U32()
		f := d.U8()
		r.frozen = f&deltaFrozen != 0
		if f&^deltaFrozen != 0 {
			return nil, fmt.Errorf("catalog: delta %d: unknown flags %#x", r.id, f)
		}
		k := int(d.U32())
		if k > d.Remaining()/4 {
			return nil, fmt.Errorf("catalog: delta %d: directory of %d entries in %d bytes", r.id, k, d.Remaining())
		}
		r.gd = make([]uint32, k)
		for j := range r.gd {
			r.gd[j] = d.U32()
		}
	}
	n = int(d.U32())
	if n > d.Remaining()/minVolRec {
		return nil, fmt.Errorf("catalog: %d volumes in %d bytes", n, d.Remaining())
	}
	c.vols = make([]volRec, n)
	for i := range c.vols {
		r := &c.vols[i]
		r.id = d.U64()
		r.name = d.String(2 * strategies.MaxNameLen)
		r.kind, r.role = d.U8(), d.U8()
		f := d.U8()
		r.readOnly, r.clean = f&volReadOnly != 0, f&volReplicaClean != 0
		if f&^(volReadOnly|volReplicaClean) != 0 {
			return nil, fmt.Errorf("catalog: volume %d: unknown flags %#x", r.id, f)
		}
		r.size = d.I64()
		r.parentVol, r.delta, r.link = d.U64(), d.U64(), d.U64()
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("catalog: %v", d.Err())
	}
	if d.Remaining() != 0 {
		return nil, fmt.Errorf("catalog: %d trailing bytes", d.Remaining())
	}
	return c, nil
}

func internalName(role uint8, id strategies.VolumeID) string {
	if role == roleReplica {
		return fmt.Sprintf("replica/%d", id)
	}
	return fmt.Sprintf("layer/%d", id)
}

// validate checks a decoded catalog against the engine geometry and its own
// invariants: ids, names, kinds, one owner per delta, chains (parents exist,
// are frozen, same size, no cycles), replica and layer roles, and grain
// directories of the right length inside the pool. It never panics.
func (c *catalog) validate(g *geometry) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.chunk != uint32(g.chunk) || c.sector != uint32(g.sector) || c.nPool != g.nPool || c.nRep != g.nRep {
		bad("geometry chunk %d sector %d pool %d replica pool %d, devices have %d %d %d %d",
			c.chunk, c.sector, c.nPool, c.nRep, g.chunk, g.sector, g.nPool, g.nRep)
		return errors.Join(errs...)
	}
	deltas := make(map[uint64]*deltaRec, len(c.deltas))
	for i := range c.deltas {
		r := &c.deltas[i]
		if i > 0 && c.deltas[i-1].id >= r.id {
			bad("deltas not in ascending id order at %d", r.id)
		}
		if r.id == 0 || r.id >= c.nextDelta {
			bad("delta id %d outside [1,%d)", r.id, c.nextDelta)
		}
		if r.nGrains == 0 || r.nGrains > maxGrain {
			bad("delta %d: %d grains", r.id, r.nGrains)
			continue
		}
		if len(r.gd) != g.gdLen(r.nGrains) {
			bad("delta %d: grain directory of %d entries, want %d", r.id, len(r.gd), g.gdLen(r.nGrains))
		}
		for _, x := range r.gd {
			if x == 0 || x > g.total() {
				bad("delta %d: grain table in grain %d outside the pool", r.id, x)
			}
		}
		deltas[r.id] = r
	}
	children := make(map[uint64]int)
	for i := range c.deltas {
		r := &c.deltas[i]
		if r.parent == 0 {
			continue
		}
		p, ok := deltas[r.parent]
		switch {
		case !ok:
			bad("delta %d: parent %d does not exist", r.id, r.parent)
			continue
		case !p.frozen:
			bad("delta %d: parent %d is writable", r.id, r.parent)
		case p.nGrains != r.nGrains:
			bad("delta %d of %d grains on parent %d of %d", r.id, r.nGrains, p.id, p.nGrains)
		}
		children[r.parent]++
		// cycle check: a chain is at most len(deltas) long
		steps := 0
		for q := r; q != nil && q.parent != 0; q = deltas[q.parent] {
			if steps++; steps > len(c.deltas) {
				bad("delta %d: parent chain has a cycle", r.id)
				break
			}
		}
	}
	owners := make(map[uint64]uint64)
	names := make(map[string]bool)
	vols := make(map[uint64]*volRec, len(c.vols))
	for i := range c.vols {
		v := &c.vols[i]
		vols[v.id] = v
	}
	for i := range c.vols {
		v := &c.vols[i]
		if i > 0 && c.vols[i-1].id >= v.id {
			bad("volumes not in ascending id order at %d", v.id)
		}
		if v.id == 0 || v.id >= c.nextVol {
			bad("volume id %d outside [1,%d)", v.id, c.nextVol)
		}
		if names[v.name] {
			bad("volume name %q used twice", v.name)
		}
		names[v.name] = true
		d, ok := deltas[v.delta]
		if !ok {
			bad("volume %d: delta %d does not exist", v.id, v.delta)
			continue
		}
		if o, dup := owners[v.delta]; dup {
			bad("delta %d owned by volumes %d and %d", v.delta, o, v.id)
		}
		owners[v.delta] = v.id
		if v.size <= 0 || v.size != int64(d.nGrains)*int64(g.chunk) {
			bad("volume %d: size %d, its delta has %d grains of %d", v.id, v.size, d.nGrains, g.chunk)
		}
		kind := strategies.Kind(v.kind)
		switch v.role {
		case roleUser:
			if err := strategies.ValidateName("linked", v.name); err != nil {
				bad("volume %d: %v", v.id, err)
			}
			switch kind {
			case strategies.KindBase, strategies.KindClone:
				if v.readOnly || d.frozen {
					bad("volume %d (%s): read-only or frozen delta", v.id, kind)
				}
				if children[d.id] != 0 {
					bad("volume %d (%s): its writable delta %d has %d children", v.id, kind, d.id, children[d.id])
				}
			case strategies.KindSnapshot:
				if !v.readOnly || !d.frozen {
					bad("snapshot %d: writable or delta %d not frozen", v.id, d.id)
				}
			default:
				bad("volume %d: kind %d", v.id, v.kind)
			}
			if kind == strategies.KindBase && v.link != 0 {
				r, ok := vols[v.link]
				if !ok || r.role != roleReplica || r.link != v.id {
					bad("base %d: replica %d is not its replica", v.id, v.link)
				}
			} else if v.link != 0 || v.clean {
				bad("volume %d (%s): replica link %d, clean %v", v.id, kind, v.link, v.clean)
			}
			if kind == strategies.KindBase && v.clean && v.link == 0 {
				bad("base %d: clean replica flag without a replica", v.id)
			}
		case roleReplica, roleLayer:
			if v.name != internalName(v.role, strategies.VolumeID(v.id)) {
				bad("internal volume %d named %q", v.id, v.name)
			}
			if kind != strategies.KindInternal || !v.readOnly || !d.frozen || v.clean || v.parentVol != 0 {
				bad("internal volume %d: kind %d read-only %v frozen %v clean %v parent %d", v.id, v.kind, v.readOnly, d.frozen, v.clean, v.parentVol)
			}
			if v.role == roleReplica {
				if d.parent != 0 || children[d.id] < 1 {
					bad("replica %d: parent delta %d, %d clones", v.id, d.parent, children[d.id])
				}
				if g.nRep > 0 {
					for _, x := range d.gd {
						if x <= g.nPool {
							bad("replica %d: grain table in main pool grain %d, not on the replica device", v.id, x)
						}
					}
				}
				if v.link != 0 {
					if b, ok := vols[v.link]; !ok || strategies.Kind(b.kind) != strategies.KindBase || b.role != roleUser {
						bad("replica %d: base %d is not a base", v.id, v.link)
					}
				}
			} else {
				if children[d.id] < 2 || v.link != 0 {
					bad("layer %d: %d children, link %d", v.id, children[d.id], v.link)
				}
			}
		default:
			bad("volume %d: role %d", v.id, v.role)
		}
	}
	for i := range c.deltas {
		r := &c.deltas[i]
		o, ok := owners[r.id]
		if !ok {
			bad("delta %d has no owner (leaked)", r.id)
			continue
		}
		if vols[o].role != roleReplica {
			for _, x := range r.gd {
				if x > g.nPool {
					bad("delta %d: grain table in replica device grain %d, but it is no replica's", r.id, x)
				}
			}
		}
	}
	for _, v := range c.vols {
		if v.parentVol != 0 {
			if _, ok := vols[v.parentVol]; !ok {
				bad("volume %d: parent volume %d does not exist", v.id, v.parentVol)
			}
		}
	}
	if len(errs) > 16 {
		errs = append(errs[:16], fmt.Errorf("and %d more", len(errs)-16))
	}
	return errors.Join(errs...)
}

// catalogLocked snapshots the in-memory metadata as a catalog. Caller holds
// e.mu.
func (e *Engine) catalogLocked() *catalog {
	c := &catalog{chunk: uint32(e.geo.chunk), sector: uint32(e.geo.sector), nPool: e.geo.nPool,
		nextVol: uint64(e.nextVol), nextDelta: e.nextDelta}
	if e.rdev != nil {
		c.hasRep, c.nRep, c.nonce = true, e.geo.nRep, e.rdev.nonce
	}
	for _, id := range sortedKeys(e.deltas) {
		d := e.deltas[id]
		r := deltaRec{id: d.id, nGrains: d.nGrains, frozen: d.frozen, gd: d.gd}
		if d.parent != nil {
			r.parent = d.parent.id
		}
		c.deltas = append(c.deltas, r)
	}
	for _, id := range sortedKeys(e.vols) {
		v := e.vols[id]
		c.vols = append(c.vols, volRec{id: uint64(v.id), name: v.name, kind: uint8(v.kind), role: v.role,
			readOnly: v.readOnly, clean: v.replicaClean.Load(), size: v.size, parentVol: uint64(v.parentVol),
			delta: v.d.id, link: uint64(v.link)})
	}
	return c
}

func sortedKeys[K ~uint64, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
