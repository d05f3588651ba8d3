package row

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/internal/meta"
)

// Check verifies the engine twice, with IO drained:
//
//   - the live state (what the next commit would write): every tree walked
//     from the volume table and the in-memory roots through the cache,
//     references counted per node block and data chunk and compared with
//     every space-map entry (quarantined entries must be unreferenced),
//     page free counts, used totals, reservations, the volume table against
//     the in-memory records, and Data + Metadata + Free == Capacity;
//   - the last commit as it is on the device, read around the cache: the
//     newest commit record, index pages, space-map pages, volume table and
//     every mapping tree, with the same reference count, leak and
//     double-ownership checks.
//
// Problems are reported together in one error wrapping ErrCorrupt; a device
// error is returned as such (wrapped with %w). Check does not commit, but
// cache pressure may write dirty nodes back early (harmless: see
// blockCache). O(metadata + device / chunk).
func (e *Engine) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	var c checker
	if err := e.checkLive(&c); err != nil {
		return err
	}
	if err := e.checkDisk(&c); err != nil {
		return err
	}
	return c.result()
}

type checker struct {
	problems []string
	n        int
}

func (c *checker) addf(format string, args ...any) {
	c.n++
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *checker) result() error {
	if c.n == 0 {
		return nil
	}
	more := ""
	if c.n > len(c.problems) {
		more = fmt.Sprintf("; and %d more", c.n-len(c.problems))
	}
	return fmt.Errorf("row: %w: %d problem(s): %s%s", strategies.ErrCorrupt, c.n, strings.Join(c.problems, "; "), more)
}

// refWalk walks trees counting references. read returns a node image that
// passed checkNode or checkNodeBody; a corrupt node is a problem, a device
// error stops the walk.
type refWalk struct {
	c      *checker
	what   string // "live" or "committed"
	read   func(addr uint64) ([]byte, error)
	lay    layout
	maxGen uint64
	meta   map[uint64]uint32 // node address -> references
	data   map[uint64]uint32 // chunk -> references
	seen   map[uint64]uint16 // node address -> tree<<8 | level
	nodes  [3]int            // nodes per tree kind
}

func newRefWalk(c *checker, what string, lay layout, maxGen uint64, read func(uint64) ([]byte, error)) *refWalk {
	return &refWalk{c: c, what: what, read: read, lay: lay, maxGen: maxGen,
		meta: map[uint64]uint32{}, data: map[uint64]uint32{}, seen: map[uint64]uint16{}}
}

// tree walks the tree at root; leaf is called for each leaf entry (key,
// value) of a first visit.
func (w *refWalk) tree(root uint64, tree uint8, name string, leaf func(key uint64, val []byte)) error {
	if root == 0 {
		return nil
	}
	return w.visit(root, tree, -1, 0, math.MaxUint64, true, false, name, leaf)
}

func (w *refWalk) visit(addr uint64, tree uint8, level int, lo, hi uint64, hiOpen, wantFirst bool, name string, leaf func(uint64, []byte)) error {
	if addr == 0 || addr > w.lay.metaBlocks {
		w.c.addf("%s %s: node address %d outside [1, %d]", w.what, name, addr, w.lay.metaBlocks)
		return nil
	}
	w.meta[addr]++
	kind := uint16(tree)<<8 | uint16(max(level, 0))
	if k, ok := w.seen[addr]; ok {
		if k>>8 != uint16(tree) || (level >= 0 && k != kind) {
			w.c.addf("%s %s: node %d reached as tree %d level %d and as %d/%d (doubly owned)", w.what, name, addr, tree, level, k>>8, k&0xff)
		}
		return nil
	}
	b, err := w.read(addr)
	if err != nil {
		if errors.Is(err, strategies.ErrCorrupt) {
			w.c.addf("%s %s: %v", w.what, name, err)
			return nil
		}
		return err
	}
	lvl := nLevel(b)
	if level < 0 {
		kind = uint16(tree)<<8 | uint16(lvl)
	}
	w.seen[addr] = kind
	w.nodes[tree&3]++
	if nTree(b) != tree || (level >= 0 && lvl != level) {
		w.c.addf("%s %s: node %d is tree %d level %d, expected tree %d level %d", w.what, name, addr, nTree(b), lvl, tree, level)
		return nil
	}
	if nGen(b) > w.maxGen {
		w.c.addf("%s %s: node %d has generation %d beyond %d", w.what, name, addr, nGen(b), w.maxGen)
	}
	n := nCount(b)
	if nKey(b, 0) < lo || (!hiOpen && nKey(b, n-1) >= hi) || (wantFirst && nKey(b, 0) != lo) {
		w.c.addf("%s %s: node %d keys [%d, %d] outside its parent's range [%d, %d)", w.what, name, addr, nKey(b, 0), nKey(b, n-1), lo, hi)
	}
	if lvl == 0 {
		g := geomOf(b)
		for i := 0; i < n; i++ {
			leaf(nKey(b, i), nVal(b, g, i))
		}
		return nil
	}
	type kc struct{ key, child uint64 }
	kids := make([]kc, n)
	for i := range kids {
		kids[i] = kc{nKey(b, i), nChild(b, i)}
	}
	for i, k := range kids {
		chi, open := hi, hiOpen
		if i+1 < n {
			chi, open = kids[i+1].key, false
		}
		if err := w.visit(k.child, tree, lvl-1, k.key, chi, open, true, name, leaf); err != nil {
			return err
		}
	}
	return nil
}

