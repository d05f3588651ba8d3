package linked

import (
	"errors"
	"fmt"
	"sort"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// The catalog is every volume, every delta with its parent and grain
// directory, and the id counters. It is stored in two levels so that a
// commit writes what changed, not the whole catalog:
//
//   - the root, committed atomically with meta.DualSlot (the two 1 MiB
//     slots): geometry, counters, and the list of catalog buckets;
//   - buckets, in pool grains of the main pool (metadata grains): bucket k
//     holds the entries of the volumes with ids k*128..k*128+127, each a
//     volume record followed by the record of the delta it owns (every
//     delta has exactly one owner volume).
//
// A commit encodes the buckets whose volumes changed into newly allocated
// grains, flushes, commits the root naming them, and only then frees the
// grains of the buckets it replaced (copy-on-write: a crash leaves the old
// root with its old buckets, or the new one). Empty buckets are left out.
// Each bucket's length and CRC-32C are in the root, so a torn or stale
// bucket is detected.
//
// Root encoding (little endian, meta.Encoder):
//
//	u32 catalogVersion (catalogVersionRep with a replica device)
//	u32 chunk size, u32 sector size, u32 pool grains   (geometry guard)
//	with a replica device only: u32 replica pool grains, then the 16-byte
//	    format nonce written in the replica device's header
//	u64 next volume id, u64 next delta id
//	u32 bucket count, then per bucket (ascending index):
//	    u32 index, u32 byte length, u32 CRC-32C of the bytes,
//	    then ceil(length/chunk) u32 pool grains holding them in order
//
// Bucket encoding: u32 entry count, then per entry (ascending volume id):
//
//	volume: u64 id, u16+bytes name, u8 kind, u8 role, u8 flags (1:
//	    read-only, 2: replica clean), u64 size, u64 parent volume,
//	    u64 delta id, u64 link (a base: its current replica; a replica:
//	    its base)
//	delta:  u64 id (the volume's delta id), u64 parent delta id (0: none),
//	    u32 grains, u8 flags (1: frozen), u32 directory length, u32 count of
//	    grain-table grains in use, then per grain in use (ascending
//	    directory index): u32 index, u32 pool grain
//
// The grain directory is sparse: a grain table's grain exists only where
// the delta maps something (see table.go), so a thin volume's records do
// not grow with its size.
const (
	catalogVersion    = 3
	catalogVersionRep = 4

	bucketShift = 7 // 128 volume ids per bucket
	// maxBucketBytes bounds a bucket: 128 entries of at most a name, the
	// fixed fields and a full grain directory are far below it.
	maxBucketBytes = 1 << 30
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
	minDeltaRec = 8 + 8 + 4 + 1 + 4 + 4
	minVolRec   = 8 + 2 + 1 + 1 + 1 + 8 + 8 + 8 + 8
	minEntry    = minVolRec + minDeltaRec
	// maxEntryFixed is an entry without its grain directory, name at most
	// 2*MaxNameLen bytes (internal names are short).
	maxEntryFixed = minEntry + 2*strategies.MaxNameLen
)

// deltaRec is a delta's record. gd is its grain directory, dense (one
// entry per grain-table grain the delta's size needs), 0 where no grain
// table exists yet.
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

// entry is one volume and the delta it owns.
type entry struct {
	v volRec
	d deltaRec
}

// bucketRef is a bucket as the root names it.
type bucketRef struct {
	idx, length, crc uint32
	grains           []uint32
}

// root is the record in the DualSlot.
type root struct {
	chunk, sector, nPool uint32
	hasRep               bool // a replica device: nRep and nonce below
	nRep                 uint32
	nonce                [16]byte
	nextVol, nextDelta   uint64
	buckets              []bucketRef
}

// catalog is the whole catalog, assembled from a root and its buckets, for
// validation and comparison.
type catalog struct {
	chunk, sector, nPool uint32
	hasRep               bool
	nRep                 uint32
	nonce                [16]byte
	nextVol, nextDelta   uint64
	deltas               []deltaRec // ascending id
	vols                 []volRec   // ascending id
}

func encodeRoot(r *root) []byte {
	enc := meta.Encoder{B: make([]byte, 0, 64+len(r.buckets)*20)}
	if r.hasRep {
		enc.U32(catalogVersionRep)
	} else {
		enc.U32(catalogVersion)
	}
	enc.U32(r.chunk)
	enc.U32(r.sector)
	enc.U32(r.nPool)
	if r.hasRep {
		enc.U32(r.nRep)
		enc.B = append(enc.B, r.nonce[:]...)
	}
	enc.U64(r.nextVol)
	enc.U64(r.nextDelta)
	enc.U32(uint32(len(r.buckets)))
	for _, b := range r.buckets {
		enc.U32(b.idx)
		enc.U32(b.length)
		enc.U32(b.crc)
		for _, g := range b.grains {
			enc.U32(g)
		}
	}
	return enc.B
}

// decodeRoot parses a root record: encoding, bucket order and lengths, and
// the number of grains each bucket needs. It never panics on hostile input.
func decodeRoot(b []byte) (*root, error) {
	d := meta.Decoder{B: b}
	v := d.U32()
	if v != catalogVersion && v != catalogVersionRep {
		if d.Err() != nil {
			return nil, fmt.Errorf("catalog root: %v", d.Err())
		}
		return nil, fmt.Errorf("catalog root: format version %d (this build reads %d and %d)", v, catalogVersion, catalogVersionRep)
	}
	r := &root{chunk: d.U32(), sector: d.U32(), nPool: d.U32()}
	if v == catalogVersionRep {
		r.hasRep = true
		r.nRep = d.U32()
		for i := range r.nonce {
			r.nonce[i] = d.U8()
		}
	}
	r.nextVol, r.nextDelta = d.U64(), d.U64()
	n := int(d.U32())
	if d.Err() != nil {
		return nil, fmt.Errorf("catalog root: %v", d.Err())
	}
	if r.chunk < strategies.MinChunkSize || r.chunk > strategies.MaxChunkSize {
		return nil, fmt.Errorf("catalog root: chunk size %d", r.chunk)
	}
	if n > d.Remaining()/16 {
		return nil, fmt.Errorf("catalog root: %d buckets in %d bytes", n, d.Remaining())
	}
	r.buckets = make([]bucketRef, n)
	for i := range r.buckets {
		br := &r.buckets[i]
		br.idx, br.length, br.crc = d.U32(), d.U32(), d.U32()
		if i > 0 && r.buckets[i-1].idx >= br.idx {
			return nil, fmt.Errorf("catalog root: buckets not in ascending order at %d", br.idx)
		}
		if br.length < 4 || br.length > maxBucketBytes {
			return nil, fmt.Errorf("catalog root: bucket %d of %d bytes", br.idx, br.length)
		}
		k := int((br.length + r.chunk - 1) / r.chunk)
		if k > d.Remaining()/4 {
			return nil, fmt.Errorf("catalog root: bucket %d: %d grains in %d bytes", br.idx, k, d.Remaining())
		}
		br.grains = make([]uint32, k)
		for j := range br.grains {
			br.grains[j] = d.U32()
		}
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("catalog root: %v", d.Err())
	}
	if d.Remaining() != 0 {
		return nil, fmt.Errorf("catalog root: %d trailing bytes", d.Remaining())
	}
	return r, nil
}

func encodeBucket(es []entry) []byte {
	enc := meta.Encoder{B: make([]byte, 0, 4+len(es)*(minEntry+16))}
	enc.U32(uint32(len(es)))
	for i := range es {
		v, d := &es[i].v, &es[i].d
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
		enc.U64(d.id)
		enc.U64(d.parent)
		enc.U32(d.nGrains)
		f = 0
		if d.frozen {
			f |= deltaFrozen
		}
		enc.U8(f)
		enc.U32(uint32(len(d.gd)))
		used := 0
		for _, g := range d.gd {
			if g != 0 {
				used++
			}
		}
		enc.U32(uint32(used))
		for k, g := range d.gd {
			if g != 0 {
				enc.U32(uint32(k))
				enc.U32(g)
			}
		}
	}
	return enc.B
}

// decodeBucket parses bucket idx: the encoding, volume ids in the bucket's
// range in ascending order, each volume's delta record its own, and grain
// directories of the length geo gives for the delta's size with entries in
// ascending order. It never panics on hostile input.
func decodeBucket(b []byte, idx uint32, geo *geometry) ([]entry, error) {
	d := meta.Decoder{B: b}
	n := int(d.U32())
	if d.Err() != nil {
		return nil, fmt.Errorf("catalog bucket %d: %v", idx, d.Err())
	}
	if n == 0 || n > 1<<bucketShift || n > d.Remaining()/minEntry {
		return nil, fmt.Errorf("catalog bucket %d: %d entries in %d bytes", idx, n, d.Remaining())
	}
	es := make([]entry, n)
	for i := range es {
		v, r := &es[i].v, &es[i].d
		v.id = d.U64()
		v.name = d.String(2 * strategies.MaxNameLen)
		v.kind, v.role = d.U8(), d.U8()
		f := d.U8()
		v.readOnly, v.clean = f&volReadOnly != 0, f&volReplicaClean != 0
		if f&^(volReadOnly|volReplicaClean) != 0 {
			return nil, fmt.Errorf("catalog bucket %d: volume %d: unknown flags %#x", idx, v.id, f)
		}
		v.size = d.I64()
		v.parentVol, v.delta, v.link = d.U64(), d.U64(), d.U64()
		r.id, r.parent, r.nGrains = d.U64(), d.U64(), d.U32()
		f = d.U8()
		r.frozen = f&deltaFrozen != 0
		if f&^deltaFrozen != 0 {
			return nil, fmt.Errorf("catalog bucket %d: delta %d: unknown flags %#x", idx, r.id, f)
		}
		gdLen, used := int(d.U32()), int(d.U32())
		if d.Err() != nil {
			return nil, fmt.Errorf("catalog bucket %d: %v", idx, d.Err())
		}
		switch {
		case v.id>>bucketShift != uint64(idx):
			return nil, fmt.Errorf("catalog bucket %d holds volume %d", idx, v.id)
		case i > 0 && es[i-1].v.id >= v.id:
			return nil, fmt.Errorf("catalog bucket %d: volumes not in ascending id order at %d", idx, v.id)
		case v.delta != r.id:
			return nil, fmt.Errorf("catalog bucket %d: volume %d owns delta %d but holds the record of %d", idx, v.id, v.delta, r.id)
		case r.nGrains == 0 || r.nGrains > maxGrain || gdLen != geo.gdLen(r.nGrains):
			return nil, fmt.Errorf("catalog bucket %d: delta %d of %d grains with a directory of %d", idx, r.id, r.nGrains, gdLen)
		case used > gdLen || used > d.Remaining()/8:
			return nil, fmt.Errorf("catalog bucket %d: delta %d: %d grain tables in use of %d", idx, r.id, used, gdLen)
		}
		r.gd = make([]uint32, gdLen)
		last := -1
		for j := 0; j < used; j++ {
			k, g := int(d.U32()), d.U32()
			if k <= last || k >= gdLen || g == 0 {
				return nil, fmt.Errorf("catalog bucket %d: delta %d: directory entry %d -> grain %d", idx, r.id, k, g)
			}
			r.gd[k], last = g, k
		}
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("catalog bucket %d: %v", idx, d.Err())
	}
	if d.Remaining() != 0 {
		return nil, fmt.Errorf("catalog bucket %d: %d trailing bytes", idx, d.Remaining())
	}
	return es, nil
}

// assemble makes the whole catalog of a root and its decoded buckets
// (in root order).
func assemble(r *root, buckets [][]entry) *catalog {
	c := &catalog{chunk: r.chunk, sector: r.sector, nPool: r.nPool, hasRep: r.hasRep, nRep: r.nRep, nonce: r.nonce,
		nextVol: r.nextVol, nextDelta: r.nextDelta}
	for _, es := range buckets {
		for _, e := range es {
			c.vols = append(c.vols, e.v)
			c.deltas = append(c.deltas, e.d)
		}
	}
	sort.Slice(c.deltas, func(i, j int) bool { return c.deltas[i].id < c.deltas[j].id })
	return c
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
	k := &catalogCheck{c: c, g: g}
	if k.geometry() {
		k.deltaRecords()
		k.deltaTree()
		k.volumes()
		k.ownership()
	}
	errs := k.errs
	if len(errs) > 16 {
		errs = append(errs[:16], fmt.Errorf("and %d more", len(errs)-16))
	}
	return errors.Join(errs...)
}

// catalogCheck is one validate pass: the problems found so far and the
// indexes the later checks need.
type catalogCheck struct {
	c        *catalog
	g        *geometry
	errs     []error
	deltas   map[uint64]*deltaRec // by id
	children map[uint64]int       // delta id: deltas whose parent it is
	vols     map[uint64]*volRec   // by id
	owners   map[uint64]uint64    // delta id: the volume that owns it
}

func (k *catalogCheck) bad(format string, args ...any) {
	k.errs = append(k.errs, fmt.Errorf(format, args...))
}

// geometry reports whether the catalog was made for these devices; when
// not, nothing else is checked.
func (k *catalogCheck) geometry() bool {
	c, g := k.c, k.g
	if c.chunk != uint32(g.chunk) || c.sector != uint32(g.sector) || c.nPool != g.nPool || c.nRep != g.nRep {
		k.bad("geometry chunk %d sector %d pool %d replica pool %d, devices have %d %d %d %d",
			c.chunk, c.sector, c.nPool, c.nRep, g.chunk, g.sector, g.nPool, g.nRep)
		return false
	}
	return true
}

// deltaRecords checks each delta on its own (id order and range, grain
// count, grain directory inside the pool) and indexes the sound ones.
func (k *catalogCheck) deltaRecords() {
	c, g := k.c, k.g
	k.deltas = make(map[uint64]*deltaRec, len(c.deltas))
	for i := range c.deltas {
		r := &c.deltas[i]
		if i > 0 && c.deltas[i-1].id >= r.id {
			k.bad("deltas not in ascending id order at %d (a delta recorded twice)", r.id)
		}
		if r.id == 0 || r.id >= c.nextDelta {
			k.bad("delta id %d outside [1,%d)", r.id, c.nextDelta)
		}
		if r.nGrains == 0 || r.nGrains > maxGrain {
			k.bad("delta %d: %d grains", r.id, r.nGrains)
			continue
		}
		if len(r.gd) != g.gdLen(r.nGrains) {
			k.bad("delta %d: grain directory of %d entries, want %d", r.id, len(r.gd), g.gdLen(r.nGrains))
		}
		for _, x := range r.gd {
			if x > g.total() {
				k.bad("delta %d: grain table in grain %d outside the pool", r.id, x)
			}
		}
		k.deltas[r.id] = r
	}
}

// deltaTree checks the parent links: each parent exists, is frozen, has
// the child's size, and no chain loops; it counts each delta's children.
func (k *catalogCheck) deltaTree() {
	c := k.c
	k.children = make(map[uint64]int)
	for i := range c.deltas {
		r := &c.deltas[i]
		if r.parent == 0 {
			continue
		}
		p, ok := k.deltas[r.parent]
		switch {
		case !ok:
			k.bad("delta %d: parent %d does not exist", r.id, r.parent)
			continue
		case !p.frozen:
			k.bad("delta %d: parent %d is writable", r.id, r.parent)
		case p.nGrains != r.nGrains:
			k.bad("delta %d of %d grains on parent %d of %d", r.id, r.nGrains, p.id, p.nGrains)
		}
		k.children[r.parent]++
		// cycle check: a chain is at most len(deltas) long
		steps := 0
		for q := r; q != nil && q.parent != 0; q = k.deltas[q.parent] {
			if steps++; steps > len(c.deltas) {
				k.bad("delta %d: parent chain has a cycle", r.id)
				break
			}
		}
	}
}

// volumes checks each volume record (id order and range, unique name, a
// delta of its size owned by it alone) and then what its role requires.
func (k *catalogCheck) volumes() {
	c, g := k.c, k.g
	k.owners = make(map[uint64]uint64)
	k.vols = make(map[uint64]*volRec, len(c.vols))
	for i := range c.vols {
		v := &c.vols[i]
		k.vols[v.id] = v
	}
	names := make(map[string]bool)
	for i := range c.vols {
		v := &c.vols[i]
		if i > 0 && c.vols[i-1].id >= v.id {
			k.bad("volumes not in ascending id order at %d", v.id)
		}
		if v.id == 0 || v.id >= c.nextVol {
			k.bad("volume id %d outside [1,%d)", v.id, c.nextVol)
		}
		if names[v.name] {
			k.bad("volume name %q used twice", v.name)
		}
		names[v.name] = true
		d, ok := k.deltas[v.delta]
		if !ok {
			k.bad("volume %d: delta %d does not exist", v.id, v.delta)
			continue
		}
		if o, dup := k.owners[v.delta]; dup {
			k.bad("delta %d owned by volumes %d and %d", v.delta, o, v.id)
		}
		k.owners[v.delta] = v.id
		if v.size <= 0 || v.size != int64(d.nGrains)*int64(g.chunk) {
			k.bad("volume %d: size %d, its delta has %d grains of %d", v.id, v.size, d.nGrains, g.chunk)
		}
		switch v.role {
		case roleUser:
			k.userVolume(v, d)
		case roleReplica, roleLayer:
			k.internalVolume(v, d)
		default:
			k.bad("volume %d: role %d", v.id, v.role)
		}
	}
}

// userVolume: a base or clone owns a writable delta without children, a
// snapshot a frozen one; only a base links to a replica, which links back.
func (k *catalogCheck) userVolume(v *volRec, d *deltaRec) {
	kind := strategies.Kind(v.kind)
	if err := strategies.ValidateName("linked", v.name); err != nil {
		k.bad("volume %d: %v", v.id, err)
	}
	switch kind {
	case strategies.KindBase, strategies.KindClone:
		if v.readOnly || d.frozen {
			k.bad("volume %d (%s): read-only or frozen delta", v.id, kind)
		}
		if k.children[d.id] != 0 {
			k.bad("volume %d (%s): its writable delta %d has %d children", v.id, kind, d.id, k.children[d.id])
		}
	case strategies.KindSnapshot:
		if !v.readOnly || !d.frozen {
			k.bad("snapshot %d: writable or delta %d not frozen", v.id, d.id)
		}
	default:
		k.bad("volume %d: kind %d", v.id, v.kind)
	}
	if kind == strategies.KindBase && v.link != 0 {
		r, ok := k.vols[v.link]
		if !ok || r.role != roleReplica || r.link != v.id {
			k.bad("base %d: replica %d is not its replica", v.id, v.link)
		}
	} else if v.link != 0 || v.clean {
		k.bad("volume %d (%s): replica link %d, clean %v", v.id, kind, v.link, v.clean)
	}
	if kind == strategies.KindBase && v.clean && v.link == 0 {
		k.bad("base %d: clean replica flag without a replica", v.id)
	}
}

// internalVolume: a replica or layer is read-only over a frozen delta and
// named by its role and id; a replica is a root with clones, on the
// replica device when there is one, linked to a base; a layer has at least
// two children.
func (k *catalogCheck) internalVolume(v *volRec, d *deltaRec) {
	g := k.g
	if v.name != internalName(v.role, strategies.VolumeID(v.id)) {
		k.bad("internal volume %d named %q", v.id, v.name)
	}
	if strategies.Kind(v.kind) != strategies.KindInternal || !v.readOnly || !d.frozen || v.clean || v.parentVol != 0 {
		k.bad("internal volume %d: kind %d read-only %v frozen %v clean %v parent %d", v.id, v.kind, v.readOnly, d.frozen, v.clean, v.parentVol)
	}
	if v.role != roleReplica {
		if k.children[d.id] < 2 || v.link != 0 {
			k.bad("layer %d: %d children, link %d", v.id, k.children[d.id], v.link)
		}
		return
	}
	if d.parent != 0 || k.children[d.id] < 1 {
		k.bad("replica %d: parent delta %d, %d clones", v.id, d.parent, k.children[d.id])
	}
	if g.nRep > 0 {
		for _, x := range d.gd {
			if x != 0 && x <= g.nPool {
				k.bad("replica %d: grain table in main pool grain %d, not on the replica device", v.id, x)
			}
		}
	}
	if v.link != 0 {
		if b, ok := k.vols[v.link]; !ok || strategies.Kind(b.kind) != strategies.KindBase || b.role != roleUser {
			k.bad("replica %d: base %d is not a base", v.id, v.link)
		}
	}
}

// ownership: every delta has an owner, only replicas' grain tables live
// on the replica device, and parent volumes were made.
func (k *catalogCheck) ownership() {
	c, g := k.c, k.g
	for i := range c.deltas {
		r := &c.deltas[i]
		o, ok := k.owners[r.id]
		if !ok {
			k.bad("delta %d has no owner (leaked)", r.id)
			continue
		}
		if k.vols[o].role != roleReplica {
			for _, x := range r.gd {
				if x > g.nPool {
					k.bad("delta %d: grain table in replica device grain %d, but it is no replica's", r.id, x)
				}
			}
		}
	}
	for _, v := range c.vols {
		if v.parentVol >= c.nextVol || v.parentVol == v.id {
			// A deleted parent stays named (Volumes reports it as none).
			k.bad("volume %d: parent volume %d was never made", v.id, v.parentVol)
		}
	}
}

// entryOf is v's catalog entry as in memory: its record and its delta's,
// whose grain directory leaves out the grain tables not yet written
// (gdNew). Caller holds e.mu.
func (e *Engine) entryOf(v *volume) entry {
	d := v.d
	r := deltaRec{id: d.id, nGrains: d.nGrains, frozen: d.frozen, gd: d.committedGD()}
	if d.parent != nil {
		r.parent = d.parent.id
	}
	return entry{v: volRec{id: uint64(v.id), name: v.name, kind: uint8(v.kind), role: v.role,
		readOnly: v.readOnly, clean: v.replicaClean.Load(), size: v.size, parentVol: uint64(v.parentVol),
		delta: d.id, link: uint64(v.link)}, d: r}
}

// bucketLocked returns the entries of bucket idx as in memory (none: the
// bucket is empty). O(128). Caller holds e.mu.
func (e *Engine) bucketLocked(idx uint32) []entry {
	var es []entry
	first := strategies.VolumeID(idx) << bucketShift
	for id := first; id < first+1<<bucketShift; id++ {
		if v := e.vols[id]; v != nil {
			es = append(es, e.entryOf(v))
		}
	}
	return es
}

// rootLocked is the root for the committed buckets. Caller holds e.mu.
func (e *Engine) rootLocked() *root {
	r := &root{chunk: uint32(e.geo.chunk), sector: uint32(e.geo.sector), nPool: e.geo.nPool,
		nextVol: uint64(e.nextVol), nextDelta: e.nextDelta}
	if e.rdev != nil {
		r.hasRep, r.nRep, r.nonce = true, e.geo.nRep, e.rdev.nonce
	}
	r.buckets = e.buckets // read only: encodeRoot and Check
	return r
}

// catalogLocked assembles the whole catalog from memory (for Check and
// tests; commits encode only the buckets that changed). Caller holds e.mu.
func (e *Engine) catalogLocked() *catalog {
	idxs := make(map[uint32]bool)
	for id := range e.vols {
		idxs[uint32(id>>bucketShift)] = true
	}
	var bs [][]entry
	for _, idx := range sortedKeys(idxs) {
		bs = append(bs, e.bucketLocked(idx))
	}
	return assemble(e.rootLocked(), bs)
}

// touch marks v's bucket for the next catalog commit: v was added,
// removed, or its record or its delta's changed. Caller holds e.mu.
func (e *Engine) touch(v *volume) {
	e.dirtyB[uint32(v.id>>bucketShift)] = true
}

func sortedKeys[K ~uint64 | ~uint32, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
