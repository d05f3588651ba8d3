package mirror

import (
	"fmt"
	"slices"

	"github.com/snapbench/snapbench/strategies"
)

// split turns len(names) attached mirrors of src into independent volumes of
// kind (snapshot or clone), committed together.
//
//  1. Pick the mirrors closest to sync (synchronised ones first); establish
//     the missing ones (one commit).
//  2. Synchronise each fully; writes to src continue between copy runs.
//  3. Hold src's writes; copy whatever is still out of sync (normally
//     nothing); with auto-mirrors and a base, allocate replacements; write
//     the new splits' (empty) change bitmaps and the replacements' (full)
//     out-of-sync bitmaps; flush, so that every write acknowledged to src is
//     durable on src and on each mirror; commit the table with the mirrors
//     turned into volumes that track src; release src's writes.
//
// When prepared (a synchronised mirror attached), the cost is a flush, the
// bitmap blocks and a commit: independent of the volume's size. Otherwise it
// adds the establish commit and the full copy.
func (e *Engine) split(srcID strategies.VolumeID, names []string, kind strategies.Kind) ([]strategies.VolumeID, error) {
	for _, name := range names {
		if err := strategies.ValidateName(engineName, name); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return nil, err
	}
	for i, name := range names {
		if err := e.checkNewName(name); err != nil {
			return nil, err
		}
		if slices.Contains(names[:i], name) {
			return nil, fmt.Errorf("mirror: %q: %w", name, strategies.ErrExists)
		}
	}
	s := e.find(srcID)
	if s == nil {
		return nil, e.notFound(srcID)
	}
	k := len(names)
	if k == 0 {
		return nil, nil
	}
	if err := e.roomInTable(k, k+e.auto); err != nil {
		return nil, err
	}

	chosen := e.pickMirrors(s, k)
	if need := k - len(chosen); need > 0 {
		ms, err := e.establishLocked(s, need)
		if err != nil {
			return nil, err
		}
		chosen = append(chosen, ms...)
	}
	var copied int64
	for _, m := range chosen {
		n, err := e.syncMirror(m, 0, false)
		copied += n
		if err != nil {
			return nil, err
		}
	}

	s.rw.Lock()
	defer s.rw.Unlock()
	for _, m := range chosen {
		n, err := e.syncMirror(m, 0, true)
		copied += n
		if err != nil {
			return nil, err
		}
	}
	// What the sync copied must be durable before the cleared bits that
	// stand for it are written below (as the splits' empty change
	// bitmaps): a crash between them would leave a mirror whose bitmap says
	// it is in sync without its data (found by the long crash run).
	if copied > 0 {
		if err := e.dev.Flush(); err != nil {
			return nil, fmt.Errorf("mirror: %s: %w", kind, err)
		}
	}
	var repl []*mirror
	freeRepl := func() {
		for _, m := range repl {
			e.alloc.free(m.ext)
		}
	}
	if s.kind == strategies.KindBase && e.auto > 0 {
		bm := e.geo.bitmapLen(s.size)
		for i := len(s.mirrors) - k; i < e.auto; i++ {
			off, err := e.alloc.alloc(bm + s.size)
			if err != nil {
				break // no room: src keeps fewer mirrors
			}
			m := &mirror{mirRecord: mirRecord{id: e.nextMir + MirrorID(len(repl)), src: s.id, size: s.size, ext: off, bmLen: bm},
				src: s, oos: newChunkBitmap(s.size / e.chunk)}
			m.oos.setAll()
			repl = append(repl, m)
		}
	}
	for _, m := range repl {
		if err := e.writeWholeBitmap(m.oos, m.ext); err != nil {
			freeRepl()
			return nil, err
		}
	}
	for _, m := range chosen { // all zeros now: the new change bitmaps
		if _, err := e.writeDirty(m.oos, m.ext); err != nil {
			freeRepl()
			return nil, err
		}
	}
	if err := e.dev.Flush(); err != nil {
		freeRepl()
		return nil, fmt.Errorf("mirror: %s: %w", kind, err)
	}

	ids := make([]strategies.VolumeID, k)
	for i, m := range chosen {
		x := &volume{e: e, volRecord: volRecord{id: e.nextVol, kind: kind, parent: s.id, size: s.size,
			ext: m.ext, bmLen: m.bmLen, name: names[i]}, changed: m.oos}
		e.nextVol++
		e.vols = append(e.vols, x)
		e.byName[x.name] = x
		s.trackers = append(s.trackers, x)
		ids[i] = x.id
	}
	isChosen := func(m *mirror) bool { return slices.Contains(chosen, m) }
	s.mirrors = slices.DeleteFunc(s.mirrors, isChosen)
	e.mirs = slices.DeleteFunc(e.mirs, isChosen)
	s.mirrors = append(s.mirrors, repl...)
	e.mirs = append(e.mirs, repl...)
	e.nextMir += MirrorID(len(repl))
	if err := e.commitLocked(); err != nil {
		return nil, err
	}
	e.st.splits.Add(int64(k))
	e.st.establishes.Add(int64(len(repl)))
	if len(repl) > 0 {
		e.wake()
	}
	return ids, nil
}

// pickMirrors returns up to k attached mirrors of s, fewest out-of-sync
// chunks first, then by id.
func (e *Engine) pickMirrors(s *volume, k int) []*mirror {
	type cand struct {
		m *mirror
		n int64
	}
	cs := make([]cand, len(s.mirrors))
	for i, m := range s.mirrors {
		cs[i] = cand{m, m.oos.count()}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return cmp64(a.n, b.n) })
	out := make([]*mirror, 0, min(k, len(cs)))
	for _, c := range cs[:min(k, len(cs))] {
		out = append(out, c.m)
	}
	return out
}
