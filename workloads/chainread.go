package workloads

import (
	"fmt"

	"github.com/snapbench/snapbench/strategies"
)

// ChainreadParams are the keys of the "chainread" scenario.
type ChainreadParams struct {
	Depths   []int  // chain depths to measure at, ascending
	LevelOps int64  // writes to the head before each new level
	Chain    string // "base": snapshots of the base, reads of the base; "clones": each level a clone of the previous head
	Prefill  bool   // write the working set once before the first level
	Check    int64  // random verified reads across every level at the end
}

func init() { register(chainreadDef()) }

func chainreadDef() *scenarioDef {
	return &scenarioDef{
		order:    40,
		name:     "chainread",
		headline: chainreadHeadline(),
		figures:  chainreadFigures(),
		doc: "Read latency against snapshot chain depth: the head takes `level_ops` writes, then a new level " +
			"is stacked (a snapshot of the base, or with chain=clones a clone of the head that becomes the new " +
			"head), until each depth of `depths`; at each, `ops` random reads of the head. Phases: create, " +
			"prefill, then per depth: build (Metrics levels) and read (Metrics depth), then check (verified " +
			"random reads across every level).",
		opsHelp: "reads of the head at each depth",
		usesOps: true,
		defaults: func(sc *Scenario) {
			sc.VolumeSize, sc.Ops, sc.Pattern.ReadPct = 16<<20, 2048, 100
			sc.Params = &ChainreadParams{Depths: []int{0, 1, 4, 16}, LevelOps: 256, Chain: "base", Prefill: true, Check: 1024}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*ChainreadParams)
			return []param{
				intListParam("depths", "chain depths to read at, ascending: 0,1,4,16", &p.Depths, 0, 1<<20),
				int64Param("level_ops", "writes to the head before each new level", &p.LevelOps, 0),
				enumParam("chain", "base: snapshots of the base, read the base; clones: clone of clone, read the newest", &p.Chain, "base", "clones"),
				boolParam("prefill", "write the working set once before the first level", &p.Prefill),
				int64Param("check_ops", "random verified reads across every level at the end (phase check)", &p.Check, 0),
			}
		},
		writes: func(sc *Scenario) []int64 { return prefillWrites(sc, sc.Params.(*ChainreadParams).Prefill) },
		run:    runChainread,
	}
}

func runChainread(s *session) error {
	p := s.sc.Params.(*ChainreadParams)
	ws := s.sc.workingSet()
	caps := s.eng.Caps()
	head, err := s.createBase("base", p.Prefill, ws)
	if err != nil {
		return err
	}
	depth := 0
	for _, d := range p.Depths {
		if d > depth {
			if err := s.phase("build", func(ph *phaseState) error {
				ph.m.Metrics["levels"] = float64(d)
				for ; depth < d; depth++ {
					if p.LevelOps > 0 {
						t, err := s.target(head)
						if err != nil {
							return err
						}
						wp := s.sc.Pattern
						wp.ReadPct, wp.Rate = 0, 0
						st, err := s.patternStreams(wp, t, 0, ws, p.LevelOps, s.sc.QD)
						if err != nil {
							return err
						}
						if _, err := s.io(ioRun{streams: st, total: p.LevelOps}); err != nil {
							return err
						}
					}
					if p.Chain == "clones" {
						ok, what := caps.Clone, "clones"
						if depth > 0 {
							ok, what = caps.Nested, "clones of clones"
						}
						if err := s.need(ok, what); err != nil {
							return err
						}
						next, err := s.copyOf(head, fmt.Sprintf("level-%05d", depth+1), strategies.KindClone)
						if err != nil {
							return err
						}
						s.release(head)
						head = next
					} else {
						if err := s.need(caps.Snapshot, "snapshots"); err != nil {
							return err
						}
						if _, err := s.copyOf(head, fmt.Sprintf("level-%05d", depth+1), strategies.KindSnapshot); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := s.phase("read", func(ph *phaseState) error {
			ph.m.Metrics["depth"] = float64(d)
			return s.mainIO(head, ws)
		}); err != nil {
			return err
		}
	}
	if p.Check == 0 {
		return nil
	}
	return s.phase("check", func(ph *phaseState) error {
		vols := valid(s.live())
		ph.m.Metrics["volumes"] = float64(len(vols))
		return s.check(vols, p.Check)
	})
}
