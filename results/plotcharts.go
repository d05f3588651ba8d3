package results

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/plot/plotter"
)

// minSamples is the fewest operations a latency distribution or
// percentile is drawn from: fewer say nothing about a distribution.
const minSamples = 10

// group is the runs of one scenario at one sweep point (or not a sweep).
type group struct {
	scenario, param, value string
	runs                   []*Run
}

func (g group) name() string {
	if g.param == "" {
		return g.scenario
	}
	return g.scenario + "-" + g.param + g.value
}

func (g group) title() string {
	if g.param == "" {
		return g.scenario
	}
	return fmt.Sprintf("%s (%s=%s)", g.scenario, g.param, g.value)
}

func groups(runs []*Run) []group {
	var out []group
	idx := map[string]int{}
	for _, r := range runs {
		p, v := r.SweepPoint()
		k := r.Name() + "\x00" + p + "\x00" + v
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, group{scenario: r.Name(), param: p, value: v})
		}
		out[i].runs = append(out[i].runs, r)
	}
	return out
}

func cdfCharts(runs []*Run) []chart {
	var out []chart
	for _, g := range groups(runs) {
		idx := indexPhases(g.runs)
		for _, ph := range idx.ids {
			var ops []Op
			seen := map[Op]bool{}
			for _, r := range g.runs {
				if p := idx.get(r, ph); p != nil {
					for op, o := range p.Ops {
						if o.Hist != "" && !seen[op] {
							seen[op] = true
							ops = append(ops, op)
						}
					}
				}
			}
			sortOps(ops)
			for _, op := range ops {
				if c, ok := cdfChart(g, idx, ph, op); ok {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func cdfChart(g group, idx phaseIndex, phase string, op Op) (chart, bool) {
	var lines []percentileLine
	for _, r := range g.runs {
		p := idx.get(r, phase)
		if p == nil || p.Unsupported != "" {
			continue
		}
		h, err := p.Ops[op].Histogram()
		if err != nil || h == nil || h.TotalCount() < minSamples {
			continue
		}
		lines = append(lines, percentileLine{engine: r.Engine, label: r.Engine, hist: h})
	}
	if len(lines) == 0 {
		return chart{}, false
	}
	f := percentilePanel("", string(op)+" latency", lines)
	title := fmt.Sprintf("%s / %s: %s latency by percentile", g.title(), phase, op)
	return newChart(fileName(g.name(), phase, string(op), "cdf"), title,
		"latency at each percentile; the x axis stretches the tail (1/(1−p), log scale)", f), true
}

// sweepMetric is a value drawn against a sweep parameter.
type sweepMetric struct {
	key, label, unit string // unit "ns" is scaled for display
	get              func(p *Phase) (float64, bool)
}

func sweepMetrics(rs []*Run, idx phaseIndex, phase, param string) []sweepMetric {
	var ps []*Phase
	for _, r := range rs {
		if p := idx.get(r, phase); p != nil {
			ps = append(ps, p)
		}
	}
	return phaseMetrics(ps, param, true)
}

// phaseMetrics lists what to draw of phases against a parameter: p50 and
// p99 of every operation kind with enough samples, write amplification,
// throughput and, when withMetrics, every Metrics key but the parameter.
func phaseMetrics(ps []*Phase, param string, withMetrics bool) []sweepMetric {
	var ops []Op
	seen := map[Op]bool{}
	metrics := map[string]bool{}
	for _, p := range ps {
		for op, o := range p.Ops {
			if o.Count >= minSamples && !seen[op] {
				seen[op] = true
				ops = append(ops, op)
			}
		}
		for k := range p.Metrics {
			if k != param && withMetrics {
				metrics[k] = true
			}
		}
	}
	sortOps(ops)
	var out []sweepMetric
	for _, op := range ops {
		out = append(out,
			sweepMetric{string(op) + "-p50", string(op) + " p50 latency", "ns", func(p *Phase) (float64, bool) {
				o := p.Ops[op]
				return float64(o.P50), o.Count >= minSamples
			}},
			sweepMetric{string(op) + "-p99", string(op) + " p99 latency", "ns", func(p *Phase) (float64, bool) {
				o := p.Ops[op]
				return float64(o.P99), o.Count >= minSamples
			}})
	}
	out = append(out,
		sweepMetric{"write-amp", "write amplification", "×", func(p *Phase) (float64, bool) {
			return p.WriteAmp(), p.Logical.WriteBytes > 0 && p.DeviceCounted()
		}},
		sweepMetric{"ops-per-s", "throughput", "ops/s", func(p *Phase) (float64, bool) { return opsPerSecond(nil, p) }})
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, unit := SplitUnit(k)
		name = humanName(name)
		if s, ok := nsPer[unit]; ok {
			out = append(out, sweepMetric{k, name, "ns", func(p *Phase) (float64, bool) {
				v, ok := p.Metrics[k]
				return v * s, ok
			}})
			continue
		}
		out = append(out, sweepMetric{k, name, unit, func(p *Phase) (float64, bool) { v, ok := p.Metrics[k]; return v, ok }})
	}
	return out
}

func sweepCharts(runs []*Run) []chart {
	type sweep struct{ scenario, param string }
	var sweeps []sweep
	seen := map[sweep]bool{}
	for _, r := range runs {
		if p, _ := r.SweepPoint(); p != "" {
			s := sweep{r.Name(), p}
			if !seen[s] {
				seen[s] = true
				sweeps = append(sweeps, s)
			}
		}
	}
	var out []chart
	for _, s := range sweeps {
		var rs []*Run
		for _, r := range runs {
			if p, _ := r.SweepPoint(); r.Name() == s.scenario && p == s.param {
				rs = append(rs, r)
			}
		}
		idx := indexPhases(rs)
		for _, ph := range idx.ids {
			for _, m := range sweepMetrics(rs, idx, ph, s.param) {
				if c, ok := sweepChart(s.scenario, s.param, ph, m, rs, idx); ok {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func sweepChart(scenario, param, phase string, m sweepMetric, rs []*Run, idx phaseIndex) (chart, bool) {
	pts := map[string]plotter.XYs{}
	var engs []string
	for _, r := range rs {
		x, ok := r.SweepValue()
		p := idx.get(r, phase)
		if !ok || p == nil || p.Unsupported != "" || r.Status == StatusUnsupported {
			continue
		}
		y, ok := m.get(p)
		if !ok || !isFinite(y) {
			continue
		}
		if _, ok := pts[r.Engine]; !ok {
			engs = append(engs, r.Engine)
		}
		pts[r.Engine] = append(pts[r.Engine], plotter.XY{X: x, Y: y})
	}
	return curveChart(fmt.Sprintf("%s / %s: %s vs %s", scenario, phase, m.label, param),
		fileName(scenario, "sweep", param, phase, m.key), param, m, engs, pts)
}

// instanceCharts draws, for a phase that a run repeats with one parameter
// (read at each depth, overwrite at each fan-out of a list), its key
// metrics against that parameter: <scenario>-<phase>-vs-<key>-<metric>.
func instanceCharts(runs []*Run) []chart {
	var out []chart
	for _, g := range groups(runs) {
		inst := instanceKeys(g.runs)
		for _, name := range phaseNames(g.runs) {
			keys := inst[name]
			if len(keys) != 1 {
				continue
			}
			key := keys[0]
			var all []*Phase
			perEngine := map[string][]*Phase{}
			var engs []string
			for _, r := range g.runs {
				for i := range r.Phases {
					p := &r.Phases[i]
					if _, ok := p.Metrics[key]; p.Name != name || !ok || p.Unsupported != "" {
						continue
					}
					if perEngine[r.Engine] == nil {
						engs = append(engs, r.Engine)
					}
					perEngine[r.Engine] = append(perEngine[r.Engine], p)
					all = append(all, p)
				}
			}
			for _, m := range phaseMetrics(all, key, false) {
				pts := map[string]plotter.XYs{}
				var have []string
				for _, e := range engs {
					for _, p := range perEngine[e] {
						if y, ok := m.get(p); ok && isFinite(y) {
							if pts[e] == nil {
								have = append(have, e)
							}
							pts[e] = append(pts[e], plotter.XY{X: p.Metrics[key], Y: y})
						}
					}
				}
				title := fmt.Sprintf("%s / %s: %s vs %s", g.title(), name, m.label, key)
				if c, ok := curveChart(title, fileName(g.name(), name, "vs", key, m.key), key, m, have, pts); ok {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// curveChart draws one line per engine of a metric against a parameter,
// with log axes where the values span enough.
func curveChart(title, name, param string, m sweepMetric, engs []string, pts map[string]plotter.XYs) (chart, bool) {
	if len(engs) == 0 || m.unit == "" && yesNo(engs, pts) {
		return chart{}, false
	}
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, e := range engs {
		for _, pt := range pts[e] {
			xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
	}
	unit, scale := m.unit, 1.0
	if unit == "ns" {
		unit, scale = durationUnit(math.Sqrt(math.Max(ymin, 1) * math.Max(ymax, 1)))
	}
	ylabel := m.label
	if unit != "" {
		ylabel += " (" + unit + ")"
	}
	logY := ymin > 0 && ymax/ymin >= 20
	if logY {
		ylabel += ", log scale"
	}
	f := newPlot("", humanName(param), ylabel)
	var lines []plotterLine
	for _, e := range engs {
		xys := append(plotter.XYs(nil), pts[e]...)
		sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
		for i := range xys {
			xys[i].Y /= scale
		}
		lines = append(lines, plotterLine{engine: e, label: e, xys: xys})
	}
	// Log x (0 drawn at the left) for values spanning a decade.
	if pos := xmax / math.Max(xmin, math.SmallestNonzeroFloat64); xmin >= 0 && xmax >= 10 && (xmin == 0 || pos >= 10) && xLogWithZero(f, lines) {
		f.p.X.Label.Text += " (log scale)"
	}
	for _, l := range lines {
		_ = f.addLine(l.engine, l.label, l.xys, true)
	}
	if logY {
		f.logAxis(false, ymin/scale/1.3, ymax/scale*1.3, nil)
	} else {
		f.p.Y.Min = math.Min(0, ymin/scale)
	}
	return newChart(name, title, "", f), true
}

func seriesCharts(runs []*Run) []chart {
	var out []chart
	for _, g := range groups(runs) {
		idx := indexPhases(g.runs)
		for _, ph := range idx.ids {
			var names []string
			seen := map[string]bool{}
			for _, r := range g.runs {
				if p := idx.get(r, ph); p != nil {
					for _, s := range p.Series {
						if !seen[s.Name] && len(s.Points) > 0 {
							seen[s.Name] = true
							names = append(names, s.Name)
						}
					}
				}
			}
			for _, n := range names {
				out = append(out, seriesChart(g, idx, ph, n))
			}
		}
	}
	return out
}

func seriesChart(g group, idx phaseIndex, phase, name string) chart {
	var xUnit, yUnit string
	ymin, ymax := math.Inf(1), math.Inf(-1)
	type line struct {
		engine string
		xys    plotter.XYs
	}
	var lines []line
	for _, r := range g.runs {
		p := idx.get(r, phase)
		if p == nil || p.Unsupported != "" {
			continue
		}
		for _, s := range p.Series {
			if s.Name != name || len(s.Points) == 0 {
				continue
			}
			xUnit, yUnit = s.XUnit, s.YUnit
			xys := make(plotter.XYs, len(s.Points))
			for i, pt := range s.Points {
				xys[i] = plotter.XY{X: pt[0], Y: pt[1]}
				ymin, ymax = math.Min(ymin, pt[1]), math.Max(ymax, pt[1])
			}
			lines = append(lines, line{r.Engine, xys})
		}
	}
	scale := 1.0
	if s, ok := nsPer[yUnit]; ok {
		yUnit, scale = durationUnit(math.Sqrt(math.Max(ymin*s, 1) * math.Max(ymax*s, 1)))
		scale /= s
	}
	ylabel := humanName(name)
	if yUnit != "" {
		ylabel += " (" + yUnit + ")"
	}
	f := newPlot("", xUnit, ylabel)
	logY := ymin > 0 && ymax/ymin >= 20
	for _, l := range lines {
		for i := range l.xys {
			l.xys[i].Y /= scale
		}
		if err := f.addLine(l.engine, l.engine, l.xys, len(l.xys) <= 30); err != nil {
			continue
		}
	}
	if logY {
		f.logAxis(false, ymin/scale/1.3, ymax/scale*1.3, nil)
		f.p.Y.Label.Text += ", log scale"
	} else {
		f.p.Y.Min = math.Min(0, ymin/scale)
	}
	return newChart(fileName(g.name(), phase, "series", name), fmt.Sprintf("%s / %s: %s", g.title(), phase, humanName(name)), "", f)
}

// yesNo reports whether every y is 0 or 1: a flag (batched, template
// deleted), which a line chart does not tell anything about.
func yesNo(engs []string, pts map[string]plotter.XYs) bool {
	for _, e := range engs {
		for _, pt := range pts[e] {
			if pt.Y != 0 && pt.Y != 1 {
				return false
			}
		}
	}
	return true
}
