package row

import (
	"encoding/binary"
	"fmt"

	"github.com/snapbench/snapbench/strategies"
)

// The B-trees follow Rodeh, "B-trees, shadowing, and clones" (ACM TOS
// 2008): nodes are never changed in place once committed; a change shadows
// (copies) every node on its path, top-down, and splits full nodes on the
// way down so that an insert never propagates upwards. Reference counts are
// lazy: sharing a tree costs one increment of its root; when a shared node
// is shadowed, its children gain a reference from the copy and the original
// loses one. A node written in the open transaction (generation == txn) is
// private to its tree and is changed in place.

// node returns the pinned frame of node addr, which must belong to tree.
func (e *Engine) node(addr uint64, tree uint8) (*frame, error) {
	if addr == 0 || addr > e.lay.metaBlocks {
		return nil, fmt.Errorf("row: %w: node address %d outside [1, %d]", strategies.ErrCorrupt, addr, e.lay.metaBlocks)
	}
	f, err := e.cache.get(addr)
	if err != nil {
		return nil, err
	}
	if t := nTree(f.buf); t != tree {
		e.cache.put(f, false)
		return nil, fmt.Errorf("row: %w: node %d belongs to tree kind %d, reached from kind %d", strategies.ErrCorrupt, addr, t, tree)
	}
	return f, nil
}

// lookup finds key in the mapping tree at root. levels is the height of the
// tree (0 when empty), which bounds the nodes a change may need.
func (e *Engine) lookup(root, key uint64) (m mapping, found bool, levels int, err error) {
	addr, want := root, -1
	for addr != 0 {
		f, err := e.node(addr, treeMap)
		if err != nil {
			return mapping{}, false, 0, err
		}
		b := f.buf
		lvl := nLevel(b)
		if want >= 0 && lvl != want {
			e.cache.put(f, false)
			return mapping{}, false, 0, fmt.Errorf("row: %w: node %d at level %d, expected %d", strategies.ErrCorrupt, addr, lvl, want)
		}
		if levels == 0 {
			levels = lvl + 1
		}
		if lvl == 0 {
			i, ok := search(b, key)
			if ok {
				m = decodeMapping(nVal(b, geoms[treeMap][0], i))
			}
			e.cache.put(f, false)
			if ok && m.chunk >= e.lay.dataChunks {
				return mapping{}, false, 0, fmt.Errorf("row: %w: node %d maps to chunk %d beyond the pool", strategies.ErrCorrupt, addr, m.chunk)
			}
			return m, ok, levels, nil
		}
		addr, want = nChild(b, childIndex(b, key)), lvl-1
		e.cache.put(f, false)
	}
	return mapping{}, false, 0, nil
}

// treeOp changes one tree under a reservation.
type treeOp struct {
	e    *Engine
	tree uint8
	r    *resv
}

// newNode allocates and pins an empty node at level.
func (o *treeOp) newNode(level int) (*frame, error) {
	a, err := o.e.sm.allocNode(o.r)
	if err != nil {
		return nil, err
	}
	f, err := o.e.cache.create(a)
	if err != nil {
		return nil, err
	}
	initNode(f.buf, a, o.e.txn, o.tree, level)
	return f, nil
}

// release drops one reference to node addr, which is no longer reachable
// from where it was referenced.
func (o *treeOp) release(addr uint64) (uint32, error) {
	rc, err := o.e.sm.adjust(metaMap, []uint64{addr - 1}, -1)
	if err == nil && rc == 0 {
		o.e.cache.forget(addr)
		if o.r != nil {
			o.r.freed++
		}
	}
	return rc, err
}

// shadow returns a pinned, writable copy of node addr for a path the caller
// owns: the node itself if this transaction wrote it, else a new copy.
func (o *treeOp) shadow(addr uint64) (*frame, error) {
	e := o.e
	f, err := e.node(addr, o.tree)
	if err != nil {
		return nil, err
	}
	if nGen(f.buf) == e.txn {
		return f, nil
	}
	nf, err := o.newNode(0)
	if err != nil {
		e.cache.put(f, false)
		return nil, err
	}
	copy(nf.buf, f.buf)
	relabel(nf.buf, nf.key, e.txn)
	e.st.nodesShadowed.Add(1)
	rc, err := o.release(addr)
	if err == nil && rc > 0 {
		// Still shared: the copy adds a reference to every child.
		err = o.incChildren(f.buf)
	}
	e.cache.put(f, false)
	if err == nil && rc == 0 {
		// Freed (release could not drop the frame: it was pinned here), so
		// the frame holds a dead block: give it back to the cache now
		// rather than let it take a frame until CLOCK finds it.
		e.cache.forget(addr)
	}
	if err != nil {
		e.cache.put(nf, true)
		return nil, err
	}
	return nf, nil
}

