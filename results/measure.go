package results

import "sort"

// The building blocks a scenario's headline metrics (HeadlineMetric.Get)
// are written with: reading one trial's runs of one engine into a Measure.

// Measure is one trial's value of a headline metric for one engine: Value
// at X (when HasX) if OK, else State says why there is none (Unsupported,
// StatusFailed; "" when the runs simply lack it).
type Measure struct {
	Value, X float64
	HasX, OK bool
	State    string
}

// MeasureOf is the Measure of a value without an x.
func MeasureOf(v float64) Measure { return Measure{Value: v, OK: true} }

// MeasureAt is the Measure of a value at x.
func MeasureAt(v, x float64) Measure { return Measure{Value: v, X: x, HasX: true, OK: true} }

// point is one (x, y) measurement of a curve, e.g. (fan-out, write p50).
type point struct{ x, y float64 }

// Curve gathers the points of an engine's phases, and whether any phase
// that would have given one was unsupported or failed.
type Curve struct {
	points []point
	state  string
}

// End is the curve's point at the lowest x (hi false) or the highest; a
// curve of one x has no highest.
func (c Curve) End(hi bool) Measure {
	if len(c.points) == 0 {
		return Measure{State: c.state}
	}
	pts := append([]point(nil), c.points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
	p := pts[0]
	if hi {
		p = pts[len(pts)-1]
		if p.x == pts[0].x {
			return Measure{State: c.state}
		}
	}
	return MeasureAt(p.y, p.x)
}

// A PhaseValue is the y of a curve point read from a phase, if it has one.
type PhaseValue func(p *Phase) (float64, bool)

// OpP50 is the median latency of op.
func OpP50(op Op) PhaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return float64(o.P50), ok && o.Count > 0
	}
}

// OpP99 is the 99th percentile latency of op.
func OpP99(op Op) PhaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return float64(o.P99), ok && o.Count > 0
	}
}

// OpMean is the mean latency of op.
func OpMean(op Op) PhaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return o.Mean, ok && o.Count > 0
	}
}

// WriteAmp is the phase's device bytes written per logical byte written.
func WriteAmp(p *Phase) (float64, bool) {
	return p.WriteAmp(), p.Logical.WriteBytes > 0 && p.DeviceCounted()
}

// DeviceWritesPerWrite is the phase's device writes per logical write.
func DeviceWritesPerWrite(p *Phase) (float64, bool) {
	return float64(p.Device.Writes) / float64(p.Logical.Writes), p.Logical.Writes > 0 && p.DeviceCounted()
}

// runState is the headline text of a run that measured nothing usable.
func runState(r *Run, p *Phase) string {
	switch {
	case r.Status == StatusUnsupported:
		return Unsupported
	case p != nil && p.Unsupported != "":
		return Unsupported
	case r.Status == StatusFailed:
		return StatusFailed
	}
	return ""
}

// phaseState is the headline text of a phase of a curve that measured
// nothing usable: its own unsupported step, or a failed run.
func phaseState(r *Run, p *Phase) string {
	switch {
	case p.Unsupported != "":
		return Unsupported
	case r.Status == StatusFailed:
		return StatusFailed
	}
	return ""
}

// PhaseCurve collects (x, y(phase)) from every occurrence of the phase
// named phase in the runs of scenario (any scenario when ""), x from
// Metrics[xKey] else Params[xKey]. An unsupported run of scenario (or of
// the scenario named like the phase) makes the curve unsupported when it
// has no points.
func PhaseCurve(runs []*Run, scenario, phase, xKey string, y PhaseValue) Curve {
	var c Curve
	for _, r := range runs {
		if scenario != "" && r.Scenario != scenario {
			continue
		}
		if r.Status == StatusUnsupported && (r.Scenario == scenario || scenario == "" && r.Scenario == phase) {
			// The steps the engine could run still count: raw has no
			// dependents but gives the cost of a write with none.
			c.state = Unsupported
		}
		for i := range r.Phases {
			p := &r.Phases[i]
			if p.Name != phase {
				continue
			}
			x, ok := r.param(p, xKey)
			if !ok {
				continue
			}
			if s := phaseState(r, p); s != "" {
				c.state = s
				continue
			}
			if v, ok := y(p); ok {
				c.points = append(c.points, point{x, v})
			}
		}
	}
	return c
}

// SeriesCurve collects the points of the series named name of the phase
// of scenario's runs that are not sweep points; an unsupported run makes
// it unsupported.
func SeriesCurve(runs []*Run, scenario, phase, name string) Curve {
	var c Curve
	for _, r := range runs {
		if r.Scenario != scenario {
			continue
		}
		if _, sweep := r.SweepValue(); sweep {
			continue
		}
		if r.Status == StatusUnsupported {
			c.state = Unsupported
			continue
		}
		p := r.Phase(phase)
		if p == nil {
			continue
		}
		if s := phaseState(r, p); s != "" {
			c.state = s
			continue
		}
		for _, se := range p.Series {
			if se.Name == name {
				for _, pt := range se.Points {
					c.points = append(c.points, point{pt[0], pt[1]})
				}
			}
		}
	}
	return c
}

// HeadlineRun returns the one run of scenario that a metric read from a
// single run uses: an unlabelled one that is not a sweep point, else one
// that is not a sweep point, else the sweep point with the largest value;
// nil if none.
func HeadlineRun(runs []*Run, scenario string) *Run {
	var best *Run
	rank := func(r *Run) (int, float64) {
		v, sweep := r.SweepValue()
		switch {
		case !sweep && r.Name() == r.Scenario:
			return 3, 0
		case !sweep:
			return 2, 0
		}
		return 1, v
	}
	for _, r := range runs {
		if r.Scenario != scenario {
			continue
		}
		if best == nil {
			best = r
			continue
		}
		rb, vb := rank(best)
		rr, vr := rank(r)
		if rr > rb || rr == rb && vr > vb {
			best = r
		}
	}
	return best
}

// HeadlinePhase is the named phase of scenario's HeadlineRun, or nil and a
// Measure saying why there is none (the run or the phase unsupported, the
// run failed).
func HeadlinePhase(runs []*Run, scenario, phase string) (*Phase, Measure) {
	r := HeadlineRun(runs, scenario)
	if r == nil {
		return nil, Measure{}
	}
	p := r.Phase(phase)
	if s := runState(r, p); s != "" {
		return nil, Measure{State: s}
	}
	return p, Measure{}
}

// Formats of headline values (HeadlineMetric.Format).

// FormatNumber is a plain number: "1.30", "1500".
func FormatNumber(v float64) string { return fmtNum(v) }

// FormatTimes is a factor: "1.30×".
func FormatTimes(v float64) string { return fmtNum(v) + "×" }

// FormatGrowth is a growth ratio: "×3.87".
func FormatGrowth(v float64) string { return "×" + fmtNum(v) }

// FormatBytes is a size in bytes with a binary unit: "512B", "1.50MiB".
func FormatBytes(v float64) string { return fmtBytes(v) }

// FormatNanos is a duration in nanoseconds: "850ns", "3.40ms".
func FormatNanos(v float64) string { return fmtDuration(v) }

// FormatSeconds is a duration in seconds, shown as FormatNanos does.
func FormatSeconds(v float64) string { return fmtDuration(v * 1e9) }
