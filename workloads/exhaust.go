package workloads

import (
	"errors"
	"fmt"

	"github.com/snapbench/snapbench/strategies"
)

// ExhaustParams are the keys of the "exhaust" scenario.
type ExhaustParams struct {
	Kind      string // "snapshot", "clone" or "mix" (alternate)
	RoundOps  int64  // base writes per round
	CloneOps  int64  // writes to each new clone
	AfterOps  int64  // base writes once space has run out
	MaxRounds int    // safety limit on rounds
	Prefill   bool   // write the working set once first
}

func init() { register(exhaustDef()) }

func exhaustDef() *scenarioDef {
	return &scenarioDef{
		order: 50,
		name:  "exhaust",
		doc: "Keep taking snapshots/clones of a base and writing to it until space runs out; record what " +
			"each engine does (failed creates and writes, snapshots it invalidated or expired), write on to " +
			"the base once full, and verify every surviving volume whole. Phases: create, prefill, fill-up, " +
			"after-full, verify.",
		opsHelp: "cap on the base writes of fill-up (0: none)",
		defaults: func(sc *Scenario) {
			sc.VolumeSize, sc.Ops = 16<<20, 0
			sc.Params = &ExhaustParams{Kind: "mix", RoundOps: 1024, CloneOps: 256, AfterOps: 1024, MaxRounds: 100000, Prefill: true}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*ExhaustParams)
			return []param{
				enumParam("kind", "what each round makes; mix alternates", &p.Kind, "snapshot", "clone", "mix"),
				int64Param("round_ops", "base writes per round", &p.RoundOps, 1),
				int64Param("clone_ops", "writes to each new clone", &p.CloneOps, 0),
				int64Param("after_ops", "base writes once space has run out", &p.AfterOps, 0),
				intParam("max_rounds", "safety limit on rounds", &p.MaxRounds, 1, 1<<30),
				boolParam("prefill", "write the working set once first", &p.Prefill),
			}
		},
		writes: func(sc *Scenario) []int64 { return prefillWrites(sc, sc.Params.(*ExhaustParams).Prefill) },
		reads:  func(sc *Scenario) []int64 { return []int64{fillBlock(sc.workingSet(), sc.Pattern.MaxBlock())} },
		run:    runExhaust,
	}
}

// exhaustRun is one run of exhaust: the base volume, the writes that fill
// the device, and the space before the first copy. Each phase is a method;
// runExhaust runs them in order.
type exhaustRun struct {
	s       *session
	p       *ExhaustParams
	ws      int64
	caps    strategies.Caps
	base    *vol
	writes  Pattern // the main pattern, writes only, unthrottled
	spaceAt strategies.Space
}

func runExhaust(s *session) error {
	r := &exhaustRun{s: s, p: s.sc.Params.(*ExhaustParams), ws: s.sc.workingSet(), caps: s.eng.Caps(), writes: s.sc.Pattern}
	r.writes.ReadPct, r.writes.Rate = 0, 0
	var err error
	if r.base, err = s.createBase("base", r.p.Prefill, r.ws); err != nil {
		return err
	}
	r.spaceAt = s.eng.Space()
	if err := s.phase("fill-up", r.fillUp); err != nil {
		return err
	}
	if r.p.AfterOps > 0 {
		if err := s.phase("after-full", r.afterFull); err != nil {
			return err
		}
	}
	return s.phase("verify", r.verify)
}

// writeTo writes ops of the write pattern to v on the queue-depth
// workers, tolerating a full device (and stopping at it with stopOnFull).
func (r *exhaustRun) writeTo(v *vol, ops int64, stopOnFull bool) (ioResult, error) {
	t, err := r.s.target(v)
	if err != nil {
		return ioResult{}, err
	}
	st, err := r.s.patternStreams(r.writes, t, 0, r.ws, ops, r.s.sc.QD)
	if err != nil {
		return ioResult{}, err
	}
	return r.s.io(ioRun{streams: st, total: ops, tolerate: true, stopOnFull: stopOnFull})
}

