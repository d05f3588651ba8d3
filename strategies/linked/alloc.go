package linked

import (
	"math/bits"
	"sync"
)

// allocator hands out pool grains (numbered from 1) with a next-fit scan of
// a bitmap, one bit per grain. The order of allocations is a function of the
// order of calls only, so a sequence of operations at queue depth 1 makes
// the same device IO every time. Safe for concurrent use.
//
// The bitmap is not stored: Open rebuilds it from the grain tables and grain
// directories, so grains written but never committed are free again after a
// crash, and nothing leaks.
type allocator struct {
	mu     sync.Mutex
	words  []uint64 // 1: used; bits past n are set so the scan skips them
	n      uint32
	used   uint32
	meta   uint32 // of used: grains holding grain tables
	cursor uint32 // 0-based bit where the next scan starts
	// reserve: the last free grains, which only allocCatalog may take, so
	// that a catalog commit (which writes its buckets to new grains before
	// it frees the old ones) finds room even when data filled the pool.
	reserve uint32
}

func newAllocator(n uint32) *allocator {
	a := &allocator{n: n, words: make([]uint64, (int(n)+63)/64)}
	for i := n; i < uint32(len(a.words))*64; i++ {
		a.words[i/64] |= 1 << (i % 64)
	}
	return a
}

// alloc returns a free grain, or 0 when the pool is full (only the
// reserve is left).
func (a *allocator) alloc(meta bool) uint32 {
	return a.take(meta, a.reserve)
}

// allocCatalog returns a free grain for a catalog bucket (metadata), from
// the reserve when need be, or 0 when the pool is full.
func (a *allocator) allocCatalog() uint32 { return a.take(true, 0) }

func (a *allocator) take(meta bool, keep uint32) uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used+keep >= a.n {
		return 0
	}
	nw := len(a.words)
	wi := int(a.cursor / 64)
	idx := -1
	if f := ^a.words[wi] & (^uint64(0) << (a.cursor % 64)); f != 0 {
		idx = wi*64 + bits.TrailingZeros64(f)
	} else {
		for k := 1; k <= nw; k++ {
			j := (wi + k) % nw
			if f := ^a.words[j]; f != 0 {
				idx = j*64 + bits.TrailingZeros64(f)
				break
			}
		}
	}
	if idx < 0 {
		return 0 // unreachable while used < n
	}
	a.words[idx/64] |= 1 << (idx % 64)
	a.used++
	if meta {
		a.meta++
	}
	a.cursor = uint32(idx + 1)
	if a.cursor >= a.n {
		a.cursor = 0
	}
	return uint32(idx + 1)
}

// free returns grain g to the pool. Freeing a free grain changes nothing
// (Check reports the inconsistency that led to it).
func (a *allocator) free(g uint32, meta bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g == 0 || g > a.n {
		return
	}
	i := g - 1
	if a.words[i/64]&(1<<(i%64)) == 0 {
		return
	}
	a.words[i/64] &^= 1 << (i % 64)
	a.used--
	if meta && a.meta > 0 {
		a.meta--
	}
}

// mark claims grain g while loading; it reports false if g was already
// claimed (a grain owned twice) or is outside the pool.
func (a *allocator) mark(g uint32, meta bool) bool {
	if g == 0 || g > a.n {
		return false
	}
	i := g - 1
	if a.words[i/64]&(1<<(i%64)) != 0 {
		return false
	}
	a.words[i/64] |= 1 << (i % 64)
	a.used++
	if meta {
		a.meta++
	}
	return true
}

func (a *allocator) isUsed(g uint32) bool {
	if g == 0 || g > a.n {
		return false
	}
	i := g - 1
	return a.words[i/64]&(1<<(i%64)) != 0
}

// counts returns used and metadata grains.
func (a *allocator) counts() (used, meta uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used, a.meta
}
