package linked

import (
	"fmt"
	"time"

	"github.com/snapbench/snapbench/strategies"
)

// Delete removes a user volume. What happens to the delta it owns depends
// on how many deltas stack on it:
//
//   - none: the delta is freed, and so, walking down the chain, is every
//     internal delta left without children (a replica whose last clone
//     went, a retained layer); a retained layer left with one child is
//     merged into it.
//   - one: the delta is merged into its child (qcow2 block-stream, VMware
//     consolidation): the grains the child lacks are copied into new
//     grains of the child, which then takes the delta's parent.
//   - several: the delta stays as a retained internal layer.
//
// A base's replica outlives the base while clones use it. Delete fails with
// ErrBusy while the volume is open. Cost: one catalog commit, plus for a
// merge O(grains copied) IO and two table commits; IO on volumes above the
// merged delta waits only while the copies are published and the chain
// changes in memory, not during the copy or the commit.
func (e *Engine) Delete(id strategies.VolumeID) error {
	return e.DeleteMany([]strategies.VolumeID{id})
}

// DeleteMany deletes a batch of user volumes with one catalog commit
// (refreshing a bush of clones), each as Delete does. Every id is checked
// first (it exists, is a user volume, is not open, is listed once): on
// such an error nothing is deleted. A failure while deleting (no space for
// a merge, a device error) commits the deletions done before it and
// returns the error. Durable on return. Cost: one catalog commit writing
// the buckets touched, plus each volume's merge, if any.
func (e *Engine) DeleteMany(ids []strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	vs := make([]*volume, 0, len(ids))
	seen := make(map[strategies.VolumeID]bool, len(ids))
	for _, id := range ids {
		v := e.vols[id]
		switch {
		case v == nil:
			return fmt.Errorf("linked: volume %d: %w", id, strategies.ErrNotFound)
		case v.role != roleUser:
			return fmt.Errorf("linked: delete %s: %w: internal volumes go with the volumes that use them", v.name, strategies.ErrInvalidArgument)
		case seen[id]:
			return fmt.Errorf("linked: delete %q: %w: listed twice", v.name, strategies.ErrInvalidArgument)
		case v.open > 0:
			return fmt.Errorf("linked: delete %q: %w", v.name, strategies.ErrBusy)
		}
		seen[id] = true
		vs = append(vs, v)
	}
	var gone []*delta
	var failed error
	done := 0
	for _, v := range vs {
		g, err := e.releaseLocked(v)
		if err != nil {
			failed = err
			break
		}
		gone = append(gone, g...)
		done++
	}
	if done == 0 && failed != nil {
		return failed // nothing changed
	}
	if err := e.commitRoot(); err != nil {
		return err
	}
	for _, d := range gone {
		e.discardDelta(d)
	}
	return failed
}

// releaseLocked removes v from memory (see Delete): a merge first copies
// and commits the grains the child lacks, then the chain changes under the
// IO locks of the volumes above. It returns the deltas to free once a
// catalog without them is committed. On error nothing changed in memory.
func (e *Engine) releaseLocked(v *volume) ([]*delta, error) {
	p := e.planRelease(v)
	if p.merge != nil {
		if err := e.mergeCopy(p.merge, p.into); err != nil {
			return nil, fmt.Errorf("linked: delete %q: %w", v.name, err)
		}
	}
	locked := e.lockAbove(p.merge)
	defer unlockAll(locked)

	e.dropVolume(v)
	if p.layer {
		e.addVolume("", strategies.KindInternal, roleLayer, v.size, v.d, 0)
	}
	for _, d := range p.gone {
		delete(e.deltas, d.id)
		if d.parent != nil {
			d.parent.children--
		}
	}
	for _, o := range p.goneVols {
		e.dropVolume(o)
	}
	gone := p.gone
	if p.merge != nil {
		p.into.parent = p.merge.parent
		e.touch(p.into.owner)
		delete(e.deltas, p.merge.id)
		gone = append(gone, p.merge)
	}
	return gone, nil
}

// releasePlan is what deleting a volume does to the deltas.
type releasePlan struct {
	layer       bool      // the volume's delta becomes a retained layer
	gone        []*delta  // deltas freed
	goneVols    []*volume // internal volumes removed with them
	merge, into *delta    // merge this delta into its only remaining child
}

