package linked

import (
	"fmt"

	"github.com/snapbench/snapbench/strategies"
)

// Create makes an empty base volume: one empty delta with no parent (its
// grain tables are allocated as it is written). Cost: one catalog commit,
// O(1) IO whatever the size.
func (e *Engine) Create(name string, size int64) (strategies.VolumeID, error) {
	if err := strategies.ValidateName("linked", name); err != nil {
		return 0, err
	}
	if err := strategies.ValidateSize("linked", size, e.geo.chunk); err != nil {
		return 0, err
	}
	n := size >> e.geo.shift
	if n > int64(maxGrain) {
		return 0, fmt.Errorf("linked: volume of %d bytes: %w: at most %d grains", size, strategies.ErrInvalidArgument, maxGrain)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	if e.names[name] != nil {
		return 0, fmt.Errorf("linked: create %q: %w", name, strategies.ErrExists)
	}
	if err := e.roomFor(1); err != nil {
		return 0, err
	}
	d := e.prepareDelta(uint32(n))
	v := e.addVolume(name, strategies.KindBase, roleUser, size, d, 0)
	if err := e.commitRoot(); err != nil {
		return 0, err
	}
	return v.id, nil
}

// addVolume registers a new volume owning d (registering d too).
func (e *Engine) addVolume(name string, kind strategies.Kind, role uint8, size int64, d *delta, parent strategies.VolumeID) *volume {
	v := &volume{id: e.nextVol, name: name, kind: kind, role: role, size: size, d: d, parentVol: parent,
		readOnly: kind == strategies.KindSnapshot || kind == strategies.KindInternal}
	e.nextVol++
	if role != roleUser {
		v.name = internalName(role, v.id)
	}
	e.vols[v.id] = v
	e.names[v.name] = v
	e.registerDelta(d, v)
	return v
}

func (e *Engine) registerDelta(d *delta, owner *volume) {
	d.owner = owner
	e.touch(owner)
	e.deltas[d.id] = d
	e.stats.noteDepth(d.depth())
}

// source returns the user volume src for a snapshot or clone.
func (e *Engine) source(src strategies.VolumeID, name string) (*volume, error) {
	s := e.vols[src]
	if s == nil {
		return nil, fmt.Errorf("linked: volume %d: %w", src, strategies.ErrNotFound)
	}
	if s.role != roleUser {
		return nil, fmt.Errorf("linked: %s: %w: internal volume", s.name, strategies.ErrInvalidArgument)
	}
	if e.names[name] != nil {
		return nil, fmt.Errorf("linked: %q: %w", name, strategies.ErrExists)
	}
	return s, nil
}

// Snapshot freezes src's current delta as the snapshot and stacks a new,
// empty delta on top of it for src's future writes (a redo log). The
// source's pending mappings are committed first, so the snapshot is exactly
// its content. Cost: two or three flushes, one catalog commit, O(1) in the
// volume size; IO on src waits meanwhile. A snapshot of a read-only
// volume is an empty frozen delta on top of it.
func (e *Engine) Snapshot(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	if err := strategies.ValidateName("linked", name); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return 0, err
	}
	s, err := e.source(src, name)
	if err != nil {
		return 0, err
	}
	n := s.d.nGrains
	if err := e.roomFor(1); err != nil {
		return 0, err
	}
	if !s.readOnly {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	nd := e.prepareDelta(n)
	if _, err := e.commitDeltas(true, s.d); err != nil {
		e.discardDelta(nd)
		return 0, fmt.Errorf("linked: snapshot: %w", err)
	}
	e.touch(s)
	var snap *volume
	if s.readOnly {
		nd.frozen, nd.parent = true, s.d
		s.d.children++
		snap = e.addVolume(name, strategies.KindSnapshot, roleUser, s.size, nd, s.id)
	} else {
		top := s.d
		top.frozen = true
		nd.parent = top
		top.children++
		s.d = nd
		snap = e.addVolume(name, strategies.KindSnapshot, roleUser, s.size, top, s.id)
		e.registerDelta(nd, s)
	}
	if err := e.commitRoot(); err != nil {
		return 0, err
	}
	return snap.id, nil
}

// Clone makes one writable clone of src (see CloneMany).
func (e *Engine) Clone(src strategies.VolumeID, name string) (strategies.VolumeID, error) {
	ids, err := e.CloneMany(src, []string{name})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// CloneMany makes a burst of writable clones of src, each a new empty
// delta, committed together in one catalog commit.
//
//   - Of a base (with the replica option, the default): the clones' parent
//     is the base's replica, a read-only full copy made on the first clone
//     and reused while the base is not written; after a write the next
//     clone makes a new replica (a recompose), and the old one lives on
//     for its clones. Making a replica copies every mapped grain of the
//     base: O(base data); it is counted and timed in Stats.
//   - Of a snapshot: the clones' parent is the snapshot's delta.
//   - Of a writable clone (or of a base without replicas): src's current
//     delta is frozen as a retained internal layer shared by src's new top
//     delta and the clones (a qcow2 backing file).
//
// The clones are durable together when it returns. All or nothing: on error
// no clone exists.
func (e *Engine) CloneMany(src strategies.VolumeID, names []string) ([]strategies.VolumeID, error) {
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if err := strategies.ValidateName("linked", name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("linked: clone name %q given twice: %w", name, strategies.ErrExists)
		}
		seen[name] = true
	}
	if len(names) == 0 {
		return nil, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return nil, err
	}
	var s *volume
	for _, name := range names {
		var err error
		if s, err = e.source(src, name); err != nil {
			return nil, err
		}
	}
	n := s.d.nGrains
	var prepared []*delta // discarded on failure
	fail := func(err error) ([]strategies.VolumeID, error) {
		for _, d := range prepared {
			e.discardDelta(d)
		}
		return nil, err
	}
	prepare := func(k int) error {
		for i := 0; i < k; i++ {
			prepared = append(prepared, e.prepareDelta(n))
		}
		return nil
	}

	switch {
	case s.readOnly:
		if err := e.roomFor(len(names)); err != nil {
			return nil, err
		}
		if err := prepare(len(names)); err != nil {
			return fail(err)
		}
		return e.linkClones(s, s.d, prepared, names)

	case s.kind == strategies.KindBase && e.useReplica:
		var rd *delta
		if s.link == 0 || !s.replicaClean.Load() {
			if err := e.roomFor(1 + len(names)); err != nil {
				return nil, err
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			var err error
			if rd, err = e.makeReplica(s); err != nil {
				return nil, err
			}
			prepared = append(prepared, rd)
		} else if err := e.roomFor(len(names)); err != nil {
			return nil, err
		}
		if err := prepare(len(names)); err != nil {
			return fail(err)
		}
		// One commit of the source makes its writes durable and, with its
		// flush, the replica's grains and tables and the clones' tables
		// (flushData: the replica device first when the replica is on it).
		if _, err := e.commitDeltas(true, s.d); err != nil {
			return fail(fmt.Errorf("linked: clone: %w", err))
		}
		e.touch(s)
		if rd != nil {
			prepared = prepared[1:]
			rv := e.addVolume("", strategies.KindInternal, roleReplica, s.size, rd, 0)
			rv.link, s.link = s.id, rv.id
			s.replicaClean.Store(true)
		}
		e.stats.clonesOnReplica.Add(int64(len(names)))
		return e.linkClones(s, e.vols[s.link].d, prepared, names)

	default:
		if err := e.roomFor(1 + len(names)); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := prepare(1 + len(names)); err != nil {
			return fail(err)
		}
		if _, err := e.commitDeltas(true, s.d); err != nil {
			return fail(fmt.Errorf("linked: clone: %w", err))
		}
		top, nt := s.d, prepared[0]
		top.frozen = true
		e.addVolume("", strategies.KindInternal, roleLayer, s.size, top, 0)
		nt.parent = top
		top.children++
		s.d = nt
		e.registerDelta(nt, s)
		return e.linkClones(s, top, prepared[1:], names)
	}
}

// linkClones registers the prepared (durable, empty) deltas ds as the
// clones names of s over parent and commits the catalog.
func (e *Engine) linkClones(s *volume, parent *delta, ds []*delta, names []string) ([]strategies.VolumeID, error) {
	ids := make([]strategies.VolumeID, 0, len(ds))
	for i, d := range ds {
		d.parent = parent
		parent.children++
		ids = append(ids, e.addVolume(names[i], strategies.KindClone, roleUser, s.size, d, s.id).id)
	}
	if err := e.commitRoot(); err != nil {
		return nil, err
	}
	return ids, nil
}
