package device

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

const memPageSize = 64 << 10

// Mem is a sparse in-memory device for tests, with a crash model.
//
// Mem remembers every write acknowledged since the last Flush. CrashClone
// returns a new device as it could look after a power cut at this instant:
// everything flushed, plus a random subset of the unflushed sector writes.
// Reads of never-written sectors return zeros. It is safe for concurrent use.
//
// Mem checks alignment like a real direct-IO device: offsets and lengths to
// the sector size, buffer addresses to MemAlign (512 by default), so that an
// engine that passes its tests on Mem also works on real hardware.
type Mem struct {
	mu       sync.RWMutex
	size     int64
	sector   int
	memAlign int
	pages    map[int64]*[memPageSize]byte
	// Crash model: undo holds the durable content of every sector written
	// since the last flush (nil: was zero); pending lists those writes, in
	// order, so a crash can replay a random subset of them.
	undo    map[int64][]byte
	pending []memWrite
	closed  bool
}

type memWrite struct {
	off  int64
	n    int64
	data []byte // nil: zeros (a discard)
}

// MemOptions configures NewMem. Zero values choose the defaults.
type MemOptions struct {
	SectorSize int // default 512
	MemAlign   int // default 512; 1 disables the buffer address check
}

// NewMem returns an empty (all zeros) in-memory device of size bytes.
func NewMem(size int64, opts MemOptions) (*Mem, error) {
	if opts.SectorSize == 0 {
		opts.SectorSize = 512
	}
	if opts.MemAlign == 0 {
		opts.MemAlign = 512
	}
	if opts.SectorSize < 512 || opts.SectorSize > memPageSize || opts.SectorSize&(opts.SectorSize-1) != 0 {
		return nil, fmt.Errorf("%w: sector size %d", ErrBadSize, opts.SectorSize)
	}
	if size <= 0 || size%int64(opts.SectorSize) != 0 {
		return nil, fmt.Errorf("%w: mem device size %d, sector size %d", ErrBadSize, size, opts.SectorSize)
	}
	return &Mem{size: size, sector: opts.SectorSize, memAlign: opts.MemAlign,
		pages: make(map[int64]*[memPageSize]byte), undo: make(map[int64][]byte)}, nil
}

// MustMem is NewMem for tests: it panics on a bad size.
func MustMem(size int64) *Mem {
	m, err := NewMem(size, MemOptions{})
	if err != nil {
		panic(err)
	}
	return m
}

func (m *Mem) Size() int64     { return m.size }
func (m *Mem) SectorSize() int { return m.sector }

// Info describes the device.
func (m *Mem) Info() Info {
	return Info{Kind: KindMem, Size: m.size, LogicalSector: m.sector, PhysicalSector: m.sector,
		MemAlign: m.memAlign, Discard: true}
}

func (m *Mem) ReadAt(p []byte, off int64) (int, error) {
	if err := CheckIO(p, off, m.sector, m.memAlign, m.size); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.copyOut(p, off)
	return len(p), nil
}

func (m *Mem) copyOut(p []byte, off int64) {
	for done := 0; done < len(p); {
		pg, in := (off+int64(done))/memPageSize, int((off+int64(done))%memPageSize)
		n := min(len(p)-done, memPageSize-in)
		if page := m.pages[pg]; page != nil {
			copy(p[done:done+n], page[in:in+n])
		} else {
			clear(p[done : done+n])
		}
		done += n
	}
}

func (m *Mem) copyIn(p []byte, off int64) {
	for done := 0; done < len(p); {
		pg, in := (off+int64(done))/memPageSize, int((off+int64(done))%memPageSize)
		n := min(len(p)-done, memPageSize-in)
		page := m.pages[pg]
		if page == nil {
			page = new([memPageSize]byte)
			m.pages[pg] = page
		}
		copy(page[in:in+n], p[done:done+n])
		done += n
	}
}