func (e *Engine) planRelease(v *volume) releasePlan {
	var p releasePlan
	d := v.d
	switch d.children {
	case 0:
	case 1:
		p.merge, p.into = d, e.childrenOf(d, nil)[0]
		return p
	default:
		p.layer = true
		return p
	}
	p.gone = append(p.gone, d)
	for q := d.parent; q != nil; q = q.parent {
		kids := q.children - 1
		o := q.owner
		if o.role == roleReplica && kids == 0 {
			p.gone = append(p.gone, q)
			p.goneVols = append(p.goneVols, o)
			break
		}
		if o.role != roleLayer {
			break
		}
		if kids == 0 {
			p.gone = append(p.gone, q)
			p.goneVols = append(p.goneVols, o)
			continue
		}
		if kids == 1 {
			p.merge, p.into = q, e.childrenOf(q, p.gone[len(p.gone)-1])[0]
			p.goneVols = append(p.goneVols, o)
		}
		break
	}
	return p
}

// childrenOf lists the deltas whose parent is d, but skip, in id order.
func (e *Engine) childrenOf(d, skip *delta) []*delta {
	var out []*delta
	for _, id := range sortedKeys(e.deltas) {
		if c := e.deltas[id]; c.parent == d && c != skip {
			out = append(out, c)
		}
	}
	return out
}

// dropVolume forgets v.
// A volume whose parent goes keeps the parent's id in its record (it is
// never reused; Volumes reports no parent), so this is O(1) except for a
// base: replica links are cleared on the other side.
func (e *Engine) dropVolume(v *volume) {
	e.touch(v)
	delete(e.vols, v.id)
	delete(e.names, v.name)
	unlink := func(o *volume) {
		if o != nil && o.link == v.id {
			o.link = 0
			o.replicaClean.Store(false)
			e.touch(o)
		}
	}
	if v.role == roleUser && v.kind == strategies.KindBase {
		// Every replica made of it links to it, the current one and the
		// older ones its clones keep: O(volumes), for bases only.
		for _, o := range e.vols {
			unlink(o)
		}
		return
	}
	if v.link != 0 {
		unlink(e.vols[v.link])
	}
}

// lockAbove takes the IO locks of every volume whose chain holds d (none
// for nil), in id order.
func (e *Engine) lockAbove(d *delta) []*volume {
	if d == nil {
		return nil
	}
	var out []*volume
	for _, id := range sortedKeys(e.vols) {
		v := e.vols[id]
		for c := v.d; c != nil; c = c.parent {
			if c == d {
				v.mu.Lock()
				out = append(out, v)
				break
			}
		}
	}
	return out
}

func unlockAll(vs []*volume) {
	for _, v := range vs {
		v.mu.Unlock()
	}
}

// mergeCopy copies every grain of m that into lacks into new grains of
// into and commits into's table. It changes no content: before and after,
// reading into through m gives the same data, so a crash at any point is
// harmless (the copies are either unmapped, hence free after reopen, or
// mapped by into's table). The copy runs without the IO locks; publishing
// takes them, and keeps a grain the volume wrote meanwhile.
func (e *Engine) mergeCopy(m, into *delta) error {
	start := time.Now()
	var cs []grainCopy
	var err error
	m.forEach(func(gi, src uint32) {
		if err != nil || into.get(gi) != 0 {
			return
		}
		if err = e.ensureTable(into, gi, false); err != nil { // a table grain stays with into, owned
			err = fmt.Errorf("merge of delta %d into %d: %w", m.id, into.id, err)
			return
		}
		to := e.alloc.alloc(false)
		if to == 0 {
			err = fmt.Errorf("merge of delta %d into %d: %w", m.id, into.id, strategies.ErrNoSpace)
			return
		}
		cs = append(cs, grainCopy{gi: gi, from: src &^ pendingBit, to: to})
	})
	if err != nil {
		e.freeCopies(cs)
		return err
	}
	bytes, err := e.copyGrains(cs)
	if err == nil {
		err = e.flushData()
	}
	if err != nil {
		e.freeCopies(cs)
		return fmt.Errorf("merge: %w", err)
	}
	locked := e.lockAbove(m)
	for _, c := range cs {
		if into.get(c.gi) != 0 {
			e.freeGrain(c.to, false) // written meanwhile: the volume's own grain wins
			continue
		}
		into.set(c.gi, c.to|pendingBit)
		into.used.Add(1)
		into.addDirty(c.gi)
	}
	unlockAll(locked)
	if _, err := e.commitDeltas(true, into); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	e.stats.merges.Add(1)
	e.stats.mergeBytes.Add(bytes)
	e.stats.mergeNs.Add(int64(time.Since(start)))
	return nil
}
