package mirror

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
)

// intentTag marks the write-intent block (bitmap blocks carry their index).
const intentTag = 0x494e5431 // "INT1"

// Per-region state word of the intent log.
const (
	intentSet     = 1 << 63 // the region's bit is set on the device
	intentTouched = 1 << 62 // a write entered or left since the last flush began
	intentActive  = 1<<32 - 1
)

// intentLog is the write-intent bitmap, as md RAID keeps one: one bit per
// region of the engine area, in a single checksummed block. Before a write to
// a paired volume (one with attached mirrors, or a split that tracks or is
// tracked) reaches the device, the bits of the regions it covers are durable;
// they are cleared lazily once a flush has made every write to the region,
// and every change bit those writes set, durable. After a crash, every region
// whose bit is set may hold writes that reached one copy and not the other,
// or change bits that never reached the device: recovery marks its chunks out
// of sync or changed.
//
// Entering a region whose bit is already set costs two atomic operations;
// setting a bit costs one block write and one device flush, serialised by
// setMu. Safe for concurrent use.
type intentLog struct {
	dev     device.Device
	off     int64
	shift   uint // log2 of the region size
	regions []atomic.Uint64
	setMu   sync.Mutex // serialises writes of the block and changes of intentSet
	buf     []byte     // guarded by setMu
	writes  atomic.Int64
}

func newIntentLog(dev device.Device, off, region, capacity int64) *intentLog {
	n := (capacity + region - 1) / region
	return &intentLog{dev: dev, off: off, shift: uint(bits.TrailingZeros64(uint64(region))),
		regions: make([]atomic.Uint64, n), buf: device.Alloc(blockSize)}
}

func (l *intentLog) regionSize() int64 { return 1 << l.shift }

// acquire makes the bits of every region of [lo, hi) durable and counts a
// write in flight in each. Release with release(lo, hi).
func (l *intentLog) acquire(lo, hi int64) error {
	r0, r1 := lo>>l.shift, (hi-1)>>l.shift
	for r := r0; r <= r1; r++ {
		if !l.tryEnter(r) {
			if err := l.enterSlow(r, r1); err != nil {
				l.leave(r0, r-1)
				return err
			}
			return nil
		}
	}
	return nil
}

// tryEnter counts a write in region r if its bit is durable.
func (l *intentLog) tryEnter(r int64) bool {
	w := &l.regions[r]
	for {
		old := w.Load()
		if old&intentSet == 0 {
			return false
		}
		if w.CompareAndSwap(old, (old+1)|intentTouched) {
			return true
		}
	}
}

// enterSlow sets the bits of regions [r0, r1] that are not set (one block
// write and one flush) and counts a write in each.
func (l *intentLog) enterSlow(r0, r1 int64) error {
	l.setMu.Lock()
	defer l.setMu.Unlock()
	need := false
	for r := r0; r <= r1; r++ {
		need = need || l.regions[r].Load()&intentSet == 0
	}
	if need {
		l.render(r0, r1)
		if _, err := l.dev.WriteAt(l.buf, l.off); err != nil {
			return fmt.Errorf("mirror: write intent: %w", err)
		}
		if err := l.dev.Flush(); err != nil {
			return fmt.Errorf("mirror: write intent: %w", err)
		}
		l.writes.Add(1)
		for r := r0; r <= r1; r++ {
			l.regions[r].Or(intentSet)
		}
	}
	for r := r0; r <= r1; r++ {
		w := &l.regions[r]
		for { // the bit cannot be cleared while setMu is held
			old := w.Load()
			if w.CompareAndSwap(old, (old+1)|intentTouched) {
				break
			}
		}
	}
	return nil
}

// release ends the writes counted by acquire(lo, hi).
func (l *intentLog) release(lo, hi int64) { l.leave(lo>>l.shift, (hi-1)>>l.shift) }

func (l *intentLog) leave(r0, r1 int64) {
	for r := r0; r <= r1; r++ {
		w := &l.regions[r]
		for {
			old := w.Load()
			if w.CompareAndSwap(old, (old-1)|intentTouched) {
				break
			}
		}
	}
}

