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
func (e *Engine) commitDeltas(ds ...*delta) error {
	for _, d := range ds {
		d.flushMu.Lock()
		defer d.flushMu.Unlock()
	}
	var taken [][]uint32
	pending := false
	for _, d := range ds {
		d.dirtyMu.Lock()
		taken = append(taken, d.dirty)
		pending = pending || len(d.dirty) > 0
		d.dirty = nil
		d.dirtyMu.Unlock()
	}
	requeue := func() {
		for i, d := range ds {
			if len(taken[i]) > 0 {
				d.dirtyMu.Lock()
				d.dirty = append(d.dirty, taken[i]...)
				d.dirtyMu.Unlock()
			}
		}
	}
	if err := e.flushData(); err != nil {
		requeue()
		return fmt.Errorf("linked: flush: %w", err)
	}
	if !pending {
		return nil
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
			return err
		}
	}
	if err := e.flushData(); err != nil {
		requeue()
		return fmt.Errorf("linked: flush: %w", err)
	}
	for i, d := range ds { // recycle the lists' memory
		d.dirtyMu.Lock()
		if len(d.dirty) == 0 && cap(taken[i]) > cap(d.dirty) {
			d.dirty = taken[i][:0]
		}
		d.dirtyMu.Unlock()
	}
	return nil
}

// writeGTBlocks writes the GT blocks of d holding the sorted grain indices
// gs (nil: every block), one IO per run of adjacent blocks in one grain.
func (e *Engine) writeGTBlocks(d *delta, gs []uint32) error {
	g := e.geo
	var blocks []int
	if gs == nil {
		for b := 0; b < g.gtBlocks(d.nGrains); b++ {
			blocks = append(blocks, b)
		}
	} else {
		for _, gi := range gs {
			b := int(gi) / g.epb
			if len(blocks) == 0 || blocks[len(blocks)-1] != b {
				blocks = append(blocks, b)
			}
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

// prepareDelta makes a delta of n grains that nothing refers to yet: it
// allocates the grains of its table (on the replica device for a replica,
// rep, when there is one) and zeroes the blocks in use (an empty table).
// The zeroes must be flushed (flushData) before a catalog naming the delta
// is committed. On failure nothing is left allocated.
func (e *Engine) prepareDelta(n uint32, rep bool) (*delta, error) {
	g := e.geo
	d := newDeltaTable(e.nextDelta, n)
	e.nextDelta++
	nBlocks := g.gtBlocks(n)
	d.gd = make([]uint32, 0, g.gdLen(n))
	for k := 0; k < g.gdLen(n); k++ {
		x := e.allocGrain(rep, true)
		if x == 0 {
			e.discardDelta(d)
			return nil, fmt.Errorf("linked: grain table: %w", strategies.ErrNoSpace)
		}
		d.gd = append(d.gd, x)
		blocks := min(g.bpg, nBlocks-k*g.bpg)
		if _, err := e.devOf(x).WriteAt(e.zero[:blocks*g.sector], g.grainOff(x)); err != nil {
			e.discardDelta(d)
			return nil, fmt.Errorf("linked: zero grain table: %w", err)
		}
	}
	return d, nil
}

// discardDelta returns every grain of d (table and data) to the allocator.
// d must not be referenced by a committed catalog any more (or never have
// been).
func (e *Engine) discardDelta(d *delta) {
	d.forEach(func(_, v uint32) { e.freeGrain(v&^pendingBit, false) })
	for _, x := range d.gd {
		e.freeGrain(x, true)
	}
	d.gd = nil
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
