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
// merged delta waits only while the copies are published and the catalog
// committed, not during the copy.
func (e *Engine) Delete(id strategies.VolumeID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.usable(); err != nil {
		return err
	}
	v := e.vols[id]
	if v == nil {
		return fmt.Errorf("linked: volume %d: %w", id, strategies.ErrNotFound)
	}
	if v.role != roleUser {
		return fmt.Errorf("linked: delete %s: %w: internal volumes go with the volumes that use them", v.name, strategies.ErrInvalidArgument)
	}
	if v.open > 0 {
		return fmt.Errorf("linked: delete %q: %w", v.name, strategies.ErrBusy)
	}
	p := e.planRelease(v)
	if p.merge != nil {
		if err := e.mergeCopy(p.merge, p.into); err != nil {
			return fmt.Errorf("linked: delete %q: %w", v.name, err)
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
	if p.merge != nil {
		p.into.parent = p.merge.parent
		e.touch(p.into.owner)
		delete(e.deltas, p.merge.id)
	}
	if err := e.commitRoot(); err != nil {
		return err
	}
	for _, d := range p.gone {
		e.discardDelta(d)
	}
	if p.merge != nil {
		e.discardDelta(p.merge)
	}
	return nil
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
