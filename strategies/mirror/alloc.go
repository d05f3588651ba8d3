package mirror

import (
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/strategies"
)

// span is an allocated extent [off, off+len) of the engine area.
type span struct{ off, len int64 }

// allocator hands out contiguous extents of [start, end), first fit. It is
// derived from the volume table at open, so nothing about free space is
// stored separately on the device: an extent not referenced by a committed
// table is free after a crash. Allocation and free are O(log extents) (a
// first-fit treap of the free extents, a map of the used ones). Not safe for
// concurrent use (the engine lock guards it).
type allocator struct {
	start, end int64
	fs         *freeSpace
	spans      map[int64]int64 // used extents: offset -> length
	usedBytes  int64
}

func newAllocator(start, end int64) allocator {
	a := allocator{start: start, end: end, fs: newFreeSpace(), spans: map[int64]int64{}}
	a.fs.Release(start, end)
	return a
}

// alloc returns the lowest offset with n free bytes.
func (a *allocator) alloc(n int64) (int64, error) {
	off, ok := a.fs.Alloc(n, 1)
	if !ok {
		return 0, fmt.Errorf("mirror: extent of %d bytes: %w", n, strategies.ErrNoSpace)
	}
	a.spans[off] = n
	a.usedBytes += n
	return off, nil
}

// free releases the extent starting at off.
func (a *allocator) free(off int64) {
	if n, ok := a.spans[off]; ok {
		delete(a.spans, off)
		a.usedBytes -= n
		a.fs.Release(off, off+n)
	}
}

// add records an existing extent (at open); it reports an overlap.
func (a *allocator) add(off, n int64) bool {
	if n <= 0 || !a.fs.Take(off, off+n) {
		return false
	}
	a.spans[off] = n
	a.usedBytes += n
	return true
}

func (a *allocator) used() int64 { return a.usedBytes }

// sorted lists the used extents by offset (for Check).
func (a *allocator) sorted() []span {
	out := make([]span, 0, len(a.spans))
	for off, n := range a.spans {
		out = append(out, span{off, n})
	}
	slices.SortFunc(out, func(x, y span) int { return cmp64(x.off, y.off) })
	return out
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
