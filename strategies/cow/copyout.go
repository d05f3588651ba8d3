package cow

import (
	"fmt"

	"github.com/snapbench/snapbench/device"
)

// copyOut is the classic copy-on-write step, run before base chunks
// sc.chunks are overwritten in place. The caller holds the base's gate
// shared and the chunks' stripes exclusive.
//
// For every valid dependent (ascending id) and every chunk:
//   - the dependent has no exception for it: allocate a delta slot and
//     copy the chunk there; if the delta is full, invalidate the dependent
//     durably instead;
//   - the dependent has an exception not yet durable (a clone's own write,
//     committed lazily): it must be committed too.
//
// Then, in this order: read each chunk once and write it to every slot;
// flush (the copies are durable); write the dependents' exception-table
// blocks; flush (the exceptions are durable). Only then may the caller write
// the base. With N dependents a first write costs N chunk copies, N table
// writes and two flushes: the cost this engine exists to measure.
func (e *Engine) copyOut(v *vol, sc *scratch) error {
	for _, dv := range v.b.deps {
		d := dv.d
		if d.invalid.Load() {
			continue
		}
		start, need, full := len(sc.jobs), false, false
		d.mu.Lock()
		for _, c := range sc.chunks {
			val, ok := d.table.get(c)
			if ok {
				need = need || val&notDurable != 0
				continue
			}
			s, ok := d.allocLocked()
			if !ok {
				full = true
				break
			}
			sc.jobs = append(sc.jobs, copyJob{d: d, chunk: c, slot: s})
			need = true
		}
		if full {
			for _, j := range sc.jobs[start:] {
				d.freeLocked(j.slot)
			}
			sc.jobs = sc.jobs[:start]
		}
		d.mu.Unlock()
		if full {
			if err := e.invalidate(dv); err != nil {
				e.releaseJobs(sc.jobs)
				return err
			}
			continue
		}
		if need {
			sc.commits = append(sc.commits, depCommit{d: d})
		}
	}
	if len(sc.jobs) > 0 {
		if err := e.copyChunks(v, sc); err != nil {
			e.releaseJobs(sc.jobs)
			return err
		}
		for _, j := range sc.jobs {
			j.d.mu.Lock()
			j.d.recordLocked(j.chunk, j.slot)
			j.d.mu.Unlock()
		}
		e.stats.cowCopies.Add(int64(len(sc.jobs)))
		e.stats.cowCopyBytes.Add(int64(len(sc.jobs)) << e.geo.shift)
	}
	if len(sc.commits) == 0 {
		return nil
	}
	for i := range sc.commits {
		c := &sc.commits[i]
		c.d.mu.Lock()
		c.a = c.d.appended
		c.d.mu.Unlock()
	}
	if err := e.fl.flush(); err != nil {
		return err
	}
	for i := range sc.commits {
		c := &sc.commits[i]
		c.d.noteFlushed(c.a)
		var err error
		if c.w, err = c.d.commitTo(e, c.a); err != nil {
			return err
		}
	}
	if err := e.fl.flush(); err != nil {
		return err
	}
	for _, c := range sc.commits {
		c.d.markDurable(c.w)
	}
	return nil
}

// copyChunks reads the chunks once (one IO over their span) and writes each
// job's chunk into its delta slot.
func (e *Engine) copyChunks(v *vol, sc *scratch) error {
	lo, hi := sc.chunks[0], sc.chunks[len(sc.chunks)-1]
	cs := e.geo.chunk
	span := int64(hi-lo+1) << e.geo.shift
	buf := device.GetBuffer(int(span))
	defer device.PutBuffer(buf)
	if _, err := e.dev.ReadAt(buf, v.off+int64(lo)<<e.geo.shift); err != nil {
		return fmt.Errorf("cow: copy-out read of %q: %w", v.name, err)
	}
	for _, j := range sc.jobs {
		src := buf[int64(j.chunk-lo)<<e.geo.shift:][:cs]
		if _, err := e.dev.WriteAt(src, j.d.dataOff+int64(j.slot)<<e.geo.shift); err != nil {
			return fmt.Errorf("cow: copy-out of %q chunk %d to %q: %w", v.name, j.chunk, j.d.vol.name, err)
		}
	}
	return nil
}

// releaseJobs frees the slots of jobs that will not be recorded.
func (e *Engine) releaseJobs(jobs []copyJob) {
	for _, j := range jobs {
		j.d.mu.Lock()
		j.d.freeLocked(j.slot)
		j.d.mu.Unlock()
	}
}
