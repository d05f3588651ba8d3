package workloads

import (
	"fmt"
	"math/bits"
)

// oracle knows what every volume, snapshots and clones included, must hold,
// at the granularity of a unit (the largest power of two dividing every
// size written, so that every write covers whole units).
//
// It mirrors what the engines do: each volume sees a stack of layers. A
// layer maps unit -> packed (lineage, generation) of the last write, in
// pages of 256 units found through a small map, so that a dense layer costs
// 8 bytes per unit and a lookup one small-map probe. A
// writable volume has a mutable top layer; a snapshot freezes the source's
// top layer (which then becomes the parent of a fresh top layer for the
// source) and shares it; a clone gets a fresh mutable layer over the frozen
// one. So 1000 clones of a template share the template's layers and each
// holds only what it wrote itself. A lookup walks the stack until a layer
// has the unit; frozen layers that are dense enough carry a bitmap so that
// skipping them costs one bit test.
//
// Concurrency: layers are split into shards by ownership granule (see
// GenConfig.Granule), one per worker. A frozen layer is immutable. A mutable
// layer's shard is read and written by the one worker that owns the granule
// (or the whole volume), and the coordinator changes the layer structure
// (snapshot, clone, delete) only while no worker runs. So no locks.
type oracle struct {
	unitShift    uint
	unitsPerGran uint64
	shards       int
	lineages     []string // lineage -> name of the volume that writes with it
}

type layer struct {
	parent *layer
	shards []layerShard
	frozen bool
	bits   []uint64 // frozen layers: which units it holds (nil: ask the pages)
}

const (
	pageShift = 8
	pageUnits = 1 << pageShift
	// altFlag marks a unit left uncertain by a failed write: its other
	// acceptable contents are in the shard's alt map.
	altFlag = 1 << 63
)

// page holds packed values of pageUnits consecutive units; 0: not in this
// layer.
type page [pageUnits]uint64

type layerShard struct {
	pages map[uint32]*page
	n     int                 // units set
	alt   map[uint32][]uint64 // uncertain units: other acceptable contents
}

// ovol is the oracle's view of one volume.
type ovol struct {
	name     string
	size     int64
	lineage  uint32 // writable volumes: the lineage stamped into their writes
	writable bool
	top      *layer // writable: the mutable top; read-only: the frozen view (nil: zeros)
}

func newOracle(unit, granule int64, shards int) (*oracle, error) {
	if unit <= 0 || unit&(unit-1) != 0 || granule%unit != 0 || shards < 1 {
		return nil, fmt.Errorf("workloads: oracle unit %d granule %d shards %d", unit, granule, shards)
	}
	return &oracle{unitShift: uint(bits.TrailingZeros64(uint64(unit))), unitsPerGran: uint64(granule / unit),
		shards: shards, lineages: []string{"(none)"}}, nil
}

func (o *oracle) newLayer(parent *layer) *layer {
	return &layer{parent: parent, shards: make([]layerShard, o.shards)}
}

func (o *oracle) newLineage(name string) (uint32, error) {
	if len(o.lineages) > maxLineage {
		return 0, fmt.Errorf("workloads: more than %d writable volumes in one run", maxLineage)
	}
	o.lineages = append(o.lineages, name)
	return uint32(len(o.lineages) - 1), nil
}

// lineageName names the volume that wrote with lineage l.
func (o *oracle) lineageName(l uint32) string {
	if int(l) < len(o.lineages) {
		return o.lineages[l]
	}
	return fmt.Sprintf("unknown lineage %d", l)
}

// base returns the view of a new, empty writable volume.
func (o *oracle) base(name string, size int64) (*ovol, error) {
	l, err := o.newLineage(name)
	if err != nil {
		return nil, err
	}
	return &ovol{name: name, size: size, lineage: l, writable: true, top: o.newLayer(nil)}, nil
}

// snapshot returns the view of a read-only point-in-time copy of src.
func (o *oracle) snapshot(src *ovol, name string) *ovol {
	return &ovol{name: name, size: src.size, top: o.freeze(src)}
}

