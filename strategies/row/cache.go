package row

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// blockCache is the bounded cache of 4 KiB metadata blocks (B-tree nodes
// and space-map pages), with CLOCK replacement. A frame holds the block's
// on-device image, so nodes are searched and edited in place without
// decoding.
//
// Rules:
//   - get and create return a pinned frame; put unpins it (and marks it
//     dirty when the caller changed it). A pinned frame is never evicted or
//     reused, so its buffer is stable while pinned.
//   - Who may change a frame's content is decided by the engine's locks
//     (see Engine): a node only by the one volume that owns it, under that
//     volume's write lock; a space-map page under the space-map lock.
//   - Dirty frames may be evicted: they are written back first (a node to
//     its own block, which the last commit does not reference; a space-map
//     page to its non-current copy), while the cache lock is held, so no one
//     can pin the frame meanwhile. The commit writes the rest.
//
// The bound is soft in one case only: when every frame is pinned, get
// allocates one more frame (counted in overflows) rather than deadlock.
//
// Safe for concurrent use.
type blockCache struct {
	mu     sync.Mutex
	m      map[uint64]*frame
	frames []*frame
	hand   int
	limit  int
	dirty  []*frame // frames that became dirty since takeDirty (may be stale)
	// spare: frames of freed blocks (forget), reused before a new frame is
	// allocated, so the cache holds the working set, not every block a
	// run of commits ever shadowed. An entry is usable while its frame is
	// still invalid and unpinned (CLOCK may have reused it meanwhile).
	spare []*frame
	io    blockIO

	hits, misses, writebacks, overflows atomic.Int64
}

// blockIO loads and stores blocks for the cache.
type blockIO interface {
	loadBlock(key uint64, buf []byte) error
	storeBlock(key uint64, buf []byte) error
}

type frame struct {
	key     uint64
	buf     []byte
	pins    int
	ref     bool // CLOCK reference bit
	dirty   bool
	valid   bool // holds key's block (or is being loaded)
	loading bool
	loadMu  sync.Mutex // held by the loader while loading
	err     error      // load error, read by waiters after loadMu
}

func newBlockCache(limit int, io blockIO) *blockCache {
	return &blockCache{m: make(map[uint64]*frame), limit: max(limit, 16), io: io}
}

// get returns the pinned frame of key, loading it on a miss. Concurrent
// misses on the same key load it once.
func (c *blockCache) get(key uint64) (*frame, error) {
	c.mu.Lock()
	if f := c.m[key]; f != nil {
		f.pins++
		f.ref = true
		if !f.loading {
			c.mu.Unlock()
			c.hits.Add(1)
			return f, nil
		}
		c.mu.Unlock()
		f.loadMu.Lock()
		err := f.err
		f.loadMu.Unlock()
		if err != nil {
			c.put(f, false)
			return nil, err
		}
		return f, nil
	}
	f, err := c.victimLocked()
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	f.key, f.pins, f.ref, f.dirty, f.valid, f.loading, f.err = key, 1, true, false, true, true, nil
	c.m[key] = f
	f.loadMu.Lock()
	c.mu.Unlock()
	c.misses.Add(1)
	err = c.io.loadBlock(key, f.buf)
	f.err = err
	c.mu.Lock()
	f.loading = false
	if err != nil {
		delete(c.m, key)
		f.valid = false
	}
	c.mu.Unlock()
	f.loadMu.Unlock()
	if err != nil {
		c.put(f, false)
		return nil, err
	}
	return f, nil
}

// create returns a pinned, dirty, zeroed frame for a block that is being
// newly written (a freshly allocated node). Any stale frame of the block is
// reused.
func (c *blockCache) create(key uint64) (*frame, error) {
	c.mu.Lock()
	f := c.m[key]
	if f != nil && (f.pins > 0 || f.loading) {
		c.mu.Unlock()
		return nil, fmt.Errorf("row: %w: block %d allocated while in use", strategies.ErrCorrupt, key)
	}
	if f == nil {
		var err error
		if f, err = c.victimLocked(); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		f.key, f.valid, f.loading, f.err = key, true, false, nil
		c.m[key] = f
	}
	f.pins, f.ref = 1, true
	if !f.dirty {
		f.dirty = true
		c.dirty = append(c.dirty, f)
	}
	c.mu.Unlock()
	clear(f.buf)
	return f, nil
}

// put unpins f; dirtied says the caller changed it.
func (c *blockCache) put(f *frame, dirtied bool) {
	c.mu.Lock()
	f.pins--
	if dirtied && !f.dirty {
		f.dirty = true
		c.dirty = append(c.dirty, f)
	}
	c.mu.Unlock()
}

// forget drops key's frame without writing it (a freed block).
func (c *blockCache) forget(key uint64) {
	c.mu.Lock()
	if f := c.m[key]; f != nil && f.pins == 0 && !f.loading {
		delete(c.m, key)
		f.valid, f.dirty = false, false
		if len(c.spare) < len(c.frames) {
			c.spare = append(c.spare, f)
		}
	}
	c.mu.Unlock()
}

// victimLocked returns an unpinned frame to reuse, removed from the map:
// the frame of a freed block, else a new one while under the limit, else the CLOCK victim, preferring clean
// frames; a dirty victim is written back first.
func (c *blockCache) victimLocked() (*frame, error) {
	for len(c.spare) > 0 {
		f := c.spare[len(c.spare)-1]
		c.spare = c.spare[:len(c.spare)-1]
		if !f.valid && f.pins == 0 && !f.loading {
			return f, nil
		}
	}
	if len(c.frames) < c.limit {
		return c.newFrameLocked(), nil
	}
	n := len(c.frames)
	var dirtyCand *frame
	for i := 0; i < 2*n; i++ {
		f := c.frames[c.hand]
		c.hand++
		if c.hand == n {
			c.hand = 0
		}
		if f.pins > 0 || f.loading {
			continue
		}
		if !f.valid {
			return f, nil
		}
		if f.ref {
			f.ref = false
			continue
		}
		if f.dirty {
			if dirtyCand == nil {
				dirtyCand = f
			}
			continue
		}
		delete(c.m, f.key)
		f.valid = false
		return f, nil
	}
	if dirtyCand != nil {
		if err := c.io.storeBlock(dirtyCand.key, dirtyCand.buf); err != nil {
			return nil, err
		}
		c.writebacks.Add(1)
		delete(c.m, dirtyCand.key)
		dirtyCand.valid, dirtyCand.dirty = false, false
		return dirtyCand, nil
	}
	c.overflows.Add(1)
	return c.newFrameLocked(), nil
}

func (c *blockCache) newFrameLocked() *frame {
	f := &frame{buf: device.Alloc(blockSize)}
	c.frames = append(c.frames, f)
	return f
}

// takeDirty returns the dirty frames sorted by key. The engine calls it
// during a commit, when nothing else uses the cache; the frames stay dirty
// until markClean.
func (c *blockCache) takeDirty() []*frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.dirty[:0:0]
	for _, f := range c.dirty {
		if f.valid && f.dirty {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *frame) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	out = slices.Compact(out)
	c.dirty = c.dirty[:0]
	return out
}

// markClean marks frames written by a commit clean.
func (c *blockCache) markClean(fs []*frame) {
	c.mu.Lock()
	for _, f := range fs {
		f.dirty = false
	}
	c.mu.Unlock()
}

// size is the number of frames allocated.
func (c *blockCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}