// incChildren adds a reference to everything node b points to.
func (o *treeOp) incChildren(b []byte) error {
	n := nCount(b)
	var buf [254]uint64
	ids := buf[:0]
	switch {
	case nLevel(b) > 0:
		for i := 0; i < n; i++ {
			ids = append(ids, nChild(b, i)-1)
		}
		_, err := o.e.sm.adjust(metaMap, ids, 1)
		return err
	case nTree(b) == treeMap:
		g := geoms[treeMap][0]
		for i := 0; i < n; i++ {
			ids = append(ids, binary.LittleEndian.Uint64(nVal(b, g, i)))
		}
		_, err := o.e.sm.adjust(dataMap, ids, 1)
		return err
	}
	return nil // volume-table leaves are never shared
}

func full(b []byte) bool { return nCount(b) >= geomOf(b).max }

// set maps key to val in the tree at *root, shadowing the path. With insert
// the key may be new and full nodes are split on the way down; without it
// the key must exist (an update never splits).
func (o *treeOp) set(root *uint64, key uint64, val []byte, insert bool) error {
	if *root == 0 {
		f, err := o.newNode(0)
		if err != nil {
			return err
		}
		insertAt(f.buf, 0, key, val)
		*root = f.key
		o.e.cache.put(f, true)
		return nil
	}
	f, err := o.shadow(*root)
	if err != nil {
		return err
	}
	*root = f.key
	if insert && full(f.buf) {
		nr, err := o.newNode(nLevel(f.buf) + 1)
		if err != nil {
			o.e.cache.put(f, true)
			return err
		}
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], f.key)
		insertAt(nr.buf, 0, nKey(f.buf, 0), v[:])
		*root = nr.key
		if f, err = o.split(nr, 0, f, key); err != nil {
			o.e.cache.put(nr, true)
			return err
		}
		o.e.cache.put(nr, true)
	}
	for nLevel(f.buf) > 0 {
		i := childIndex(f.buf, key)
		if i == 0 && key < nKey(f.buf, 0) {
			setKey(f.buf, 0, key)
		}
		c, err := o.shadow(nChild(f.buf, i))
		if err != nil {
			o.e.cache.put(f, true)
			return err
		}
		if nLevel(c.buf) != nLevel(f.buf)-1 {
			err = fmt.Errorf("row: %w: node %d at level %d under a node at level %d", strategies.ErrCorrupt, c.key, nLevel(c.buf), nLevel(f.buf))
			o.e.cache.put(c, true)
			o.e.cache.put(f, true)
			return err
		}
		setChild(f.buf, i, c.key)
		if insert && full(c.buf) {
			if c, err = o.split(f, i, c, key); err != nil {
				o.e.cache.put(f, true)
				return err
			}
		}
		o.e.cache.put(f, true)
		f = c
	}
	i, found := search(f.buf, key)
	switch {
	case found:
		copy(nVal(f.buf, geomOf(f.buf), i), val)
	case !full(f.buf):
		insertAt(f.buf, i, key, val)
	default:
		o.e.cache.put(f, true)
		return fmt.Errorf("row: %w: key %d missing from a full leaf", strategies.ErrCorrupt, key)
	}
	o.e.cache.put(f, true)
	return nil
}

// split moves the upper part of the full child c (entry i of parent p) to
// a new sibling and returns whichever of the two now covers key, pinned;
// the other is unpinned. A key beyond the child's last key (sequential
// fill) leaves the child full and starts the sibling nearly empty.
func (o *treeOp) split(p *frame, i int, c *frame, key uint64) (*frame, error) {
	s, err := o.newNode(nLevel(c.buf))
	if err != nil {
		o.e.cache.put(c, true)
		return nil, err
	}
	n := nCount(c.buf)
	at := n / 2
	if key > nKey(c.buf, n-1) {
		at = n - 1
	}
	moveTail(s.buf, c.buf, at)
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], s.key)
	insertAt(p.buf, i+1, nKey(s.buf, 0), v[:])
	if key >= nKey(s.buf, 0) {
		o.e.cache.put(c, true)
		return s, nil
	}
	o.e.cache.put(s, true)
	return c, nil
}

