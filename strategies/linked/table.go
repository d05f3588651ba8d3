package linked

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// In memory a grain table is paged: pages of pageEntries uint32 entries,
// allocated on the first mapping in their range, so a sparse delta of a
// large volume costs a slice of nil pointers plus the pages it touched.
const (
	pageShift   = 10
	pageEntries = 1 << pageShift
	pageMask    = pageEntries - 1
	pageBytes   = pageEntries * 4

	// pendingBit marks an entry whose grain is written but whose mapping is
	// not yet on the device (committed at the next Flush of its delta).
	// Readers ignore it; the on-device encoder writes such entries as 0.
	pendingBit = uint32(1) << 31
	// maxGrain bounds grain numbers (and so the pool) below pendingBit.
	maxGrain = pendingBit - 1
)

type gtPage [pageEntries]uint32

// delta is one layer of a chain: a sparse grain table over the parent's
// content (VMDK redo log, qcow2 overlay). Entry g is 0 (not present: read
// the parent) or the pool grain number holding grain g.
//
// Concurrency: entries are read and written atomically. parent, frozen,
// owner and children change only under Engine.mu and, when readers may
// walk through them, under the IO locks of every volume whose chain holds
// this delta.
type delta struct {
	id      uint64
	nGrains uint32
	parent  *delta
	frozen  bool // read-only: a snapshot, replica or retained layer
	// gd is the grain directory: entry k is the pool grain holding GT
	// blocks k*bpg.., 0 while that part of the table maps nothing (grain
	// tables are allocated on demand). Its length is fixed; entries go
	// from 0 to a grain under gdMu, and back only when the delta is freed.
	gd       []uint32
	gdMu     sync.Mutex
	gdNew    []int        // directory entries allocated but in no committed catalog yet (guarded by gdMu)
	tables   atomic.Int64 // non-zero directory entries
	pages    []atomic.Pointer[gtPage]
	npages   atomic.Int64
	used     atomic.Int64 // data grains mapped (pending included)
	owner    *volume
	children int

	flushMu sync.Mutex // serialises commits of this table
	dirtyMu sync.Mutex
	dirty   []uint32 // grain indices mapped since the last commit
}

func newDeltaTable(id uint64, nGrains uint32) *delta {
	return &delta{id: id, nGrains: nGrains, pages: make([]atomic.Pointer[gtPage], (int(nGrains)+pageMask)>>pageShift)}
}

// committedGD is a copy of the grain directory as the next catalog commit
// records it: without the entries in gdNew, whose tables are not written.
func (d *delta) committedGD() []uint32 {
	d.gdMu.Lock()
	defer d.gdMu.Unlock()
	gd := slices.Clone(d.gd)
	for _, k := range d.gdNew {
		gd[k] = 0
	}
	return gd
}

// hasNewTables reports whether a grain table was allocated since the last
// catalog commit that recorded this delta's directory.
func (d *delta) hasNewTables() bool {
	d.gdMu.Lock()
	defer d.gdMu.Unlock()
	return len(d.gdNew) > 0
}

// get returns entry g (with the pending bit, if set).
func (d *delta) get(g uint32) uint32 {
	p := d.pages[g>>pageShift].Load()
	if p == nil {
		return 0
	}
	return atomic.LoadUint32(&p[g&pageMask])
}

// set stores entry g.
func (d *delta) set(g, v uint32) {
	slot := &d.pages[g>>pageShift]
	p := slot.Load()
	if p == nil {
		np := new(gtPage)
		if slot.CompareAndSwap(nil, np) {
			d.npages.Add(1)
			p = np
		} else {
			p = slot.Load()
		}
	}
	atomic.StoreUint32(&p[g&pageMask], v)
}

// addDirty records that entry g awaits its commit.
func (d *delta) addDirty(g uint32) {
	d.dirtyMu.Lock()
	d.dirty = append(d.dirty, g)
	d.dirtyMu.Unlock()
}

func (d *delta) hasDirty() bool {
	d.dirtyMu.Lock()
	defer d.dirtyMu.Unlock()
	return len(d.dirty) > 0
}

// forEach calls f for every non-zero entry, in grain order.
func (d *delta) forEach(f func(g, v uint32)) {
	for pi := range d.pages {
		p := d.pages[pi].Load()
		if p == nil {
			continue
		}
		for i := range p {
			if v := atomic.LoadUint32(&p[i]); v != 0 {
				f(uint32(pi<<pageShift+i), v)
			}
		}
	}
}

