package workloads

import (
	"fmt"
	"time"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// SnaptreeParams are the keys of the "snaptree" scenario.
type SnaptreeParams struct {
	Every      Interval // a snapshot of the base every this many ops (or this long)
	Retain     int      // base snapshots kept; the oldest expires beyond
	Branch     float64  // probability, per snapshot, of a branch off a random live snapshot
	BranchOps  int64    // writes to a branch clone right after it is made
	Prefill    bool     // write the working set once before the steady phase
	RestoreOps int64    // random reads across the surviving snapshots
	RestoreBS  int64    // block size of the sequential restore read
}

func init() { register(snaptreeDef()) }

func snaptreeDef() *scenarioDef {
	return &scenarioDef{
		order:    10,
		name:     "snaptree",
		headline: snaptreeHeadline(),
		figures:  snaptreeFigures(),
		doc: "Periodic, deep: one base under a steady write load; a snapshot of the base every `every` ops " +
			"(or duration); with probability `branch` also a snapshot of a snapshot or a clone of a snapshot " +
			"that then takes `branch_ops` writes; the oldest base snapshot expires beyond `retain` (with its " +
			"branches). Then restore reads: a sequential read of the oldest surviving snapshot and random reads " +
			"across all of them. Phases: create, prefill, steady (series base_write_p99 by live snapshots), " +
			"restore-seq, restore-random. The series by live snapshots have one point per live count below 16, " +
			"then one per log-scale bucket of counts (8 per doubling, x the mean count its writes saw), so the " +
			"harness holds a few dozen latency histograms whatever the number of snapshots.",
		opsHelp: "base ops of the steady phase (snapshots = ops / every)",
		usesOps: true,
		defaults: func(sc *Scenario) {
			sc.Ops = 16384
			sc.Params = &SnaptreeParams{Every: Interval{Ops: 512}, Retain: 6, Branch: 0.25, BranchOps: 128,
				Prefill: true, RestoreOps: 2048, RestoreBS: 1 << 20}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*SnaptreeParams)
			return []param{
				intervalParam("every", "a base snapshot every N ops (512) or every duration (2s)", &p.Every),
				intParam("retain", "base snapshots kept; the oldest expires beyond", &p.Retain, 1, 1<<20),
				floatParam("branch", "probability per snapshot of a branch (snapshot of a snapshot, or clone of one that takes writes)", &p.Branch, 0, 1),
				int64Param("branch_ops", "writes to each branch clone", &p.BranchOps, 0),
				boolParam("prefill", "write the working set once before the steady phase", &p.Prefill),
				int64Param("restore_ops", "random reads across surviving snapshots in restore-random", &p.RestoreOps, 0),
				sizeParam("restore_bs", "block size of the sequential read in restore-seq", &p.RestoreBS, 512),
			}
		},
		writes: func(sc *Scenario) []int64 { return prefillWrites(sc, sc.Params.(*SnaptreeParams).Prefill) },
		reads:  func(sc *Scenario) []int64 { return []int64{sc.Params.(*SnaptreeParams).RestoreBS} },
		check: func(sc *Scenario) *ParamError {
			p := sc.Params.(*SnaptreeParams)
			if p.RestoreBS%512 != 0 || p.RestoreBS > sc.workingSet() || sc.workingSet()%p.RestoreBS != 0 {
				return &ParamError{Key: "restore_bs", Why: "must be a multiple of 512 that divides the working set"}
			}
			return nil
		},
		run: runSnaptree,
	}
}

// snaptreeRun is one run of the snapshot tree. The steady phase builds
// it: the live base snapshots and the counts the phase reports; the
// restore phases read what it left.
type snaptreeRun struct {
	s    *session
	p    *SnaptreeParams
	caps strategies.Caps
	ws   int64 // working set
	base *vol
	bt   *ioTarget // the base, open for the steady load
	tree rng       // the coordinator's choices (branching)
	live []*vol    // base snapshots, oldest first

	buckets                                              liveBuckets       // base write latency and bytes by live snapshots
	branchRec                                            *results.Recorder // writes to branch clones
	created, expired, branchSnaps, branchClones, maxLive int
}

