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
// table is free after a crash. Allocation and free are O(extents). Not safe
// for concurrent use (the engine lock guards it).
type allocator struct {
	start, end int64
	spans      []span // sorted by off, disjoint
}

// alloc returns the lowest offset with n free bytes.
func (a *allocator) alloc(n int64) (int64, error) {
	at := a.start
	i := 0
	for ; i < len(a.spans); i++ {
		if a.spans[i].off-at >= n {
			break
		}
		at = a.spans[i].off + a.spans[i].len
	}
	if i == len(a.spans) && a.end-at < n {
		return 0, fmt.Errorf("mirror: extent of %d bytes: %w", n, strategies.ErrNoSpace)
	}
	a.spans = slices.Insert(a.spans, i, span{at, n})
	return at, nil
}

// free releases the extent starting at off.
func (a *allocator) free(off int64) {
	i, ok := slices.BinarySearchFunc(a.spans, off, func(s span, off int64) int { return cmp64(s.off, off) })
	if ok {
		a.spans = slices.Delete(a.spans, i, i+1)
	}
}

// add records an existing extent (at open); it reports an overlap.
func (a *allocator) add(off, n int64) bool {
	i, _ := slices.BinarySearchFunc(a.spans, off, func(s span, off int64) int { return cmp64(s.off, off) })
	if i > 0 && a.spans[i-1].off+a.spans[i-1].len > off {
		return false
	}
	if i < len(a.spans) && off+n > a.spans[i].off {
		return false
	}
	a.spans = slices.Insert(a.spans, i, span{off, n})
	return true
}

func (a *allocator) used() int64 {
	var n int64
	for _, s := range a.spans {
		n += s.len
	}
	return n
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