// del removes key from the tree at *root (the volume table), shadowing the
// path, dropping nodes that become empty and collapsing a root with one
// child. Underfull nodes are not merged: the volume table is small.
func (o *treeOp) del(root *uint64, key uint64) error {
	if *root == 0 {
		return fmt.Errorf("row: %w: key %d not in an empty tree", strategies.ErrCorrupt, key)
	}
	na, empty, err := o.delRec(*root, key)
	if err != nil {
		return err
	}
	*root = na
	if empty {
		*root = 0
	}
	for *root != 0 {
		f, err := o.e.node(*root, o.tree)
		if err != nil {
			return err
		}
		if nLevel(f.buf) == 0 || nCount(f.buf) > 1 {
			o.e.cache.put(f, false)
			return nil
		}
		child := nChild(f.buf, 0)
		o.e.cache.put(f, false)
		if _, err := o.release(*root); err != nil {
			return err
		}
		*root = child
	}
	return nil
}

func (o *treeOp) delRec(addr, key uint64) (uint64, bool, error) {
	f, err := o.shadow(addr)
	if err != nil {
		return 0, false, err
	}
	b := f.buf
	if nLevel(b) == 0 {
		i, found := search(b, key)
		if !found {
			o.e.cache.put(f, true)
			return 0, false, fmt.Errorf("row: %w: key %d not found", strategies.ErrCorrupt, key)
		}
		removeAt(b, i)
	} else {
		i := childIndex(b, key)
		ca, cempty, err := o.delRec(nChild(b, i), key)
		if err != nil {
			o.e.cache.put(f, true)
			return 0, false, err
		}
		if cempty {
			removeAt(b, i)
		} else {
			setChild(b, i, ca)
			cf, err := o.e.node(ca, o.tree)
			if err != nil {
				o.e.cache.put(f, true)
				return 0, false, err
			}
			setKey(b, i, nKey(cf.buf, 0))
			o.e.cache.put(cf, false)
		}
	}
	a := f.key
	if nCount(b) == 0 {
		o.e.cache.put(f, true)
		_, err := o.release(a)
		return 0, true, err
	}
	o.e.cache.put(f, true)
	return a, false, nil
}

// drop releases a volume's reference to the tree at addr: when the count
// reaches zero the node is freed and its children released in turn, down
// to the data chunks. Shared subtrees stop the descent: deleting a volume
// costs O(what it alone owns).
func (e *Engine) drop(addr uint64) error {
	rc, err := e.sm.adjust(metaMap, []uint64{addr - 1}, -1)
	if err != nil || rc > 0 {
		return err
	}
	f, err := e.node(addr, treeMap)
	if err != nil {
		return err
	}
	b := f.buf
	n := nCount(b)
	if nLevel(b) == 0 {
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = binary.LittleEndian.Uint64(nVal(b, geoms[treeMap][0], i))
		}
		e.cache.put(f, false)
		e.cache.forget(addr)
		_, err := e.sm.adjust(dataMap, ids, -1)
		return err
	}
	children := make([]uint64, n)
	for i := range children {
		children[i] = nChild(b, i)
	}
	e.cache.put(f, false)
	e.cache.forget(addr)
	for _, c := range children {
		if err := e.drop(c); err != nil {
			return err
		}
	}
	return nil
}

// walkVolTable visits every volume record in id order and returns the
// table's height and node count.
func (e *Engine) walkVolTable(root uint64, fn func(id uint64, r volRecord) error) (levels, nodes int, err error) {
	var walk func(addr uint64, want int) error
	walk = func(addr uint64, want int) error {
		f, err := e.node(addr, treeVol)
		if err != nil {
			return err
		}
		b := f.buf
		lvl := nLevel(b)
		if want >= 0 && lvl != want {
			e.cache.put(f, false)
			return fmt.Errorf("%w: volume-table node %d at level %d, expected %d", strategies.ErrCorrupt, addr, lvl, want)
		}
		if levels == 0 {
			levels = lvl + 1
		}
		nodes++
		n := nCount(b)
		if lvl == 0 {
			type kv struct {
				id uint64
				r  volRecord
			}
			recs := make([]kv, 0, n)
			for i := 0; i < n; i++ {
				r, err := decodeVolRecord(nVal(b, geoms[treeVol][0], i))
				if err != nil {
					e.cache.put(f, false)
					return err
				}
				recs = append(recs, kv{nKey(b, i), r})
			}
			e.cache.put(f, false)
			for _, x := range recs {
				if err := fn(x.id, x.r); err != nil {
					return err
				}
			}
			return nil
		}
		children := make([]uint64, n)
		for i := range children {
			children[i] = nChild(b, i)
		}
		e.cache.put(f, false)
		for _, c := range children {
			if err := walk(c, lvl-1); err != nil {
				return err
			}
		}
		return nil
	}
	if root == 0 {
		return 0, 0, nil
	}
	err = walk(root, -1)
	return levels, nodes, err
}