// runSnaptree: create (and prefill) the base; steady (base writes, a
// snapshot every epoch, branches, expiry); restore-seq (the oldest valid
// snapshot read in order); restore-random (random reads across the
// surviving snapshots).
func runSnaptree(s *session) error {
	t := &snaptreeRun{s: s, p: s.sc.Params.(*SnaptreeParams), caps: s.eng.Caps(), ws: s.sc.workingSet(),
		tree:    newRNG(deriveSeed(s.sc.Seed, 0x74726565)), // "tree"
		buckets: liveBuckets{}, branchRec: results.NewRecorder()}
	var err error
	if t.base, err = s.createBase("base", t.p.Prefill, t.ws); err != nil {
		return err
	}
	if err := s.phase("steady", t.steady); err != nil {
		return err
	}
	s.sync()
	if len(valid(t.live)) == 0 {
		return nil // nothing left to restore from (all invalidated)
	}
	if err := s.phase("restore-seq", t.restoreSeq); err != nil {
		return err
	}
	if t.p.RestoreOps == 0 {
		return nil
	}
	return s.phase("restore-random", t.restoreRandom)
}

// steady runs epochs until the op budget or the duration is spent: each
// writes to the base (epoch), snapshots it, maybe branches off a live
// snapshot, and expires the oldest snapshots beyond retain.
func (t *snaptreeRun) steady(ph *phaseState) error {
	s, p := t.s, t.p
	if err := s.need(t.caps.Snapshot, "snapshots"); err != nil {
		return err
	}
	var err error
	if t.bt, err = s.target(t.base); err != nil {
		return err
	}
	if p.Branch > 0 && !t.caps.Nested {
		ph.m.Metrics["branching_unsupported"] = 1
	}
	left := s.sc.Ops
	if left == 0 {
		left = -1
	}
	s.phaseTotal = max(left, 0)
	end := deadlineAfter(s.sc.Duration)
	for epoch := 0; ; epoch++ {
		n := left
		if p.Every.Ops > 0 && (n < 0 || n > p.Every.Ops) {
			n = p.Every.Ops
		}
		dl := end
		if p.Every.Time > 0 {
			if e := mono() + p.Every.Time; dl == 0 || e < dl {
				dl = e
			}
		}
		done, err := t.epoch(ph, n, dl)
		if err != nil {
			return err
		}
		if left > 0 {
			left -= done
		}
		snap, err := s.copyOf(t.base, fmt.Sprintf("snap-%04d", epoch), strategies.KindSnapshot)
		if err != nil {
			return err
		}
		t.created++
		t.live = append(t.live, snap)
		s.sync() // a COW engine may have invalidated snapshots
		if err := t.branch(ph, epoch); err != nil {
			return err
		}
		t.maxLive = max(t.maxLive, len(t.live))
		if err := t.expire(); err != nil {
			return err
		}
		el := ph.m.Elapsed().Seconds()
		ph.m.AddPoint("live_snapshots", "s", "snapshots", el, float64(len(t.live)))
		ph.m.AddPoint("space_data", "s", "bytes", el, float64(s.eng.Space().Data))
		if left == 0 || (end > 0 && mono() >= end) {
			break
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	t.report(ph)
	return nil
}

// epoch writes n ops (n < 0: until dl) to the base and files their
// latencies and device bytes under the number of live snapshots. It
// returns the ops done.
func (t *snaptreeRun) epoch(ph *phaseState, n int64, dl time.Duration) (int64, error) {
	s := t.s
	st, err := s.patternStreams(s.sc.Pattern, t.bt, 0, t.ws, n, s.sc.QD)
	if err != nil {
		return 0, err
	}
	var before int64
	if s.env.Counting != nil {
		before = s.env.Counting.Counters().WriteBytes
	}
	doneBefore := s.opsDone
	_, err = s.runIO(ioRun{streams: st, total: max(n, 0), deadline: dl, rate: s.sc.Pattern.Rate})
	var devBytes int64
	if s.env.Counting != nil {
		devBytes = s.env.Counting.Counters().WriteBytes - before
	}
	t.buckets.add(len(t.live), nil, devBytes)
	for _, w := range s.workers[:s.sc.QD] {
		t.buckets.add(len(t.live), w.rec.Ops()[results.OpWrite], 0)
	}
	s.collect(s.sc.QD, ph.rec, &ph.lio)
	return s.opsDone - doneBefore, err
}

// branch, with probability branch and where the engine nests copies,
// takes a snapshot or a clone of a random valid live snapshot; a branch
// clone then takes branch_ops writes.
func (t *snaptreeRun) branch(ph *phaseState, epoch int) error {
	s, p := t.s, t.p
	cands := valid(t.live)
	if !(p.Branch > 0 && t.caps.Nested && len(cands) > 0 && t.tree.Float64() < p.Branch) {
		return nil
	}
	parent := cands[t.tree.Uint64n(uint64(len(cands)))]
	if t.tree.Uint64()&1 == 0 {
		if _, err := s.copyOf(parent, fmt.Sprintf("snap-%04d-s%d", epoch, len(parent.children)), strategies.KindSnapshot); err != nil {
			return err
		}
		t.branchSnaps++
		return nil
	}
	c, err := s.copyOf(parent, fmt.Sprintf("snap-%04d-c%d", epoch, len(parent.children)), strategies.KindClone)
	if err != nil {
		return err
	}
	t.branchClones++
	if p.BranchOps == 0 {
		return nil
	}
	ct, err := s.target(c)
	if err != nil {
		return err
	}
	pat := s.sc.Pattern
	pat.ReadPct, pat.Rate = 0, 0
	bst, err := s.patternStreams(pat, ct, 0, t.ws, p.BranchOps, s.sc.QD)
	if err != nil {
		return err
	}
	_, err = s.runIO(ioRun{streams: bst, total: p.BranchOps, apart: true})
	s.collect(s.sc.QD, t.branchRec, &ph.lio)
	s.release(c)
	return err
}

// expire deletes the oldest base snapshots (with their branches) beyond
// retain.
func (t *snaptreeRun) expire() error {
	for len(t.live) > t.p.Retain {
		oldest := t.live[0]
		t.live = t.live[1:]
		if _, err := t.s.timed(results.OpExpire, func() error { return t.s.removeTree(oldest) }); err != nil {
			return err
		}
		t.expired++
	}
	return nil
}

// report adds the steady phase's series by live snapshots and its counts.
func (t *snaptreeRun) report(ph *phaseState) {
	xs, bs := t.buckets.sorted()
	for i, b := range bs {
		x := xs[i]
		ph.m.AddPoint("base_write_p99", "live snapshots", "ns", x, float64(b.hist.ValueAtQuantile(99)))
		ph.m.AddPoint("base_write_p50", "live snapshots", "ns", x, float64(b.hist.ValueAtQuantile(50)))
		ph.m.AddPoint("base_write_mean", "live snapshots", "ns", x, b.hist.Mean())
		if t.s.env.Counting != nil && b.bytes > 0 {
			ph.m.AddPoint("base_write_amp", "live snapshots", "device bytes per byte", x, float64(b.deviceBytes)/float64(b.bytes))
		}
	}
	m := ph.m.Metrics
	m["snapshots"], m["expired"], m["max_live_snapshots"] = float64(t.created), float64(t.expired), float64(t.maxLive)
	m["live_snapshots"] = float64(len(t.live))
	m["branch_snapshots"], m["branch_clones"] = float64(t.branchSnaps), float64(t.branchClones)
	if o := t.branchRec.Ops()[results.OpWrite]; o != nil && o.Count > 0 {
		m["branch_writes"] = float64(o.Count)
		m["branch_write_p50_ns"] = float64(o.Hist.ValueAtQuantile(50))
		m["branch_write_p99_ns"] = float64(o.Hist.ValueAtQuantile(99))
	}
}

// restoreSeq reads the oldest valid snapshot in order, restore_bs at a
// time.
func (t *snaptreeRun) restoreSeq(ph *phaseState) error {
	oldest := valid(t.live)[0]
	ph.m.Metrics["live_snapshots"] = float64(len(t.live))
	ph.m.Metrics["valid_snapshots"] = float64(len(valid(t.live)))
	err := t.s.pass(oldest, t.ws, t.p.RestoreBS, false)
	t.s.release(oldest)
	return err
}

// restoreRandom reads restore_ops at random across every valid volume but
// the base, every worker from every volume.
func (t *snaptreeRun) restoreRandom(ph *phaseState) error {
	s := t.s
	var ts []*ioTarget
	for _, v := range valid(s.live()) {
		if v == t.base {
			continue
		}
		tg, err := s.target(v)
		if err != nil {
			return err
		}
		ts = append(ts, tg)
	}
	ph.m.Metrics["volumes"] = float64(len(ts))
	per := make([][]*ioTarget, s.sc.QD)
	for i := range per {
		per[i] = ts // nobody writes: every worker may read every volume
	}
	rp := s.sc.Pattern
	rp.ReadPct, rp.Rate = 100, 0
	st, err := s.spreadStreams(rp, per, 0, t.ws, t.p.RestoreOps)
	if err != nil {
		return err
	}
	_, err = s.io(ioRun{streams: st, total: t.p.RestoreOps})
	for _, v := range s.live() {
		if v != t.base {
			s.release(v)
		}
	}
	return err
}
