package row

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/strategies"
)

// Create makes an empty, thin base volume: a record with no tree, committed.
// O(1) in the size; durable on return.
func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName("row", name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize("row", size, int(e.lay.chunk)); err != nil {
		return 0, err
	}
	if size > maxVolumeSize {
		return 0, fmt.Errorf("row: volume size %d: %w: at most %d", size, strategies.ErrInvalidArgument, int64(maxVolumeSize))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	if e.byName[name] != nil {
		return 0, fmt.Errorf("row: create %q: %w", name, strategies.ErrExists)
	}
	if err := e.withRoomLocked(func() error { return e.sm.vtGrow(0, 1, false) }); err != nil {
		return 0, fmt.Errorf("row: create %q: %w", name, err)
	}
	v := &volState{id: e.nextID, name: name, kind: strategies.KindBase, size: size, isNew: true}
	e.addLocked(v)
	if err := e.commitLocked(); err != nil {
		return 0, err
	}
	return v.id, nil
}

// Snapshot makes a read-only point-in-time copy of src: one new record
// sharing src's root (one reference count increment), committed with every
// acknowledged write of src. O(1) in the volume size.
func (e *Engine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.copies(src, []string{name}, strategies.KindSnapshot)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// Clone makes a writable point-in-time copy of src, like Snapshot.
func (e *Engine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.copies(src, []string{name}, strategies.KindClone)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// CloneMany makes a burst of clones of src with a single commit: one
// reference count increment of src's root by len(names) and one volume-table
// update. O(len(names)) in memory and in volume-table records; no data or
// mapping node is read or written. On error no clone is created.
func (e *Engine) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ids, err := e.copies(src, names, strategies.KindClone)
	if err != nil {
		return []strategies.VolumeID{}, err
	}
	return ids, nil
}

func (e *Engine) copies(src strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := strategies.ValidateName("row", n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("row: %s %q: %w (twice in one burst)", kind, n, strategies.ErrExists)
		}
		seen[n] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return nil, err
	}
	s := e.byID[src]
	if s == nil {
		return nil, fmt.Errorf("row: %s of volume %d: %w", kind, src, strategies.ErrNotFound)
	}
	for _, n := range names {
		if e.byName[n] != nil {
			return nil, fmt.Errorf("row: %s %q: %w", kind, n, strategies.ErrExists)
		}
	}
	err := e.withRoomLocked(func() error {
		dirty := 0
		if !s.recDirty && !s.isNew {
			dirty = 1
		}
		if err := e.sm.vtGrow(dirty, len(names), false); err != nil {
			return err
		}
		e.markRec(s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("row: %s of %q: %w", kind, s.name, err)
	}
	if e.byID[src] != s {
		// Expiry made room by deleting the source itself.
		return nil, fmt.Errorf("row: %s of volume %d: %w (expired to make room)", kind, src, strategies.ErrNotFound)
	}
	if s.root != 0 {
		if _, err := e.sm.adjust(metaMap, []uint64{s.root - 1}, int64(len(names))); err != nil {
			if errors.Is(err, strategies.ErrNoSpace) {
				return nil, fmt.Errorf("row: %s of %q: %w", kind, s.name, err)
			}
			return nil, e.fail(err)
		}
	}
	s.snapGen = e.txn
	ids := make([]strategies.VolumeID, len(names))
	for i, n := range names {
		v := &volState{id: e.nextID, name: n, kind: kind, parent: s.id, size: s.size, root: s.root, snapGen: e.txn, isNew: true}
		e.addLocked(v)
		ids[i] = v.id
	}
	if err := e.commitLocked(); err != nil {
		return nil, err
	}
	return ids, nil
}

// addLocked adds a new volume to the in-memory table.
func (e *Engine) addLocked(v *volState) {
	e.nextID++
	e.vols = append(e.vols, v)
	e.byID[v.id] = v
	e.byName[v.name] = v
	e.recMu.Lock()
	e.recList = append(e.recList, v)
	e.recMu.Unlock()
	e.dirty.Store(true)
}

// markRec marks v's record for the next commit (recDirty), listing it once.
// The caller holds what guards v.recDirty (v.mu or Engine.mu exclusively).
func (e *Engine) markRec(v *volState) {
	if !v.recDirty && !v.isNew {
		e.recMu.Lock()
		e.recList = append(e.recList, v)
		e.recMu.Unlock()
	}
	v.recDirty = true
}

// Delete removes a volume and releases its tree: only what no other volume
// shares is freed. Descendants are untouched (they hold their own
// references). Durable on return. O(nodes and chunks the volume alone
// owns).
func (e *Engine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	v := e.byID[id]
	if v == nil {
		return fmt.Errorf("row: delete volume %d: %w", id, strategies.ErrNotFound)
	}
	if v.open.Load() > 0 {
		return fmt.Errorf("row: delete %q: %w", v.name, strategies.ErrBusy)
	}
	return e.deleteLocked(v)
}

// DeleteMany deletes a batch of volumes with one commit (refreshing a bush
// of clones). Every id is checked first (exists, not open, not twice);
// on error nothing is deleted. Durable on return. O(what the volumes alone
// own + len(ids) log volumes), one volume-table rewrite.
func (e *Engine) DeleteMany(ids []strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	vs := make([]*volState, 0, len(ids))
	seen := make(map[strategies.VolumeID]bool, len(ids))
	old := 0
	for _, id := range ids {
		v := e.byID[id]
		switch {
		case v == nil:
			return fmt.Errorf("row: delete volume %d: %w", id, strategies.ErrNotFound)
		case seen[id]:
			return fmt.Errorf("row: delete volume %d: %w: listed twice", id, strategies.ErrInvalidArgument)
		case v.open.Load() > 0:
			return fmt.Errorf("row: delete %q: %w", v.name, strategies.ErrBusy)
		}
		seen[id] = true
		vs = append(vs, v)
		if !v.isNew {
			old++
		}
	}
	if len(vs) == 0 {
		return nil
	}
	if err := e.sm.vtGrow(old, 0, true); err != nil {
		return fmt.Errorf("row: delete %d volumes: %w", len(vs), err)
	}
	e.dirty.Store(true)
	for _, v := range vs {
		if !v.isNew {
			e.removed = append(e.removed, v.id)
		}
		if v.root != 0 {
			if err := e.drop(v.root); err != nil {
				return e.fail(fmt.Errorf("row: delete %q: %w", v.name, err))
			}
		}
		delete(e.byID, v.id)
		delete(e.byName, v.name)
	}
	e.vols = slices.DeleteFunc(e.vols, func(v *volState) bool { return seen[v.id] })
	return e.commitLocked()
}

func (e *Engine) deleteLocked(v *volState) error {
	if !v.isNew {
		if err := e.sm.vtGrow(1, 0, true); err != nil {
			return fmt.Errorf("row: delete %q: %w", v.name, err)
		}
		e.removed = append(e.removed, v.id)
	}
	e.dirty.Store(true)
	if v.root != 0 {
		if err := e.drop(v.root); err != nil {
			return e.fail(fmt.Errorf("row: delete %q: %w", v.name, err))
		}
	}
	if i, ok := slices.BinarySearchFunc(e.vols, v.id, func(x *volState, id strategies.VolumeID) int { return cmp.Compare(x.id, id) }); ok {
		e.vols = slices.Delete(e.vols, i, i+1)
	}
	delete(e.byID, v.id)
	delete(e.byName, v.name)
	return e.commitLocked()
}

// withRoomLocked runs fn, and when it fails with ErrNoSpace makes room (a
// commit releases what this transaction freed; with expire-snapshots-on-full
// the oldest snapshot goes) and runs it again.
func (e *Engine) withRoomLocked(fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, strategies.ErrNoSpace) {
			return err
		}
		ok, rerr := e.makeRoomLocked()
		if rerr != nil {
			return rerr
		}
		if !ok {
			return err
		}
	}
}

// makeRoom is withRoomLocked's second half for IO paths, which hold mu
// shared and must release it first. It reports whether anything changed.
func (e *Engine) makeRoom() (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return false, err
	}
	return e.makeRoomLocked()
}