// beginFlush starts a flush: writes that enter or leave a region from now on
// keep its bit set through this flush.
func (l *intentLog) beginFlush() {
	for r := range l.regions {
		if l.regions[r].Load()&intentTouched != 0 {
			l.regions[r].And(^uint64(intentTouched))
		}
	}
}

// endFlush clears the bits of regions with no write in flight and none since
// beginFlush (whose data and change bits the flush made durable) and writes
// the block, without flushing: until the next flush the device may hold
// either image, and a set bit is always safe.
func (l *intentLog) endFlush() error {
	l.setMu.Lock()
	defer l.setMu.Unlock()
	cleared := false
	for r := range l.regions {
		w := &l.regions[r]
		old := w.Load()
		if old&intentSet != 0 && old&(intentTouched|intentActive) == 0 && w.CompareAndSwap(old, 0) {
			cleared = true
		}
	}
	if !cleared {
		return nil
	}
	l.render(0, -1)
	if _, err := l.dev.WriteAt(l.buf, l.off); err != nil {
		return fmt.Errorf("mirror: clear intent: %w", err)
	}
	l.writes.Add(1)
	return nil
}

// render builds the block from the set bits plus regions [r0, r1]. Caller
// holds setMu.
func (l *intentLog) render(r0, r1 int64) {
	clear(l.buf)
	for r := range l.regions {
		if l.regions[r].Load()&intentSet != 0 || (int64(r) >= r0 && int64(r) <= r1) {
			l.buf[r>>3] |= 1 << (r & 7)
		}
	}
	sealBlock(l.buf, intentTag)
}

// format writes an empty block (no flush).
func (l *intentLog) format() error {
	l.setMu.Lock()
	defer l.setMu.Unlock()
	l.render(0, -1)
	if _, err := l.dev.WriteAt(l.buf, l.off); err != nil {
		return fmt.Errorf("mirror: write intent: %w", err)
	}
	return nil
}

// load reads the block as recovery needs it: the dirty regions, and whether
// the block was unreadable (torn or damaged), in which case every region
// counts as dirty. Device errors are returned.
func (l *intentLog) load() (dirty []uint64, damaged bool, err error) {
	buf := device.GetBuffer(blockSize)
	defer device.PutBuffer(buf)
	if _, err := l.dev.ReadAt(buf, l.off); err != nil {
		return nil, false, fmt.Errorf("mirror: read intent: %w", err)
	}
	words := make([]uint64, wordsPerBlock)
	if decodeIntentBlock(buf, words) != nil {
		for i := range words {
			words[i] = ^uint64(0)
		}
		damaged = true
	}
	return words, damaged, nil
}

// decodeIntentBlock decodes the intent block into words.
func decodeIntentBlock(buf []byte, words []uint64) error {
	return decodeBlock(buf, intentTag, words)
}

// check compares the on-device block with the in-memory bits.
func (l *intentLog) check() ([]error, error) {
	l.setMu.Lock()
	defer l.setMu.Unlock()
	buf := device.GetBuffer(blockSize)
	defer device.PutBuffer(buf)
	if _, err := l.dev.ReadAt(buf, l.off); err != nil {
		return nil, fmt.Errorf("mirror: check: read intent: %w", err)
	}
	var words [wordsPerBlock]uint64
	if err := decodeIntentBlock(buf, words[:]); err != nil {
		return []error{fmt.Errorf("intent block: %v", err)}, nil
	}
	var errs []error
	for r := range l.regions {
		mem := l.regions[r].Load()&intentSet != 0
		disk := words[r>>6]&(1<<(r&63)) != 0
		if mem != disk {
			errs = append(errs, fmt.Errorf("intent region %d: device bit %v, memory %v", r, disk, mem))
			if len(errs) > 8 {
				break
			}
		}
	}
	for r := len(l.regions); r < bitsPerBlock; r++ {
		if words[r>>6]&(1<<(r&63)) != 0 {
			errs = append(errs, fmt.Errorf("intent bit %d set past the last region", r))
			break
		}
	}
	return errs, nil
}