func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	if err := CheckIO(p, off, m.sector, m.memAlign, m.size); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.recordUndo(off, int64(len(p)))
	m.pending = append(m.pending, memWrite{off: off, n: int64(len(p)), data: append([]byte(nil), p...)})
	m.copyIn(p, off)
	return len(p), nil
}

// recordUndo saves the durable content of sectors about to change for the
// first time since the last flush.
func (m *Mem) recordUndo(off, n int64) {
	sec := int64(m.sector)
	for s := off; s < off+n; s += sec {
		if _, ok := m.undo[s]; ok {
			continue
		}
		var old []byte
		if m.pages[s/memPageSize] != nil {
			old = make([]byte, sec)
			m.copyOut(old, s)
		}
		m.undo[s] = old
	}
}

// Discard zeroes the range; like a write, it is durable only after Flush.
// Whole pages are released, so discarding a large range is cheap.
func (m *Mem) Discard(off, n int64) error {
	if err := CheckRange(off, n, m.sector, m.size); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for pg := off / memPageSize; pg <= (off+n-1)/memPageSize && n > 0; pg++ {
		if m.pages[pg] == nil {
			continue // already zero: nothing changes, nothing to undo
		}
		lo, hi := max(off, pg*memPageSize), min(off+n, (pg+1)*memPageSize)
		m.recordUndo(lo, hi-lo)
		m.zeroLocked(lo, hi-lo)
	}
	m.pending = append(m.pending, memWrite{off: off, n: n})
	return nil
}

// Zero is Discard: Mem guarantees zeros after a discard.
func (m *Mem) Zero(off, n int64) error { return m.Discard(off, n) }

// zeroLocked zeroes [off, off+n), dropping pages that become entirely zero.
func (m *Mem) zeroLocked(off, n int64) {
	for done := int64(0); done < n; {
		pg, in := (off+done)/memPageSize, (off+done)%memPageSize
		k := min(n-done, memPageSize-in)
		if page := m.pages[pg]; page != nil {
			if k == memPageSize {
				delete(m.pages, pg)
			} else {
				clear(page[in : in+k])
			}
		}
		done += k
	}
}

// Flush makes every acknowledged write durable.
func (m *Mem) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	clear(m.undo)
	m.pending = nil
	return nil
}

// Close marks the device closed; its content stays readable through
// CrashClone and Reopen.
func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Unflushed returns the number of writes acknowledged since the last Flush.
func (m *Mem) Unflushed() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.pending)
}

// CrashClone returns a new, open device holding what m would hold after a
// power cut now: every flushed write, plus each unflushed sector write with
// probability keep (0 keeps none, 1 keeps all), replayed in order. m itself
// is unchanged and may even be closed.
func (m *Mem) CrashClone(rng *rand.Rand, keep float64) *Mem {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := m.copyLocked()
	// Roll back to the durable state.
	for s, old := range m.undo {
		if old == nil {
			old = make([]byte, m.sector)
		}
		c.copyIn(old, s)
	}
	sec := int64(m.sector)
	for _, w := range m.pending {
		for i := int64(0); i < w.n; i += sec {
			if keep >= 1 || (keep > 0 && rng.Float64() < keep) {
				if w.data == nil {
					c.zeroLocked(w.off+i, sec)
				} else {
					c.copyIn(w.data[i:i+sec], w.off+i)
				}
			}
		}
	}
	return c
}

// Reopen returns a new, open device with exactly m's current content, as if
// it had been cleanly shut down.
func (m *Mem) Reopen() *Mem {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.copyLocked()
}

func (m *Mem) copyLocked() *Mem {
	c := &Mem{size: m.size, sector: m.sector, memAlign: m.memAlign,
		pages: make(map[int64]*[memPageSize]byte, len(m.pages)), undo: make(map[int64][]byte)}
	for k, v := range m.pages {
		p := *v
		c.pages[k] = &p
	}
	return c
}

// AllocatedBytes returns how many bytes of backing memory the device uses.
func (m *Mem) AllocatedBytes() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.pages)) * memPageSize
}
