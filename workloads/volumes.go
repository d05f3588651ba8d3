package workloads

import (
	"errors"
	"fmt"
	"github.com/snapbench/snapbench/device"
	"time"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// vol is a volume the scenario made: its engine id, its oracle view, its
// place in the tree and its open handle.
type vol struct {
	id       strategies.VolumeID
	name     string
	kind     strategies.Kind
	ov       *ovol
	parent   *vol
	children []*vol
	t        *ioTarget // open handle, or nil
	gone     bool      // deleted, by the scenario or by the engine
	invalid  bool      // invalidated by the engine's policy (a COW delta that overflowed)
}

func (s *session) addVol(v *vol, parent *vol) *vol {
	v.parent = parent
	if parent != nil {
		parent.children = append(parent.children, v)
	}
	s.vols = append(s.vols, v)
	return v
}

// create makes an empty base volume of the scenario's volume size.
func (s *session) create(name string) (*vol, error) {
	var id strategies.VolumeID
	_, err := s.timed(results.OpCreate, func() (e error) {
		id, e = s.eng.Create(name, s.sc.VolumeSize)
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: create %q: %w", name, err)
	}
	v := &vol{id: id, name: name, kind: strategies.KindBase}
	if s.o != nil {
		if v.ov, err = s.o.base(name, s.sc.VolumeSize); err != nil {
			return nil, err
		}
	}
	return s.addVol(v, nil), nil
}

// copyOf makes a snapshot or a clone of src, timed as OpSnapshot or OpClone.
func (s *session) copyOf(src *vol, name string, kind strategies.Kind) (*vol, error) {
	var id strategies.VolumeID
	op, verb := results.OpSnapshot, "snapshot"
	if kind == strategies.KindClone {
		op, verb = results.OpClone, "clone"
	}
	_, err := s.timed(op, func() (e error) {
		if kind == strategies.KindClone {
			id, e = s.eng.Clone(src.id, name)
		} else {
			id, e = s.eng.Snapshot(src.id, name)
		}
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: %s %q of %q: %w", verb, name, src.name, err)
	}
	v := &vol{id: id, name: name, kind: kind}
	if s.o != nil {
		if kind == strategies.KindClone {
			if v.ov, err = s.o.clone(src.ov, name); err != nil {
				return nil, err
			}
		} else {
			v.ov = s.o.snapshot(src.ov, name)
		}
	}
	return s.addVol(v, src), nil
}

// cloneMany makes clones of src named names in one burst: the engine's
// CloneMany when it has one and batch is set, else one Clone at a time
// (each timed as OpClone). It returns the clones and the burst's duration.
func (s *session) cloneMany(src *vol, names []string, batch bool) ([]*vol, time.Duration, bool, error) {
	bc, batched := s.eng.(strategies.BatchCloner)
	batched = batched && batch
	var out []*vol
	if !batched {
		t0 := mono()
		for _, n := range names {
			v, err := s.copyOf(src, n, strategies.KindClone)
			if err != nil {
				return out, mono() - t0, false, err
			}
			out = append(out, v)
		}
		return out, mono() - t0, false, nil
	}
	t0 := mono()
	ids, err := bc.CloneMany(src.id, names)
	d := mono() - t0
	for i, id := range ids {
		v := &vol{id: id, name: names[i], kind: strategies.KindClone}
		if s.o != nil {
			var oerr error
			if v.ov, oerr = s.o.clone(src.ov, names[i]); oerr != nil {
				return out, d, true, oerr
			}
		}
		out = append(out, s.addVol(v, src))
	}
	if err != nil {
		s.ph.rec.RecordError(results.OpClone)
		return out, d, true, fmt.Errorf("workloads: clone burst of %d from %q: %w", len(names), src.name, err)
	}
	return out, d, true, nil
}

// remove deletes v (closing its handle first), timed as OpDelete.
func (s *session) remove(v *vol) error {
	s.release(v)
	_, err := s.timed(results.OpDelete, func() error { return s.eng.Delete(v.id) })
	if err != nil {
		return fmt.Errorf("workloads: delete %q: %w", v.name, err)
	}
	s.forget(v)
	return nil
}

// removeTree deletes v's descendants, deepest first, then v.
func (s *session) removeTree(v *vol) error {
	for len(v.children) > 0 {
		if err := s.removeTree(v.children[len(v.children)-1]); err != nil {
			return err
		}
	}
	return s.remove(v)
}

// forget drops v from the tree (deleted by us or by the engine).
func (s *session) forget(v *vol) {
	v.gone = true
	if p := v.parent; p != nil {
		for i, c := range p.children {
			if c == v {
				p.children = append(p.children[:i], p.children[i+1:]...)
				break
			}
		}
	}
	for _, c := range v.children {
		c.parent = nil
	}
	v.children = nil
	v.ov = nil // let the oracle's layers go
}

// target opens v for IO (once).
func (s *session) target(v *vol) (*ioTarget, error) {
	if v.t != nil {
		return v.t, nil
	}
	h, err := s.eng.Open(v.id)
	if err != nil {
		return nil, fmt.Errorf("workloads: open %q: %w", v.name, err)
	}
	if h.SectorSize() != s.sector {
		h.Close()
		return nil, fmt.Errorf("workloads: volume %q has %d-byte sectors, the device %d", v.name, h.SectorSize(), s.sector)
	}
	t := &ioTarget{vol: h, id: v.id, name: v.name, ov: v.ov}
	if v.ov != nil {
		t.lineage = v.ov.lineage
	}
	v.t = t
	return t, nil
}

// release closes v's handle, if open.
func (s *session) release(v *vol) {
	if v.t != nil {
		_ = v.t.vol.Close()
		v.t = nil
	}
}

func (s *session) closeAll() {
	for _, v := range s.vols {
		s.release(v)
	}
}

// live returns the volumes not deleted, in creation order.
func (s *session) live() []*vol {
	var out []*vol
	for _, v := range s.vols {
		if !v.gone {
			out = append(out, v)
		}
	}
	return out
}

// sync notices volumes the engine deleted on its own (expired to make
// room) and volumes it invalidated, and returns how many of each it found
// since the last sync. The session keeps running totals.
func (s *session) sync() (expired, invalidated int) {
	infos := s.eng.Volumes()
	byID := make(map[strategies.VolumeID]strategies.VolumeInfo, len(infos))
	for _, in := range infos {
		byID[in.ID] = in
	}
	for _, v := range s.vols {
		if v.gone {
			continue
		}
		in, ok := byID[v.id]
		if !ok {
			s.release(v)
			s.forget(v)
			expired++
			continue
		}
		if !in.Valid && !v.invalid {
			v.invalid = true
			invalidated++
		}
	}
	s.expired += int64(expired)
	s.invalidated += int64(invalidated)
	return expired, invalidated
}

// valid returns the volumes of vs that are neither deleted nor invalidated.
func valid(vs []*vol) []*vol {
	var out []*vol
	for _, v := range vs {
		if !v.gone && !v.invalid {
			out = append(out, v)
		}
	}
	return out
}

// share is worker i's part of total ops over n workers (-1: unbounded).
func share(total int64, i, n int) int64 {
	if total < 0 {
		return -1
	}
	q := total / int64(n)
	if int64(i) < total%int64(n) {
		q++
	}
	return q
}

// patternStreams returns one stream per worker (workers is 1 or the
// scenario's QD, so that granule ownership matches the oracle's shards)
// doing ops ops of pat on t within [start, start+length).
func (s *session) patternStreams(pat Pattern, t *ioTarget, start, length, ops int64, workers int) ([]stream, error) {
	no := s.streams
	s.streams++
	out := make([]stream, workers)
	for i := range out {
		c := GenConfig{Pattern: pat, Start: start, Len: length, Worker: i, Workers: workers,
			Seed: deriveSeed(s.sc.Seed, no, uint64(i))}
		if workers > 1 {
			c.Granule = s.gran
		}
		g, err := NewGenerator(c)
		if err != nil {
			return nil, fmt.Errorf("workloads: %w", err)
		}
		out[i] = &patternStream{g: g, t: t, left: share(ops, i, workers)}
	}
	return out, nil
}

// spreadStreams returns one stream per entry of perWorker: each sends its
// share of ops of pat to targets drawn from its own list, within
// [start, start+length). Each list must be that worker's alone unless every
// target in it is read-only.
func (s *session) spreadStreams(pat Pattern, perWorker [][]*ioTarget, start, length, ops int64) ([]stream, error) {
	no := s.streams
	s.streams++
	out := make([]stream, len(perWorker))
	for i, ts := range perWorker {
		seed := deriveSeed(s.sc.Seed, no, uint64(i))
		g, err := NewGenerator(GenConfig{Pattern: pat, Start: start, Len: length, Seed: seed})
		if err != nil {
			return nil, fmt.Errorf("workloads: %w", err)
		}
		out[i] = &spreadStream{g: g, ts: ts, r: newRNG(seed ^ 0x7370726561640000), left: share(ops, i, len(perWorker))}
	}
	return out, nil
}

// fill writes [0, length) of v sequentially with large blocks, on every
// worker, as one IO run of the current phase.
func (s *session) fill(v *vol, length int64) error {
	return s.pass(v, length, 0, true)
}

// pass writes or reads [0, length) of v exactly once, sequentially, with
// blocks of bs bytes (0: large blocks, see fillBlock), spread over the
// workers by granule.
func (s *session) pass(v *vol, length, bs int64, write bool) error {
	t, err := s.target(v)
	if err != nil {
		return err
	}
	if bs == 0 {
		bs = fillBlock(length, s.sc.Pattern.MaxBlock())
	}
	pat := Pattern{BlockSizes: []BlockSize{{Size: bs, Weight: 1}}, Access: Sequential}
	if !write {
		pat.ReadPct = 100
	}
	// Writers own granules; a block larger than a granule would span
	// several owners, so such a pass runs on one worker. Readers of a
	// volume nobody writes may split it any way: by block.
	gran := s.gran
	if !write {
		gran = bs
	}
	workers := s.sc.QD
	if gran%bs != 0 || length%gran != 0 || length/gran < int64(workers) {
		workers = 1
	}
	no := s.streams
	s.streams++
	st := make([]stream, workers)
	n := length / gran
	for i := range st {
		c := GenConfig{Pattern: pat, Start: 0, Len: length, Worker: i, Workers: workers, Seed: deriveSeed(s.sc.Seed, no, uint64(i))}
		left := length / bs
		if workers > 1 {
			c.Granule = gran
			owned := n / int64(workers)
			if int64(i) < n%int64(workers) {
				owned++
			}
			left = owned * (gran / bs)
		}
		g, err := NewGenerator(c)
		if err != nil {
			return fmt.Errorf("workloads: %w", err)
		}
		st[i] = &patternStream{g: g, t: t, left: left}
	}
	_, err = s.io(ioRun{streams: st, total: length / bs})
	return err
}

// isNoSpace reports errors that mean the device (or a delta area) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, strategies.ErrNoSpace)
}

// counters reads the counting device (zero without one).
func (s *session) counters() device.Counters {
	if s.env.Counting == nil {
		return device.Counters{}
	}
	return s.env.Counting.Counters()
}

// check runs ops random reads (of the pattern's sizes) spread over vols,
// verifying each, as one IO run of the current phase. Nobody writes while
// it runs, so every worker may read every volume.
func (s *session) check(vols []*vol, ops int64) error {
	var ts []*ioTarget
	for _, v := range vols {
		t, err := s.target(v)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	per := make([][]*ioTarget, s.sc.QD)
	for i := range per {
		per[i] = ts
	}
	rp := s.sc.Pattern
	rp.ReadPct, rp.Rate, rp.Access = 100, 0, Random
	st, err := s.spreadStreams(rp, per, 0, s.sc.workingSet(), ops)
	if err != nil {
		return err
	}
	_, err = s.io(ioRun{streams: st, total: ops})
	for _, v := range vols {
		s.release(v)
	}
	return err
}

// template creates the volume "template" (phase create) and, when fill > 0,
// writes its first fill bytes (phase fill): the start of every scenario that
// clones a template.
func (s *session) template(fill int64) (*vol, error) {
	var tmpl *vol
	if err := s.phase("create", func(*phaseState) (err error) {
		tmpl, err = s.create("template")
		return err
	}); err != nil {
		return nil, err
	}
	if fill > 0 {
		if err := s.phase("fill", func(*phaseState) error {
			err := s.fill(tmpl, fill)
			s.release(tmpl)
			return err
		}); err != nil {
			return nil, err
		}
	}
	return tmpl, nil
}
