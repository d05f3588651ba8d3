package linked

import (
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// commitDeltas makes the new mappings of ds durable (ds in ascending id
// order, no duplicates): it takes each delta's pending list, flushes the
// device (the data of those grains becomes durable), clears the pending
// bits, writes the affected GT blocks in place and flushes again. A GT
// block is one sector, so each in-place update is atomic; a block only ever
// gains mappings to durable grains, so a crash between block writes leaves
// every delta consistent (a mapping old or new). With nothing pending it is
// one device flush. With a replica device, both flushes flush it first when
// it was written (flushData). On failure the lists are put back for the
// next commit.
//
// Mappings in a part of a table whose grain was allocated since the last
// catalog commit (gdNew) need that grain written whole and a catalog that
// names it: with withRoot (the caller holds e.mu and commits the catalog
// next, see commitRoot) they are written and the owners' buckets marked;
// without, they stay pending for a commit that can. It reports whether a
// catalog commit is needed.
func (e *Engine) commitDeltas(withRoot bool, ds ...*delta) (bool, error) {
	for _, d := range ds {
		d.flushMu.Lock()
		defer d.flushMu.Unlock()
	}
	per := uint32(e.geo.perTable())
	taken := make([][]uint32, len(ds))
	kept := make([][]uint32, len(ds))
	newTabs := make([][]int, len(ds))
	pending, needRoot := false, false
	for i, d := range ds {
		// The dirty list first, then gdNew: a grain listed dirty had its
		// table allocated before, so the table is in the gdNew read here
		// unless a catalog already names it.
		d.dirtyMu.Lock()
		dirty := d.dirty
		d.dirty = nil
		d.dirtyMu.Unlock()
		d.gdMu.Lock()
		var fresh map[int]bool
		if len(d.gdNew) > 0 {
			fresh = make(map[int]bool, len(d.gdNew))
			for _, k := range d.gdNew {
				fresh[k] = true
			}
			if withRoot {
				newTabs[i] = d.gdNew
				d.gdNew = nil
			}
		}
		d.gdMu.Unlock()
		for _, gi := range dirty {
			switch {
			case fresh[int(gi/per)] && !withRoot:
				kept[i] = append(kept[i], gi)
			case fresh[int(gi/per)]:
				// written with its whole new table grain below
				if v := d.get(gi); v&pendingBit != 0 {
					d.set(gi, v&^pendingBit)
				}
			default:
				taken[i] = append(taken[i], gi)
			}
		}
		if len(kept[i]) > 0 {
			d.dirtyMu.Lock()
			d.dirty = append(d.dirty, kept[i]...)
			d.dirtyMu.Unlock()
		}
		pending = pending || len(taken[i]) > 0 || len(newTabs[i]) > 0
		needRoot = needRoot || len(newTabs[i]) > 0
	}
	requeue := func() {
		for i, d := range ds {
			if len(taken[i]) > 0 {
				d.dirtyMu.Lock()
				d.dirty = append(d.dirty, taken[i]...)
				d.dirtyMu.Unlock()
			}
			if len(newTabs[i]) > 0 {
				d.gdMu.Lock()
				d.gdNew = append(d.gdNew, newTabs[i]...)
				d.gdMu.Unlock()
			}
		}
	}
	if err := e.flushData(); err != nil {
		requeue()
		return false, fmt.Errorf("linked: flush: %w", err)
	}
	if !pending {
		return false, nil
	}
	for i, d := range ds {
		gs := taken[i]
		slices.Sort(gs)
		for _, gi := range gs {
			if v := d.get(gi); v&pendingBit != 0 {
				d.set(gi, v&^pendingBit)
			}
		}
		if err := e.writeGTBlocks(d, gs); err != nil {
			requeue()
			return false, err
		}
		if err := e.writeNewTables(d, newTabs[i]); err != nil {
			requeue()
			return false, err
		}
	}
	if err := e.flushData(); err != nil {
		requeue()
		return false, fmt.Errorf("linked: flush: %w", err)
	}
	for i, d := range ds {
		if len(newTabs[i]) > 0 {
			e.touch(d.owner)
		}
	}
	return needRoot, nil
}

// writeGTBlocks writes the GT blocks of d holding the sorted grain indices
// gs, one IO per run of adjacent blocks in one grain. Their table grains
// exist.
func (e *Engine) writeGTBlocks(d *delta, gs []uint32) error {
	g := e.geo
	var blocks []int
	for _, gi := range gs {
		b := int(gi) / g.epb
		if len(blocks) == 0 || blocks[len(blocks)-1] != b {
			blocks = append(blocks, b)
		}
	}
	buf := device.GetBuffer(g.chunk)
	defer device.PutBuffer(buf)
	for i := 0; i < len(blocks); {
		j := i + 1
		for j < len(blocks) && blocks[j] == blocks[j-1]+1 && blocks[j]/g.bpg == blocks[i]/g.bpg {
			j++
		}
		for k := i; k < j; k++ {
			fillGTBlock(buf[(k-i)*g.sector:(k-i+1)*g.sector], d, uint32(blocks[k]))
		}
		if _, err := e.devOf(d.gd[blocks[i]/g.bpg]).WriteAt(buf[:(j-i)*g.sector], g.blockOff(d, blocks[i])); err != nil {
			return fmt.Errorf("linked: write grain table of delta %d: %w", d.id, err)
		}
		e.stats.gtBlockWrites.Add(int64(j - i))
		i = j
	}
	return nil
}

// writeNewTables writes the table grains ks of d whole (every block in
// use, from memory, pending entries as 0): grains that no committed
// catalog names yet, so they may be written in any state.
func (e *Engine) writeNewTables(d *delta, ks []int) error {
	if len(ks) == 0 {
		return nil
	}
	g := e.geo
	buf := device.GetBuffer(g.chunk)
	defer device.PutBuffer(buf)
	nBlocks := g.gtBlocks(d.nGrains)
	for _, k := range ks {
		blocks := min(g.bpg, nBlocks-k*g.bpg)
		for i := 0; i < blocks; i++ {
			fillGTBlock(buf[i*g.sector:(i+1)*g.sector], d, uint32(k*g.bpg+i))
		}
		x := d.gd[k]
		if _, err := e.devOf(x).WriteAt(buf[:blocks*g.sector], g.grainOff(x)); err != nil {
			return fmt.Errorf("linked: write grain table of delta %d: %w", d.id, err)
		}
		e.stats.gtBlockWrites.Add(int64(blocks))
	}
	return nil
}

// ensureTable makes sure the grain-table grain mapping grain gi of d
// exists, allocating it (in the replica pool with rep) and listing it in
// gdNew: it is written, and named by the catalog, at the next commit.
// It fails with ErrNoSpace when the pool is full.
func (e *Engine) ensureTable(d *delta, gi uint32, rep bool) error {
	k := int(gi) / e.geo.perTable()
	d.gdMu.Lock()
	defer d.gdMu.Unlock()
	if d.gd[k] != 0 {
		return nil
	}
	x := e.allocGrain(rep, true)
	if x == 0 {
		return fmt.Errorf("linked: grain table of delta %d: %w", d.id, strategies.ErrNoSpace)
	}
	d.gd[k] = x
	d.gdNew = append(d.gdNew, k)
	d.tables.Add(1)
	return nil
}

// prepareDelta makes an empty delta of n grains that nothing refers to
// yet. Its grain tables are allocated on demand (ensureTable), so this is
// O(1) IO whatever the size: an empty delta has none.
func (e *Engine) prepareDelta(n uint32) *delta {
	d := newDeltaTable(e.nextDelta, n)
	e.nextDelta++
	d.gd = make([]uint32, e.geo.gdLen(n))
	return d
}

// discardDelta returns every grain of d (table and data) to the allocator.
// d must not be referenced by a committed catalog any more (or never have
// been).
func (e *Engine) discardDelta(d *delta) {
	d.forEach(func(_, v uint32) { e.freeGrain(v&^pendingBit, false) })
	d.gdMu.Lock()
	for _, x := range d.gd {
		if x != 0 {
			e.freeGrain(x, true)
		}
	}
	d.gd, d.gdNew = nil, nil
	d.tables.Store(0)
	d.gdMu.Unlock()
}

// grainCopy is one grain to copy: table index, source and destination
// pool grains.
type grainCopy struct{ gi, from, to uint32 }

// copyGrains copies pool grains, one read and one write per run that is
// contiguous at both ends, each end on one device (at most 1 MiB). It
// returns the bytes copied.
func (e *Engine) copyGrains(cs []grainCopy) (int64, error) {
	g := e.geo
	maxRun := max(1, (1<<20)/g.chunk)
	buf := device.GetBuffer(maxRun * g.chunk)
	defer device.PutBuffer(buf)
	var bytes int64
	for i := 0; i < len(cs); {
		j := i + 1
		for j < len(cs) && j-i < maxRun && cs[j].from == cs[j-1].from+1 && cs[j].to == cs[j-1].to+1 &&
			cs[j].from != g.nPool+1 && cs[j].to != g.nPool+1 { // no run across the two pools
			j++
		}
		b := buf[:(j-i)*g.chunk]
		if _, err := e.devOf(cs[i].from).ReadAt(b, g.grainOff(cs[i].from)); err != nil {
			return bytes, fmt.Errorf("linked: copy grains: %w", err)
		}
		if _, err := e.devOf(cs[i].to).WriteAt(b, g.grainOff(cs[i].to)); err != nil {
			return bytes, fmt.Errorf("linked: copy grains: %w", err)
		}
		bytes += int64(len(b))
		i = j
	}
	return bytes, nil
}

// freeCopies returns the destination grains of cs to the allocator.
func (e *Engine) freeCopies(cs []grainCopy) {
	for _, c := range cs {
		e.freeGrain(c.to, false)
	}
}
