// Package extent holds the free-space set of the engines that lay volumes
// out as extents of one data area (cow, full, mirror): first-fit
// allocation, release with merging of neighbours, and taking a given range,
// each O(log F) for F free extents.
package extent

import "math/rand/v2"

// Free is the set of free extents of a data area, in offset order:
// a treap keyed by offset whose nodes also hold the longest extent of their
// subtree, so that a first-fit search (the lowest free extent long enough)
// descends one path. Alloc and release are O(log F) for F free extents.
//
// It is derived state for the engines that use it: Open rebuilds it from
// the engine's table (every extent no volume or table covers is free), so
// it never needs to be on the device. Extents are kept aligned by the
// caller. Not safe for concurrent use (the engine's metadata lock).
type Free struct {
	root  *freeNode
	rng   *rand.Rand
	total int64 // free bytes
	count int   // free extents
}

type freeNode struct {
	off, end    int64
	prio        uint64
	maxLen      int64 // longest extent in this subtree
	left, right *freeNode
}

// NewFree returns an empty set whose treap priorities come from seed (the
// same seed and calls give the same tree: runs are reproducible).
func NewFree(seed uint64) *Free {
	return &Free{rng: rand.New(rand.NewPCG(seed, 0x66726565))}
}

// Bytes is the free space in bytes.
func (f *Free) Bytes() int64 { return f.total }

// Extents is the number of free extents.
func (f *Free) Extents() int { return f.count }

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func (n *freeNode) fix() {
	n.maxLen = n.end - n.off
	if n.left != nil && n.left.maxLen > n.maxLen {
		n.maxLen = n.left.maxLen
	}
	if n.right != nil && n.right.maxLen > n.maxLen {
		n.maxLen = n.right.maxLen
	}
}

// split divides t into the nodes with off < key and those with off >= key.
func split(t *freeNode, key int64) (*freeNode, *freeNode) {
	if t == nil {
		return nil, nil
	}
	if t.off < key {
		l, r := split(t.right, key)
		t.right = l
		t.fix()
		return t, r
	}
	l, r := split(t.left, key)
	t.left = r
	t.fix()
	return l, t
}

// merge joins a and b, every key of a below every key of b.
func merge(a, b *freeNode) *freeNode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = merge(a.right, b)
		a.fix()
		return a
	default:
		b.left = merge(a, b.left)
		b.fix()
		return b
	}
}

// popMax removes the last node of t.
func popMax(t *freeNode) (rest, last *freeNode) {
	if t.right == nil {
		return t.left, t
	}
	rest, last = popMax(t.right)
	t.right = rest
	t.fix()
	return t, last
}

// popMin removes the first node of t.
func popMin(t *freeNode) (rest, first *freeNode) {
	if t.left == nil {
		return t.right, t
	}
	rest, first = popMin(t.left)
	t.left = rest
	t.fix()
	return t, first
}

func lastNode(t *freeNode) *freeNode {
	for t.right != nil {
		t = t.right
	}
	return t
}

func firstNode(t *freeNode) *freeNode {
	for t.left != nil {
		t = t.left
	}
	return t
}

// Release marks [off, end) free, merging it with adjacent free extents. The
// range must not overlap a free extent.
func (f *Free) Release(off, end int64) {
	if end <= off {
		return
	}
	f.total += end - off
	f.count++
	l, r := split(f.root, off)
	if l != nil && lastNode(l).end == off {
		var p *freeNode
		l, p = popMax(l)
		off = p.off
		f.count--
	}
	if r != nil && firstNode(r).off == end {
		var p *freeNode
		r, p = popMin(r)
		end = p.end
		f.count--
	}
	n := &freeNode{off: off, end: end, prio: f.rng.Uint64()}
	n.fix()
	f.root = merge(merge(l, n), r)
}

// Alloc finds the lowest free extent of at least length bytes (first fit
// in offset order) and takes length rounded up to grain from its start, or
// the whole extent when it is shorter than that (the unaligned end of the
// area). It returns the offset.
func (f *Free) Alloc(length, grain int64) (int64, bool) {
	if f.root == nil || f.root.maxLen < length || length <= 0 {
		return 0, false
	}
	n := f.root
	for {
		switch {
		case n.left != nil && n.left.maxLen >= length:
			n = n.left
		case n.end-n.off >= length:
			off := n.off
			f.Take(off, min(off+roundUp(length, grain), n.end))
			return off, true
		default:
			n = n.right
		}
	}
}

// Take removes [off, end) from the free extent that contains it. It reports
// false (and changes nothing) when no single free extent contains it.
func (f *Free) Take(off, end int64) bool {
	l, r := split(f.root, off+1) // l holds the node with the greatest off <= off
	if l == nil {
		f.root = r
		return false
	}
	l, n := popMax(l)
	if n.off > off || n.end < end {
		f.root = merge(merge(l, n), r)
		return false
	}
	f.total -= end - off
	f.count--
	if n.off < off {
		a := &freeNode{off: n.off, end: off, prio: f.rng.Uint64()}
		a.fix()
		l = merge(l, a)
		f.count++
	}
	if end < n.end {
		b := &freeNode{off: end, end: n.end, prio: f.rng.Uint64()}
		b.fix()
		r = merge(b, r)
		f.count++
	}
	f.root = merge(l, r)
	return true
}

// Each calls fn for every free extent in offset order.
func (f *Free) Each(fn func(off, end int64)) {
	var walk func(n *freeNode)
	walk = func(n *freeNode) {
		if n == nil {
			return
		}
		walk(n.left)
		fn(n.off, n.end)
		walk(n.right)
	}
	walk(f.root)
}