// mapLeaf counts a mapping leaf entry.
func (w *refWalk) mapLeaf(name string) func(uint64, []byte) {
	return func(key uint64, val []byte) {
		m := decodeMapping(val)
		if m.chunk >= w.lay.dataChunks {
			w.c.addf("%s %s: chunk %d maps to %d beyond the pool", w.what, name, key, m.chunk)
			return
		}
		if m.gen == 0 || m.gen > w.maxGen {
			w.c.addf("%s %s: chunk %d mapped at generation %d outside [1, %d]", w.what, name, key, m.gen, w.maxGen)
		}
		w.data[m.chunk]++
	}
}

// compare checks one space-map page's counts against the references found.
// quar reports quarantined entries (live state only). It returns the
// number of allocatable entries.
func (w *refWalk) compare(k int, first uint64, counts []byte, entries int, quar func(uint64) bool) uint32 {
	var free uint32
	for j := 0; j < entries; j++ {
		idx := first + uint64(j)
		rc := binary.LittleEndian.Uint32(counts[4*j:])
		var want uint32
		what := "chunk"
		if k == metaMap {
			want = w.meta[idx+1]
			what = "node block"
			idx++
		} else {
			want = w.data[idx]
		}
		q := quar != nil && quar(first+uint64(j))
		switch {
		case q && (rc != 0 || want != 0):
			w.c.addf("%s: %s %d freed this transaction but has count %d and %d references", w.what, what, idx, rc, want)
		case rc != want && want == 0:
			w.c.addf("%s: %s %d leaked: count %d, no references", w.what, what, idx, rc)
		case rc != want:
			w.c.addf("%s: %s %d has count %d but %d references", w.what, what, idx, rc, want)
		}
		if rc == 0 && !q {
			free++
		}
	}
	for j := entries; j < smPerPage; j++ {
		if binary.LittleEndian.Uint32(counts[4*j:]) != 0 {
			w.c.addf("%s: space-map page of map %d has a count past its last entry", w.what, k)
			break
		}
	}
	return free
}

