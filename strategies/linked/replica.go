package linked

import (
	"fmt"
	"time"

	"github.com/snapbench/snapbench/strategies"
)

// makeReplica copies the current content of base s (its whole chain,
// flattened) into a new frozen delta with no parent, and writes its grain
// table; with a replica device, its grains and table are allocated there.
// Nothing refers to the delta yet: the caller flushes (both devices) and
// commits it. Caller holds e.mu and s.mu exclusively. Cost: one read and one write
// per run of mapped grains, O(base data), plus the table grains in use;
// the chain's unmapped table pages are skipped whole.
func (e *Engine) makeReplica(s *volume) (*delta, error) {
	start := time.Now()
	n := s.d.nGrains
	rd := e.prepareDelta(n)
	var cs []grainCopy
	var tables []int
	per := uint32(e.geo.perTable())
	noSpace := func() (*delta, error) {
		e.freeCopies(cs)
		e.discardDelta(rd)
		where := ""
		if e.rdev != nil {
			where = " (replica device " + e.rdev.path + " full)"
		}
		return nil, fmt.Errorf("linked: replica of %s: %w%s", s.name, strategies.ErrNoSpace, where)
	}
	for gi := uint32(0); gi < n; gi++ {
		src := lookup(s.d, gi)
		if src == 0 {
			if next := nextMapped(s.d, gi); next > gi+1 {
				gi = next - 1 // skip a run that no layer maps
			}
			continue
		}
		if k := int(gi / per); rd.gd[k] == 0 {
			x := e.allocGrain(true, true)
			if x == 0 {
				return noSpace()
			}
			rd.gd[k] = x
			rd.tables.Add(1)
			tables = append(tables, k)
		}
		to := e.allocGrain(true, false)
		if to == 0 {
			return noSpace()
		}
		cs = append(cs, grainCopy{gi: gi, from: src, to: to})
	}
	bytes, err := e.copyGrains(cs)
	if err != nil {
		e.freeCopies(cs)
		e.discardDelta(rd)
		return nil, fmt.Errorf("linked: replica of %s: %w", s.name, err)
	}
	for _, c := range cs {
		rd.set(c.gi, c.to)
	}
	rd.used.Store(int64(len(cs)))
	rd.frozen = true
	if err := e.writeNewTables(rd, tables); err != nil {
		e.discardDelta(rd)
		return nil, fmt.Errorf("linked: replica of %s: %w", s.name, err)
	}
	e.stats.replicasMade.Add(1)
	e.stats.replicaBytes.Add(bytes)
	e.stats.replicaNs.Add(int64(time.Since(start)))
	return rd, nil
}

// markReplicaStale records, durably, that base v is about to change, so
// that the next Clone makes a new replica. Called by the first write after
// a replica was made, before that write; later writes skip it.
func (e *Engine) markReplicaStale(v *volume) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !v.replicaClean.Load() {
		return nil
	}
	if err := e.usable(); err != nil {
		return err
	}
	v.replicaClean.Store(false)
	e.touch(v)
	return e.commitRoot()
}
