package workloads

import (
	"fmt"

	"github.com/snapbench/snapbench/strategies"
)

// OverwriteParams are the keys of the "overwrite" scenario.
type OverwriteParams struct {
	Fanout  []int  // live dependent copies of the base at each step (made fresh per step), ascending
	Kind    string // "snapshot" or "clone": what the dependents are
	Prefill bool   // write the working set once before the first step
	Check   int64  // random verified reads across the base and every dependent at the end
}

func init() { register(overwriteDef()) }

func overwriteDef() *scenarioDef {
	return &scenarioDef{
		order:    30,
		name:     "overwrite",
		headline: overwriteHeadline(),
		figures:  overwriteFigures(),
		doc: "The headline micro-benchmark: a base with N dependent snapshots (or clones), then random writes " +
			"to the base, for each N of `fanout`: device writes and latency per base write as N grows. Phases: " +
			"create, prefill, then per N: drop (deletes the previous step's copies), deps (makes N fresh copies, " +
			"each sharing every chunk of the base) and overwrite (Metrics fanout, dependents_at_start, live_dependents " +
			"(those still valid at the end), device_writes_per_write, device_write_bytes_per_write, the commit at " +
			"the phase's end included), then check (verified random reads across " +
			"the base and every dependent: a copy-on-write engine must have preserved them).",
		opsHelp: "random base writes per step",
		usesOps: true,
		defaults: func(sc *Scenario) {
			// 4 MiB: cow's smallest delta area (4 MiB) holds a whole
			// volume, so a fan-out measures copy-out, not overflow (the
			// exhaust scenario measures overflow).
			sc.VolumeSize, sc.Ops = 4<<20, 2048
			sc.Params = &OverwriteParams{Fanout: []int{0, 1, 4, 16}, Kind: "snapshot", Prefill: true, Check: 1024}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*OverwriteParams)
			return []param{
				intListParam("fanout", "dependent copies of the base at each step, ascending: 0,1,10,100", &p.Fanout, 0, 1<<20),
				enumParam("kind", "what the dependents are", &p.Kind, "snapshot", "clone"),
				boolParam("prefill", "write the working set once before the first step", &p.Prefill),
				int64Param("check_ops", "random verified reads across the base and every dependent at the end (phase check)", &p.Check, 0),
			}
		},
		writes: func(sc *Scenario) []int64 { return prefillWrites(sc, sc.Params.(*OverwriteParams).Prefill) },
		run:    runOverwrite,
	}
}

func runOverwrite(s *session) error {
	p := s.sc.Params.(*OverwriteParams)
	ws := s.sc.workingSet()
	caps := s.eng.Caps()
	kind, capOK, what := strategies.KindSnapshot, caps.Snapshot, "snapshots"
	if p.Kind == "clone" {
		kind, capOK, what = strategies.KindClone, caps.Clone, "clones"
	}
	base, err := s.createBase("base", p.Prefill, ws)
	if err != nil {
		return err
	}
	// Each step measures exactly n live dependents that share every chunk
	// of the base: the previous step's dependents are deleted (phase
	// "drop") and n fresh ones made (phase "deps"). Keeping the previous
	// ones and adding n-k would measure fewer: the chunks the last step
	// already copied out cost nothing for them any more.
	var deps []*vol
	for _, n := range p.Fanout {
		if len(deps) > 0 {
			if err := s.phase("drop", func(ph *phaseState) error {
				ph.m.Metrics["fanout"] = float64(n)
				for i := len(deps) - 1; i >= 0; i-- {
					if deps[i].gone {
						continue
					}
					if err := s.remove(deps[i]); err != nil {
						return err
					}
				}
				deps = nil
				return nil
			}); err != nil {
				return err
			}
		}
		if n > 0 {
			if err := s.phase("deps", func(ph *phaseState) error {
				ph.m.Metrics["fanout"] = float64(n)
				if err := s.need(capOK, what); err != nil {
					return err
				}
				for len(deps) < n {
					v, err := s.copyOf(base, fmt.Sprintf("%s-%05d-%05d", p.Kind, n, len(deps)), kind)
					if err != nil {
						return err
					}
					deps = append(deps, v)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := s.phase("overwrite", func(ph *phaseState) error {
			ph.m.Metrics["fanout"] = float64(n)
			ph.m.Metrics["dependents_at_start"] = float64(len(valid(deps)))
			before := s.counters()
			err := s.mainIO(base, ws)
			if err == nil {
				err = s.commit()
			}
			after := s.counters()
			s.sync()
			ph.m.Metrics["live_dependents"] = float64(len(valid(deps)))
			if w := ph.lio.Writes; w > 0 && s.env.Counting != nil {
				d := after.Sub(before)
				ph.m.Metrics["device_writes_per_write"] = float64(d.Writes) / float64(w)
				ph.m.Metrics["device_write_bytes_per_write"] = float64(d.WriteBytes) / float64(w)
				ph.m.Metrics["device_reads_per_write"] = float64(d.Reads) / float64(w)
			}
			return err
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