func (e *Engine) checkLive(c *checker) error {
	scratch := device.Alloc(blockSize)
	w := newRefWalk(c, "live", e.lay, e.txn, func(addr uint64) ([]byte, error) {
		f, err := e.cache.get(addr)
		if err != nil {
			return nil, err
		}
		copy(scratch, f.buf)
		e.cache.put(f, false)
		if err := checkNodeBody(scratch, addr, e.txn); err != nil {
			return nil, err
		}
		return scratch, nil
	})
	// The volume table as last committed, against the in-memory records.
	inTable := map[uint64]volRecord{}
	var order []uint64
	err := w.tree(e.volRoot, treeVol, "volume table", func(key uint64, val []byte) {
		r, err := decodeVolRecord(val)
		if err != nil {
			c.addf("live volume table: volume %d: %v", key, err)
			return
		}
		inTable[key] = r
		order = append(order, key)
	})
	if err != nil {
		return err
	}
	removed := map[uint64]bool{}
	for _, id := range e.removed {
		removed[uint64(id)] = true
		if _, ok := inTable[uint64(id)]; !ok {
			c.addf("live: deleted volume %d is not in the volume table", id)
		}
	}
	names := map[string]bool{}
	for i, v := range e.vols {
		if i > 0 && e.vols[i-1].id >= v.id {
			c.addf("live: volumes out of id order")
		}
		if v.id == 0 || v.id >= e.nextID || names[v.name] || e.byID[v.id] != v || e.byName[v.name] != v {
			c.addf("live: volume %d %q: bad id, duplicate name or index", v.id, v.name)
		}
		names[v.name] = true
		r, ok := inTable[uint64(v.id)]
		switch {
		case v.isNew && ok:
			c.addf("live: new volume %d already in the volume table", v.id)
		case !v.isNew && !ok:
			c.addf("live: volume %d %q missing from the volume table", v.id, v.name)
		case ok && !v.recDirty && r != v.record():
			c.addf("live: volume %d: table record %+v differs from memory %+v", v.id, r, v.record())
		}
		if removed[uint64(v.id)] {
			c.addf("live: volume %d both live and deleted", v.id)
		}
		if err := e.checkRecord(v.record()); err != nil {
			c.addf("live: volume %d: %v", v.id, err)
		}
		if v.root != 0 {
			if err := w.tree(v.root, treeMap, fmt.Sprintf("volume %q", v.name), w.mapLeaf(fmt.Sprintf("volume %q", v.name))); err != nil {
				return err
			}
		}
	}
	if len(inTable) != len(order) {
		c.addf("live: duplicate ids in the volume table")
	}
	for _, id := range order {
		if e.byID[strategies.VolumeID(id)] == nil && !removed[id] {
			c.addf("live: volume table holds unknown volume %d", id)
		}
	}
	// Space map.
	s := e.sm
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range 2 {
		var used uint64
		for pi := uint64(0); pi < s.np[k]; pi++ {
			p := s.base[k] + pi
			f, err := e.cache.get(pageKeyBit | p)
			if err != nil {
				return err
			}
			copy(scratch, f.buf)
			e.cache.put(f, false)
			ent := s.entriesIn(p)
			free := w.compare(k, pi*smPerPage, scratch[pageHeader:], ent, func(idx uint64) bool {
				_, q := s.quar[k][idx]
				return q
			})
			if free != s.free[p] {
				c.addf("live: space-map page %d: %d allocatable entries, index says %d", p, free, s.free[p])
			}
			used += uint64(ent) - uint64(free)
		}
		if used != s.used[k] {
			c.addf("live: map %d: %d entries used, accounted %d", k, used, s.used[k])
		}
	}
	if s.reserved < 0 || s.reserved > int64(s.n[metaMap]-s.used[metaMap]) {
		c.addf("live: %d node blocks reserved, %d free", s.reserved, s.n[metaMap]-s.used[metaMap])
	}
	if w.nodes[treeVol] != s.vt.nodes || (s.vt.levels == 0) != (e.volRoot == 0) {
		c.addf("live: volume table has %d nodes, accounted %d (levels %d)", w.nodes[treeVol], s.vt.nodes, s.vt.levels)
	}
	sp := strategies.Space{Capacity: e.lay.area, Data: int64(s.used[dataMap]) * e.lay.chunk,
		Metadata: e.lay.fixedBytes() + int64(s.used[metaMap])*blockSize}
	if free := int64(s.n[dataMap]-s.used[dataMap])*e.lay.chunk + int64(s.n[metaMap]-s.used[metaMap])*blockSize; sp.Data+sp.Metadata+free != sp.Capacity || free < 0 {
		c.addf("live: space %+v with %d free does not add up", sp, free)
	}
	return nil
}