func (e *Engine) makeRoomLocked() (bool, error) {
	if e.dirty.Load() && (e.sm.quarantined() > 0 || e.sm.reservedBlocks() > 0) {
		if err := e.commitLocked(); err != nil {
			return false, err
		}
		return true, nil
	}
	if !e.expire {
		return false, nil
	}
	return e.expireOldestLocked()
}

// expireOldestLocked deletes the oldest read-only snapshot that is not
// open: the "snapshots are expendable, clones are not" policy.
func (e *Engine) expireOldestLocked() (bool, error) {
	for _, v := range e.vols {
		if v.kind != strategies.KindSnapshot || v.open.Load() > 0 {
			continue
		}
		e.expired++
		if err := e.deleteLocked(v); err != nil {
			return false, err
		}
		e.st.expired.Add(1)
		return true, nil
	}
	return false, nil
}

// Open returns a handle for IO on volume id.
func (e *Engine) Open(id strategies.VolumeID) (strategies.Volume, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if err := e.usable(); err != nil {
		return nil, err
	}
	v := e.byID[id]
	if v == nil {
		return nil, fmt.Errorf("row: open volume %d: %w", id, strategies.ErrNotFound)
	}
	v.open.Add(1)
	return newHandle(e, v), nil
}

// Volumes lists the volumes by id. PrivateBytes is exact: it walks the
// nodes and chunks each volume alone references (O(its private
// metadata)).
func (e *Engine) Volumes() []strategies.VolumeInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]strategies.VolumeInfo, 0, len(e.vols))
	for _, v := range e.vols {
		parent := v.parent
		if e.byID[parent] == nil {
			parent = strategies.NoVolume
		}
		out = append(out, strategies.VolumeInfo{ID: v.id, Name: v.name, Parent: parent, Kind: v.kind, Size: v.size,
			ReadOnly: v.kind == strategies.KindSnapshot, Valid: true, PrivateBytes: e.privateBytes(v)})
	}
	return out
}