// fillUp takes copies of the base (snapshots, clones or both, as kind
// says) and writes to the base (and to each clone) after each, until the
// device is full, the rounds or the op budget are spent.
func (r *exhaustRun) fillUp(ph *phaseState) error {
	s, p, caps := r.s, r.p, r.caps
	switch {
	case p.Kind == "snapshot" || (p.Kind == "mix" && !caps.Clone):
		if err := s.need(caps.Snapshot, "snapshots"); err != nil {
			return err
		}
	case p.Kind == "clone" || (p.Kind == "mix" && !caps.Snapshot):
		if err := s.need(caps.Clone, "clones"); err != nil {
			return err
		}
	}
	var rounds, snaps, clones, failedCreates int
	var failedWrites, written int64
	// The phase fills these in when the engine invalidates or expires
	// volumes (see session.phase); here, 0 must show too.
	ph.m.Metrics["invalidated"], ph.m.Metrics["expired_by_engine"] = 0, 0
	full := false
	for round := 0; round < p.MaxRounds && !full; round++ {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		kind := strategies.KindSnapshot
		if p.Kind == "clone" || (p.Kind == "mix" && round%2 == 1 && caps.Clone) || !caps.Snapshot {
			kind = strategies.KindClone
		}
		rounds++
		v, err := s.copyOf(r.base, fmt.Sprintf("copy-%05d", round), kind)
		switch {
		case err != nil && isNoSpace(err):
			failedCreates++
			full = true
			continue
		case err != nil:
			return err
		case kind == strategies.KindClone:
			clones++
		default:
			snaps++
		}
		ops := p.RoundOps
		if s.sc.Ops > 0 {
			ops = min(ops, s.sc.Ops-written)
		}
		res, err := r.writeTo(r.base, ops, true)
		if err != nil {
			return err
		}
		written += ops
		failedWrites += res.noSpace + res.invalid
		full = full || res.noSpace > 0
		if kind == strategies.KindClone && p.CloneOps > 0 && !full {
			res, err := r.writeTo(v, p.CloneOps, true)
			if err != nil {
				return err
			}
			failedWrites += res.noSpace + res.invalid
			full = full || res.noSpace > 0
			s.release(v)
		}
		s.sync()
		if s.sc.Ops > 0 && written >= s.sc.Ops {
			break
		}
	}
	m := ph.m.Metrics
	m["rounds"], m["snapshots"], m["clones"] = float64(rounds), float64(snaps), float64(clones)
	m["failed_creates"], m["failed_writes"] = float64(failedCreates), float64(failedWrites)
	m["full"] = b2f(full)
	return nil
}

// afterFull writes to the base on the full device.
func (r *exhaustRun) afterFull(ph *phaseState) error {
	res, err := r.writeTo(r.base, r.p.AfterOps, false)
	if err != nil {
		return err
	}
	m := ph.m.Metrics
	m["failed_writes"] = float64(res.noSpace + res.invalid)
	m["invalidated"], m["expired_by_engine"] = 0, 0
	return nil
}

// verify reads every surviving volume back against the oracle and counts
// the volumes the engine invalidated or expired.
func (r *exhaustRun) verify(ph *phaseState) error {
	s := r.s
	var verified, invalidVols int
	for _, v := range s.live() {
		if v.invalid {
			invalidVols++
			s.release(v)
			continue
		}
		if s.mode == VerifyOff {
			continue
		}
		if err := s.pass(v, r.ws, 0, false); err != nil {
			if errors.Is(err, strategies.ErrInvalidated) {
				invalidVols++
				s.release(v)
				continue
			}
			return err
		}
		verified++
		s.release(v)
	}
	sp := s.eng.Space()
	m := ph.m.Metrics
	m["verified_volumes"], m["invalid_volumes"] = float64(verified), float64(invalidVols)
	m["surviving_volumes"] = float64(len(s.live()))
	m["verified_bytes"] = float64(int64(verified) * r.ws)
	m["engine_invalidated"] = float64(sp.Invalidated - r.spaceAt.Invalidated)
	m["engine_expired"] = float64(sp.Expired - r.spaceAt.Expired)
	return nil
}