// clone returns the view of a writable point-in-time copy of src.
func (o *oracle) clone(src *ovol, name string) (*ovol, error) {
	l, err := o.newLineage(name)
	if err != nil {
		return nil, err
	}
	return &ovol{name: name, size: src.size, lineage: l, writable: true, top: o.newLayer(o.freeze(src))}, nil
}

// freeze returns an immutable layer holding v's current content. A writable
// volume's top layer is frozen and replaced by an empty one, unless it is
// empty, in which case its parent already is that content.
func (o *oracle) freeze(v *ovol) *layer {
	if !v.writable {
		return v.top
	}
	top := v.top
	if top.empty() {
		return top.parent
	}
	top.seal(v.size >> o.unitShift)
	v.top = o.newLayer(top)
	return top
}

func (l *layer) empty() bool {
	for i := range l.shards {
		if l.shards[i].n > 0 {
			return false
		}
	}
	return true
}

// seal freezes l and, when the bitmap would be small next to the maps,
// builds it.
func (l *layer) seal(units int64) {
	l.frozen = true
	n := 0
	for i := range l.shards {
		n += l.shards[i].n
	}
	if units/64 > int64(4*n) {
		return
	}
	l.bits = make([]uint64, (units+63)/64)
	for i := range l.shards {
		for pi, pg := range l.shards[i].pages {
			for j, v := range pg {
				if u := pi<<pageShift | uint32(j); v != 0 && int64(u) < units {
					l.bits[u/64] |= 1 << (u % 64)
				}
			}
		}
	}
}

func (o *oracle) shardOf(u uint32) int {
	if o.shards == 1 {
		return 0
	}
	return int(uint64(u) / o.unitsPerGran % uint64(o.shards))
}

// lookup returns what unit u of v must hold, and other acceptable contents
// when an earlier failed write left it uncertain.
func (o *oracle) lookup(v *ovol, u uint32) (uint64, []uint64) {
	sh := o.shardOf(u)
	for l := v.top; l != nil; l = l.parent {
		if l.bits != nil && l.bits[u/64]&(1<<(u%64)) == 0 {
			continue
		}
		s := &l.shards[sh]
		pg := s.pages[u>>pageShift]
		if pg == nil {
			continue
		}
		if val := pg[u&(pageUnits-1)]; val != 0 {
			if val&altFlag != 0 {
				return val &^ altFlag, s.alt[u]
			}
			return val, nil
		}
	}
	return zeroContent, nil
}

// slot returns the element of v's top layer for unit u, allocating its page.
func (o *oracle) slot(v *ovol, u uint32) (*layerShard, *uint64) {
	s := &v.top.shards[o.shardOf(u)]
	if s.pages == nil {
		s.pages = make(map[uint32]*page, 16)
	}
	pg := s.pages[u>>pageShift]
	if pg == nil {
		pg = new(page)
		s.pages[u>>pageShift] = pg
	}
	return s, &pg[u&(pageUnits-1)]
}

// record notes that [off, off+n) of v now holds val.
func (o *oracle) record(v *ovol, off int64, n int, val uint64) {
	first := uint32(off >> o.unitShift)
	last := uint32((off + int64(n) - 1) >> o.unitShift)
	for u := first; ; u++ {
		s, e := o.slot(v, u)
		old := *e
		if old == 0 {
			s.n++
		} else if old&altFlag != 0 {
			delete(s.alt, u)
		}
		*e = val
		if u == last {
			break
		}
	}
}

// recordUncertain notes a failed write of val to [off, off+n): each sector
// may now hold what it held before or val.
func (o *oracle) recordUncertain(v *ovol, off int64, n int, val uint64) {
	first := uint32(off >> o.unitShift)
	last := uint32((off + int64(n) - 1) >> o.unitShift)
	for u := first; ; u++ {
		old, alts := o.lookup(v, u)
		s, e := o.slot(v, u)
		if *e == 0 {
			s.n++
		}
		if s.alt == nil {
			s.alt = make(map[uint32][]uint64)
		}
		s.alt[u] = append(append([]uint64(nil), alts...), old)
		*e = val | altFlag
		if u == last {
			break
		}
	}
}
