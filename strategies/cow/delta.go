package cow

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
)

// notDurable flags a chunkMap value whose exception is not yet committed
// durably on the device (its data is written, its table entry is not).
const notDurable = 1 << 31

// cloneStripes serialises a clone's first writes to one chunk.
const cloneStripes = 16

// delta is the in-memory state of a snapshot's or clone's exception store:
// the exception table (chunkMap), the slot allocator, and the entries on
// their way to the device.
//
// Entries are numbered in the order their data was written (appended);
// the on-device table holds entries [0, written) and, after the next flush,
// those are durable. Counters only grow:
//
//	durable <= written <= eligible <= appended
//
// eligible: entries whose data is known durable (a flush started after the
// data write finished); only those may be written to the table, so a table
// entry never becomes durable before its data. pend holds the entries
// [durable, appended).
type delta struct {
	vol      *vol // the snapshot or clone
	base     *vol // its base
	dataOff  int64
	tableOff int64
	capacity uint32
	invalid  atomic.Bool // set once the invalidation is durable
	cstripes []sync.Mutex

	mu       sync.Mutex // guards the fields below; a leaf lock, never held across IO
	table    chunkMap   // base chunk -> slot | notDurable
	next     uint32     // slots [0,next) have been handed out at least once
	holes    []uint32   // free slots below next, descending (smallest last)
	pend     []entry
	durable  uint64
	eligible uint64
	appended uint64

	commitMu   sync.Mutex // serialises table writes; guards the fields below
	gone       bool       // deleted: its extent may be reused, never write it again
	written    uint64
	tailBlock  uint32
	tailNewest int8 // newest valid copy of the tail block: 0 A, 1 B, -1 none
	tailEnt    []entry
	seq        uint64
	lastWrite  uint64 // flusher generation that covers the last table write
}

func newDelta(v, base *vol, g geometry) *delta {
	d := &delta{vol: v, base: base, dataOff: v.off, capacity: v.capChunks, tailNewest: -1}
	d.tableOff = v.off + int64(v.capChunks)<<g.shift
	if v.kind == kindClone {
		d.cstripes = make([]sync.Mutex, cloneStripes)
	}
	return d
}

// adopt installs a table loaded from the device.
func (d *delta) adopt(l *tableLoad) {
	d.table = l.table
	d.next = 0
	for s := int64(d.capacity) - 1; s >= 0; s-- {
		if l.used[s/64]&(1<<(s%64)) != 0 {
			d.next = uint32(s) + 1
			break
		}
	}
	d.holes = nil
	for s := int64(d.next) - 1; s >= 0; s-- { // descending: smallest last
		if l.used[s/64]&(1<<(s%64)) == 0 {
			d.holes = append(d.holes, uint32(s))
		}
	}
	d.durable, d.eligible, d.appended, d.written = l.count, l.count, l.count, l.count
	d.tailBlock, d.tailNewest, d.tailEnt, d.seq = l.tailBlock, l.tailNewest, l.tailEnt, l.seq
}

// lookup returns the slot holding chunk c.
func (d *delta) lookup(c uint32) (uint32, bool) {
	d.mu.Lock()
	v, ok := d.table.get(c)
	d.mu.Unlock()
	return v &^ notDurable, ok
}

// allocLocked hands out the lowest free slot.
func (d *delta) allocLocked() (uint32, bool) {
	if n := len(d.holes); n > 0 {
		s := d.holes[n-1]
		d.holes = d.holes[:n-1]
		return s, true
	}
	if d.next < d.capacity {
		d.next++
		return d.next - 1, true
	}
	return 0, false
}

// freeLocked returns a slot that was allocated but never recorded.
func (d *delta) freeLocked(s uint32) {
	i := len(d.holes)
	for i > 0 && d.holes[i-1] < s {
		i--
	}
	d.holes = append(d.holes, 0)
	copy(d.holes[i+1:], d.holes[i:])
	d.holes[i] = s
}

// record adds the exception c -> s whose data has been written.
func (d *delta) recordLocked(c, s uint32) {
	d.table.put(c, s|notDurable)
	d.pend = append(d.pend, entry{c, s})
	d.appended++
}