func (e *Engine) checkDisk(c *checker) error {
	slots := meta.NewDualSlot(e.dev, 0, e.lay.slotSize, e.lay.slotSize)
	raw, err := slots.Load()
	switch {
	case errors.Is(err, meta.ErrNoRecord):
		c.addf("committed: no valid commit record")
		return nil
	case err != nil:
		return fmt.Errorf("row: check: %w", err)
	}
	rec, err := decodeCommitRecord(raw)
	if err != nil {
		c.addf("committed: %v", err)
		return nil
	}
	if !rec.sameGeometry(e.lay) {
		c.addf("committed: geometry %+v differs from %+v", rec.lay, e.lay)
		return nil
	}
	if rec.txn+1 != e.txn || rec.nextID > uint64(e.nextID) || rec.expired > uint64(e.expired) {
		c.addf("committed: record txn %d next id %d expired %d, engine at txn %d next id %d expired %d",
			rec.txn, rec.nextID, rec.expired, e.txn, e.nextID, e.expired)
	}
	buf := device.Alloc(blockSize)
	w := newRefWalk(c, "committed", e.lay, rec.txn, func(addr uint64) ([]byte, error) {
		if _, err := e.dev.ReadAt(buf, e.lay.nodeOff(addr)); err != nil {
			return nil, fmt.Errorf("row: check: read node %d: %w", addr, err)
		}
		if err := checkNode(buf, addr, rec.txn); err != nil {
			return nil, err
		}
		return buf, nil
	})
	type idRec struct {
		id uint64
		r  volRecord
	}
	var recs []idRec
	err = w.tree(rec.volRoot, treeVol, "volume table", func(key uint64, val []byte) {
		r, err := decodeVolRecord(val)
		if err != nil {
			c.addf("committed volume table: volume %d: %v", key, err)
			return
		}
		recs = append(recs, idRec{key, r})
	})
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, x := range recs {
		r := x.r
		if x.id == 0 || x.id >= rec.nextID || names[r.name] || r.size%e.lay.chunk != 0 || r.snapGen > rec.txn || uint64(r.parent) >= rec.nextID {
			c.addf("committed: volume %d %+v invalid (next id %d, txn %d)", x.id, r, rec.nextID, rec.txn)
		}
		names[r.name] = true
		if !e.dirty.Load() {
			if v := e.byID[strategies.VolumeID(x.id)]; v == nil || v.record() != r {
				c.addf("committed: volume %d record %+v differs from memory with nothing uncommitted", x.id, r)
			}
		}
		if r.root != 0 {
			name := fmt.Sprintf("volume %q", r.name)
			if err := w.tree(r.root, treeMap, name, w.mapLeaf(name)); err != nil {
				return err
			}
		}
	}
	if !e.dirty.Load() && (len(recs) != len(e.vols) || rec.volRoot != e.volRoot || rec.nextID != uint64(e.nextID)) {
		c.addf("committed: %d volumes, root %d, next id %d; memory with nothing uncommitted: %d, %d, %d",
			len(recs), rec.volRoot, rec.nextID, len(e.vols), e.volRoot, e.nextID)
	}
	// Index and space-map pages.
	s := e.sm
	pages := e.lay.pages()
	states := make([]uint32, pages)
	frees := make([]uint32, pages)
	for i := uint64(0); i < e.lay.idxPages; i++ {
		if _, err := e.dev.ReadAt(buf, e.lay.idxOffOf(i, idxBit(rec.idxBits, i))); err != nil {
			return fmt.Errorf("row: check: read index page %d: %w", i, err)
		}
		if err := decodeIdxPage(buf, i, rec.txn, pages, s.entriesIn, func(p uint64, st, free uint32) {
			states[p], frees[p] = st, free
		}); err != nil {
			c.addf("committed: %v", err)
			return nil
		}
	}
	zero := make([]byte, blockSize)
	for k := range 2 {
		for pi := uint64(0); pi < s.np[k]; pi++ {
			p := s.base[k] + pi
			counts := zero[pageHeader:]
			if states[p]&stMat != 0 {
				if _, err := e.dev.ReadAt(buf, e.lay.pageOff(p, int(states[p]&stCur))); err != nil {
					return fmt.Errorf("row: check: read space-map page %d: %w", p, err)
				}
				if err := checkSMPage(buf, p, rec.txn, s.entriesIn(p)); err != nil {
					c.addf("committed: %v", err)
					continue
				}
				counts = buf[pageHeader:]
			}
			if free := w.compare(k, pi*smPerPage, counts, s.entriesIn(p), nil); free != frees[p] {
				c.addf("committed: space-map page %d: %d free entries, index says %d", p, free, frees[p])
			}
		}
	}
	if !slices.Equal(rec.idxBits, e.idxBits()) {
		c.addf("committed: index copies %x, engine %x", rec.idxBits, e.idxBits())
	}
	return nil
}