// lookup walks the chain from d down and returns the pool grain holding
// grain g, or 0 when no layer has it (the grain reads as zeros).
func lookup(d *delta, g uint32) uint32 {
	for ; d != nil; d = d.parent {
		if v := d.get(g); v != 0 {
			return v &^ pendingBit
		}
	}
	return 0
}

// nextMapped returns the next grain after g that a delta of the chain
// from d may map: g+1 when one of them holds g's table page, else the
// first grain of the next page one of them holds (d.nGrains if none), so
// a walk over a sparse chain skips what no layer maps.
func nextMapped(d *delta, g uint32) uint32 {
	pi := int(g >> pageShift)
	for c := d; c != nil; c = c.parent {
		if c.pages[pi].Load() != nil {
			return g + 1
		}
	}
	best := d.nGrains
	for c := d; c != nil; c = c.parent {
		for j := pi + 1; j < len(c.pages) && uint32(j)<<pageShift < best; j++ {
			if c.pages[j].Load() != nil {
				best = uint32(j) << pageShift
				break
			}
		}
	}
	return best
}

func (d *delta) depth() int {
	n := 0
	for ; d != nil; d = d.parent {
		n++
	}
	return n
}

// On the device a grain table is a sequence of GT blocks of one sector
// each: entriesPerBlock(sector) little-endian u32 entries, then a CRC-32C of
// the entries and of the owning delta's id and the block's index (so a block
// of another delta, or one written to the wrong place, fails the check). An
// all-zero block is an empty block: grain tables are zeroed when a delta is
// made, as VMDK preallocates zeroed grain tables.

func entriesPerBlock(sector int) int { return sector/4 - 1 }

func gtBlockCRC(buf []byte, id uint64, b uint32) uint32 {
	var ident [12]byte
	binary.LittleEndian.PutUint64(ident[:], id)
	binary.LittleEndian.PutUint32(ident[8:], b)
	return meta.ChecksumUpdate(meta.Checksum(buf[:len(buf)-4]), ident[:])
}

// sealGTBlock writes the checksum of a filled block.
func sealGTBlock(buf []byte, id uint64, b uint32) {
	binary.LittleEndian.PutUint32(buf[len(buf)-4:], gtBlockCRC(buf, id, b))
}

// fillGTBlock encodes block b of d into buf (one sector): committed
// entries as they are, pending ones as 0.
func fillGTBlock(buf []byte, d *delta, b uint32) {
	clear(buf)
	epb := uint32(entriesPerBlock(len(buf)))
	first := b * epb
	for i := uint32(0); i < epb && first+i < d.nGrains; i++ {
		v := d.get(first + i)
		if v&pendingBit != 0 {
			v = 0
		}
		binary.LittleEndian.PutUint32(buf[4*i:], v)
	}
	sealGTBlock(buf, d.id, b)
}

var errEmptyBlock = errors.New("empty block")

// decodeGTBlock checks one on-device GT block of delta id at index b and
// copies its entries into dst (len(dst) entries are in use; the rest of the
// block must be zero). Entries must be 0 or a grain number in [1, nPool].
// It returns errEmptyBlock (with dst zeroed) for an all-zero block. It never
// panics.
func decodeGTBlock(buf []byte, id uint64, b uint32, dst []uint32, nPool uint32) error {
	if len(buf) < 8 || len(buf)%4 != 0 || len(dst) > len(buf)/4-1 {
		return fmt.Errorf("GT block %d of delta %d: bad geometry (%d bytes, %d entries)", b, id, len(buf), len(dst))
	}
	zero := true
	for _, c := range buf {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		clear(dst)
		return errEmptyBlock
	}
	if got, want := binary.LittleEndian.Uint32(buf[len(buf)-4:]), gtBlockCRC(buf, id, b); got != want {
		return fmt.Errorf("GT block %d of delta %d: checksum %08x, want %08x", b, id, got, want)
	}
	n := len(buf)/4 - 1
	for i := 0; i < n; i++ {
		v := binary.LittleEndian.Uint32(buf[4*i:])
		if i >= len(dst) {
			if v != 0 {
				return fmt.Errorf("GT block %d of delta %d: entry %d past the end of the volume is %d", b, id, i, v)
			}
			continue
		}
		if v > nPool {
			return fmt.Errorf("GT block %d of delta %d: entry %d maps grain %d outside the pool of %d", b, id, i, v, nPool)
		}
		dst[i] = v
	}
	return nil
}