// privateBytes is what deleting v alone would free. Best effort: a device
// error or a corrupt node yields what was counted so far. Each node is
// visited once, and only one level below its parent, so even a corrupt tree
// (children repeated, cycles, all counts 1) costs O(node blocks) steps at a
// recursion depth of at most maxLevels.
func (e *Engine) privateBytes(v *volState) int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.root == 0 {
		return 0
	}
	if rc, err := e.sm.get(metaMap, v.root-1); err != nil || rc != 1 {
		return 0
	}
	var total int64
	seen := map[uint64]bool{}
	var walk func(addr uint64, want int)
	walk = func(addr uint64, want int) {
		if seen[addr] {
			return
		}
		seen[addr] = true
		f, err := e.node(addr, treeMap)
		if err != nil {
			return
		}
		b := f.buf
		lvl := nLevel(b)
		if want >= 0 && lvl != want {
			e.cache.put(f, false)
			return
		}
		total += blockSize
		n := nCount(b)
		ids := make([]uint64, n)
		k := metaMap
		if lvl == 0 {
			k = dataMap
			for i := range ids {
				ids[i] = decodeMapping(nVal(b, geoms[treeMap][0], i)).chunk
			}
		} else {
			for i := range ids {
				ids[i] = nChild(b, i) - 1
			}
		}
		e.cache.put(f, false)
		rcs := make([]uint32, n)
		if e.sm.getMany(k, ids, rcs) != nil {
			return
		}
		for i, rc := range rcs {
			if rc != 1 {
				continue
			}
			if k == dataMap {
				total += e.lay.chunk
			} else {
				walk(ids[i]+1, lvl-1)
			}
		}
	}
	walk(v.root, -1)
	return total
}

// Space reports the pool: Data is chunks in use (referenced, or freed by
// the open transaction), Metadata the node blocks in use plus the fixed
// areas (record slots, index and space-map pages, alignment), Free the
// rest, node blocks included.
func (e *Engine) Space() strategies.Space {
	data, nodes := e.sm.usedCounts()
	s := strategies.Space{Capacity: e.lay.area, Data: int64(data) * e.lay.chunk,
		Metadata: e.lay.fixedBytes() + int64(nodes)*blockSize}
	s.Free = s.Capacity - s.Data - s.Metadata
	s.Expired = e.expiredCount()
	return s
}

func (e *Engine) expiredCount() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.expired
}

// Flush commits the open transaction (or, with no metadata change, flushes
// the device): every acknowledged write of every volume is durable on
// return.
func (e *Engine) Flush() error {
	if err := e.usable(); err != nil {
		return err
	}
	if !e.dirty.Load() {
		if err := e.dev.Flush(); err != nil {
			return fmt.Errorf("row: flush: %w", err)
		}
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.commitLocked()
}

var _ strategies.BatchDeleter = (*Engine)(nil)
