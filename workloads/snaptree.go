package workloads

import (
	"fmt"

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

func snaptreeDef() *scenarioDef {
	return &scenarioDef{
		name: "snaptree",
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

func runSnaptree(s *session) error {
	p := s.sc.Params.(*SnaptreeParams)
	ws := s.sc.workingSet()
	caps := s.eng.Caps()
	base, err := s.createBase("base", p.Prefill, ws)
	if err != nil {
		return err
	}
	var live []*vol // base snapshots, oldest first
	err = s.phase("steady", func(ph *phaseState) error {
		if err := s.need(caps.Snapshot, "snapshots"); err != nil {
			return err
		}
		bt, err := s.target(base)
		if err != nil {
			return err
		}
		tree := newRNG(deriveSeed(s.sc.Seed, 0x74726565)) // "tree": the coordinator's choices
		buckets := liveBuckets{}
		branchRec := results.NewRecorder()
		var created, expired, branchSnaps, branchClones, maxLive int
		if p.Branch > 0 && !caps.Nested {
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
			st, err := s.patternStreams(s.sc.Pattern, bt, 0, ws, n, s.sc.QD)
			if err != nil {
				return err
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
			buckets.add(len(live), nil, devBytes)
			for _, w := range s.workers[:s.sc.QD] {
				buckets.add(len(live), w.rec.Ops()[results.OpWrite], 0)
			}
			s.collect(s.sc.QD, ph.rec, &ph.lio)
			if err != nil {
				return err
			}
			if left > 0 {
				left -= s.opsDone - doneBefore
			}

			snap, err := s.copyOf(base, fmt.Sprintf("snap-%04d", epoch), strategies.KindSnapshot)
			if err != nil {
				return err
			}
			created++
			live = append(live, snap)
			s.sync() // a COW engine may have invalidated snapshots
			if cands := valid(live); p.Branch > 0 && caps.Nested && len(cands) > 0 && tree.Float64() < p.Branch {
				parent := cands[tree.Uint64n(uint64(len(cands)))]
				if tree.Uint64()&1 == 0 {
					if _, err := s.copyOf(parent, fmt.Sprintf("snap-%04d-s%d", epoch, len(parent.children)), strategies.KindSnapshot); err != nil {
						return err
					}
					branchSnaps++
				} else {
					c, err := s.copyOf(parent, fmt.Sprintf("snap-%04d-c%d", epoch, len(parent.children)), strategies.KindClone)
					if err != nil {
						return err
					}
					branchClones++
					if p.BranchOps > 0 {
						ct, err := s.target(c)
						if err != nil {
							return err
						}
						pat := s.sc.Pattern
						pat.ReadPct, pat.Rate = 0, 0
						bst, err := s.patternStreams(pat, ct, 0, ws, p.BranchOps, s.sc.QD)
						if err != nil {
							return err
						}
						_, err = s.runIO(ioRun{streams: bst, total: p.BranchOps, apart: true})
						s.collect(s.sc.QD, branchRec, &ph.lio)
						s.release(c)
						if err != nil {
							return err
						}
					}
				}
			}
			maxLive = max(maxLive, len(live))
			for len(live) > p.Retain {
				oldest := live[0]
				live = live[1:]
				if _, err := s.timed(results.OpExpire, func() error { return s.removeTree(oldest) }); err != nil {
					return err
				}
				expired++
			}
			el := ph.m.Elapsed().Seconds()
			ph.m.AddPoint("live_snapshots", "s", "snapshots", el, float64(len(live)))
			ph.m.AddPoint("space_data", "s", "bytes", el, float64(s.eng.Space().Data))
			if left == 0 || (end > 0 && mono() >= end) {
				break
			}
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
		xs, bs := buckets.sorted()
		for i, b := range bs {
			x := xs[i]
			ph.m.AddPoint("base_write_p99", "live snapshots", "ns", x, float64(b.hist.ValueAtQuantile(99)))
			ph.m.AddPoint("base_write_p50", "live snapshots", "ns", x, float64(b.hist.ValueAtQuantile(50)))
			ph.m.AddPoint("base_write_mean", "live snapshots", "ns", x, b.hist.Mean())
			if s.env.Counting != nil && b.bytes > 0 {
				ph.m.AddPoint("base_write_amp", "live snapshots", "device bytes per byte", x, float64(b.deviceBytes)/float64(b.bytes))
			}
		}
		m := ph.m.Metrics
		m["snapshots"], m["expired"], m["max_live_snapshots"] = float64(created), float64(expired), float64(maxLive)
		m["live_snapshots"] = float64(len(live))
		m["branch_snapshots"], m["branch_clones"] = float64(branchSnaps), float64(branchClones)
		if o := branchRec.Ops()[results.OpWrite]; o != nil && o.Count > 0 {
			m["branch_writes"] = float64(o.Count)
			m["branch_write_p50_ns"] = float64(o.Hist.ValueAtQuantile(50))
			m["branch_write_p99_ns"] = float64(o.Hist.ValueAtQuantile(99))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.sync()
	if len(valid(live)) == 0 {
		return nil // nothing left to restore from (all invalidated)
	}
	if err := s.phase("restore-seq", func(ph *phaseState) error {
		oldest := valid(live)[0]
		ph.m.Metrics["live_snapshots"] = float64(len(live))
		ph.m.Metrics["valid_snapshots"] = float64(len(valid(live)))
		err := s.pass(oldest, ws, p.RestoreBS, false)
		s.release(oldest)
		return err
	}); err != nil {
		return err
	}
	if p.RestoreOps == 0 {
		return nil
	}
	return s.phase("restore-random", func(ph *phaseState) error {
		var ts []*ioTarget
		for _, v := range valid(s.live()) {
			if v == base {
				continue
			}
			t, err := s.target(v)
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
		ph.m.Metrics["volumes"] = float64(len(ts))
		per := make([][]*ioTarget, s.sc.QD)
		for i := range per {
			per[i] = ts // nobody writes: every worker may read every volume
		}
		rp := s.sc.Pattern
		rp.ReadPct, rp.Rate = 100, 0
		st, err := s.spreadStreams(rp, per, 0, ws, p.RestoreOps)
		if err != nil {
			return err
		}
		_, err = s.io(ioRun{streams: st, total: p.RestoreOps})
		for _, v := range s.live() {
			if v != base {
				s.release(v)
			}
		}
		return err
	})
}