// noteFlushed marks entries [0, a) as having durable data.
func (d *delta) noteFlushed(a uint64) {
	d.mu.Lock()
	d.eligible = max(d.eligible, a)
	d.mu.Unlock()
}

// markDurable records that table entries [0, w) are durable.
func (d *delta) markDurable(w uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w <= d.durable {
		return
	}
	n := int(w - d.durable)
	for _, e := range d.pend[:n] {
		if v, ok := d.table.get(e.chunk); ok && v&^notDurable == e.slot {
			d.table.put(e.chunk, e.slot)
		}
	}
	m := copy(d.pend, d.pend[n:])
	clear(d.pend[m:])
	d.pend = d.pend[:m]
	if cap(d.pend) > 64 && m < cap(d.pend)/4 {
		d.pend = append([]entry(nil), d.pend...)
	}
	d.durable = w
}

// commitTo writes the table blocks needed for entries [0, a) to be in the
// on-device table, and returns how many entries the table holds (at least a
// unless the delta was invalidated). The caller must have flushed the
// entries' data and called noteFlushed(a); it must flush again before it
// relies on the table being durable, then call markDurable with the result.
//
// Torn-write safety: a block copy is only overwritten when the other copy
// is durable, so commitTo first waits for the flush covering the previous
// table write (free at queue depth 1, where every commit is followed by a
// flush before the next).
func (d *delta) commitTo(e *Engine, a uint64) (uint64, error) {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	if d.written >= a || d.invalid.Load() || d.gone {
		return d.written, nil
	}
	if d.lastWrite != 0 {
		if err := e.fl.wait(d.lastWrite); err != nil {
			return d.written, err
		}
	}
	// tailEnt holds the entries of the tail block as on the device; append
	// the new ones and write blocks from it. A failure truncates it back.
	len0 := len(d.tailEnt)
	d.mu.Lock()
	from, to := d.written, d.eligible
	if to >= a {
		d.tailEnt = append(d.tailEnt, d.pend[from-d.durable:to-d.durable]...)
	}
	d.mu.Unlock()
	if to < a {
		return d.written, fmt.Errorf("cow: internal: commit of %d exceptions of volume %d, only %d eligible", a, d.vol.id, to)
	}
	buf := device.GetBuffer(blockSize)
	defer device.PutBuffer(buf)
	ents := d.tailEnt
	block, newest, seq := d.tailBlock, d.tailNewest, d.seq
	i := 0
	for i < len(ents) {
		n := min(len(ents)-i, entriesPerBlock)
		copyIdx := int64(0)
		if newest == 0 {
			copyIdx = 1
		}
		seq++
		encodeBlock(buf, blockID{nonce: e.nonce, vol: d.vol.id, index: block}, seq, ents[i:i+n])
		off := d.tableOff + (2*int64(block)+copyIdx)*blockSize
		if _, err := e.dev.WriteAt(buf, off); err != nil {
			d.tailEnt = d.tailEnt[:len0]
			d.lastWrite = e.fl.mark()
			return d.written, fmt.Errorf("cow: write exception table of %q: %w", d.vol.name, err)
		}
		e.stats.exceptionBlocks.Add(1)
		newest = int8(copyIdx)
		if n < entriesPerBlock {
			break
		}
		i += n
		block, newest = block+1, -1
	}
	d.lastWrite = e.fl.mark()
	m := copy(d.tailEnt, ents[i:])
	d.tailEnt = d.tailEnt[:m]
	if cap(d.tailEnt) > 2*entriesPerBlock {
		d.tailEnt = append([]entry(nil), d.tailEnt...)
	}
	d.tailBlock, d.tailNewest, d.seq = block, newest, seq
	d.written = to
	e.stats.exceptionCommits.Add(1)
	return to, nil
}

// memBytes estimates the memory held by the delta.
func (d *delta) memBytes() int64 {
	d.mu.Lock()
	n := d.table.bytes() + int64(cap(d.holes))*4 + int64(cap(d.pend))*8
	d.mu.Unlock()
	d.commitMu.Lock()
	n += int64(cap(d.tailEnt)) * 8
	d.commitMu.Unlock()
	return n + int64(len(d.cstripes))*8
}
