package results

import (
	"fmt"
	"math"
	"sort"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot/plotter"
)

// ThesisFigure is one figure of plot's default set (the figures that
// answer the suite's questions), declared by the scenario it illustrates
// (ThesisScenario). It is drawn once per label the scenario ran under, only
// when the runs carry its data (trials collapsed to their median run).
type ThesisFigure struct {
	Name    string // file name, after the label: "<label>-<Name>.svg"
	Title   string // after the scenario's title: "<title>: <Title>"
	Caption string
	Draw    ThesisDraw
}

// ThesisScenario is a scenario's figures, in the order drawn.
type ThesisScenario struct {
	Scenario string
	Title    string // readers' name of the scenario ("Clone bush")
	Order    int    // place among the scenarios: lower first
	Figures  []ThesisFigure
}

// ThesisDraw draws a figure's panels from the runs of one scenario label;
// none when they lack the data. The constructors below are the kinds.
type ThesisDraw struct {
	draw func(t thesis) []*figure
}

var thesisScenarios = ordered[ThesisScenario]{what: "thesis figures of scenario",
	id: func(ts ThesisScenario) (string, int) { return ts.Scenario, ts.Order }}

// RegisterThesis adds a scenario's figures to plot's default set. It
// panics on a scenario without a name or title, a figure without a name
// or a Draw, or a scenario or order already registered. Call it from init
// functions (see ordered).
func RegisterThesis(ts ThesisScenario) {
	if ts.Scenario == "" || ts.Title == "" {
		panic(fmt.Sprintf("results: thesis figures of %q: want a scenario and a title", ts.Scenario))
	}
	for _, f := range ts.Figures {
		if f.Name == "" || f.Draw.draw == nil {
			panic(fmt.Sprintf("results: thesis figure %q of %s: want a name and a Draw", f.Name, ts.Scenario))
		}
	}
	thesisScenarios.add(ts)
}

// thesisCharts are the registered figures (RegisterThesis) the runs have
// data for: per scenario in order, per label the scenario ran under, per
// figure in order. A scenario run under several labels gets its figures
// once per label. Legend labels carry an engine's condition ("cow (31/32
// invalidated)").
func thesisCharts(runs []*Run) []chart {
	runs = sortedCopy(CollapseTrials(runs))
	var out []chart
	for _, ts := range thesisScenarios.items {
		for _, name := range scenarios(runs) {
			var rs []*Run
			for _, r := range runsOf(runs, name) {
				if r.Scenario == ts.Scenario {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			t := thesis{name: name, title: name, runs: rs}
			if name == ts.Scenario {
				t.title = ts.Title
			}
			for _, f := range ts.Figures {
				if figs := f.Draw.draw(t); len(figs) > 0 {
					out = append(out, newChart(t.chartName(f.Name), t.title+": "+f.Title, f.Caption, figs...))
				}
			}
		}
	}
	return out
}

// thesis is the runs of one scenario name (label), one per engine and
// sweep point.
type thesis struct {
	name  string // the label
	title string // the scenario's title, or the label when it has its own
	runs  []*Run
}

// legendLabel is the engine's name and, when one of its runs here is
// degraded or failed, its condition.
func (t thesis) legendLabel(engine string) string {
	for _, r := range t.runs {
		if r.Engine == engine {
			if c := Condition(r); c != "" {
				return engine + " (" + c + ")"
			}
		}
	}
	return engine
}

// phaseAt is a phase of a run and the x it is drawn at.
type phaseAt struct {
	run   *Run
	phase *Phase
	x     float64
}

// phasesBy returns, per engine in engine order, the supported phases
// named phase with their x: the phase's Metrics[xKey], or the run's sweep
// value when the phase lacks it.
func (t thesis) phasesBy(phase, xKey string) ([]string, map[string][]phaseAt) {
	var engs []string
	out := map[string][]phaseAt{}
	for _, r := range t.runs {
		for i := range r.Phases {
			p := &r.Phases[i]
			if p.Name != phase || p.Unsupported != "" {
				continue
			}
			x, ok := p.Metrics[xKey]
			if !ok {
				if sp, _ := r.SweepPoint(); sp == xKey {
					x, ok = r.SweepValue()
				}
			}
			if !ok {
				continue
			}
			if out[r.Engine] == nil {
				engs = append(engs, r.Engine)
			}
			out[r.Engine] = append(out[r.Engine], phaseAt{r, p, x})
		}
	}
	for _, e := range engs {
		sort.SliceStable(out[e], func(i, j int) bool { return out[e][i].x < out[e][j].x })
	}
	return engs, out
}

// curveOf is, per engine, the y of get at each phase (phases without a
// value are left out).
func curveOf(engs []string, by map[string][]phaseAt, get PhaseValue) []plotterLine {
	var lines []plotterLine
	for _, e := range engs {
		var xys plotter.XYs
		for _, pa := range by[e] {
			if y, ok := get(pa.phase); ok && isFinite(y) {
				xys = append(xys, plotter.XY{X: pa.x, Y: y})
			}
		}
		if len(xys) > 0 {
			lines = append(lines, plotterLine{engine: e, xys: xys})
		}
	}
	return lines
}

// latencyPanel draws lines of nanosecond values in one duration unit,
// with x log (0 at the left) when logX, and y log when the values span
// more than 20×.
func (t thesis) latencyPanel(title, xLabel, yLabel string, lines []plotterLine, logX bool) *figure {
	return t.panel(panelSpec{title: title, xLabel: xLabel, yLabel: yLabel, unit: "ns", logX: logX}, lines)
}

// panelSpec describes a panel of lines.
type panelSpec struct {
	title, xLabel, yLabel string
	unit                  string // of y; "ns" and "bytes" are scaled to a readable unit
	logX                  bool   // log x (0 drawn at the left) when the positive x span enough
	logY                  bool   // log y whenever y > 0 (else when y spans more than 20×)
}

// panel draws lines as spec says; their points are rescaled, not changed.
func (t thesis) panel(spec panelSpec, lines []plotterLine) *figure {
	title, xLabel, yLabel, unit, logX := spec.title, spec.xLabel, spec.yLabel, spec.unit, spec.logX
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, pt := range l.xys {
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
	}
	scale := 1.0
	switch unit {
	case "ns":
		unit, scale = durationUnit(math.Sqrt(math.Max(ymin, 1) * math.Max(ymax, 1)))
	case "bytes":
		unit, scale = bytesUnit(math.Sqrt(math.Max(ymin, 1) * math.Max(ymax, 1)))
	}
	logY := ymin > 0 && (ymax/ymin > 20 || spec.logY && ymax > ymin)
	if unit != "" {
		yLabel += " (" + unit
		if logY {
			yLabel += ", log scale"
		}
		yLabel += ")"
	} else if logY {
		yLabel += " (log scale)"
	}
	f := newPlot(title, xLabel, yLabel)
	for i := range lines {
		xys := append(plotter.XYs(nil), lines[i].xys...)
		for j := range xys {
			xys[j].Y /= scale
		}
		lines[i].xys = xys
	}
	if logX && xLogWithZero(f, lines) {
		f.p.X.Label.Text += " (log scale)"
	}
	for _, l := range lines {
		_ = f.addLine(l.engine, t.legendLabel(l.engine), l.xys, len(l.xys) <= 30)
	}
	if logY {
		f.logAxis(false, ymin/scale/1.3, ymax/scale*1.3, nil)
	} else if len(lines) > 0 {
		f.p.Y.Min = math.Min(0, ymin/scale)
	}
	return f
}

// bytesUnit picks a binary unit for byte values around v.
func bytesUnit(v float64) (string, float64) {
	switch {
	case v >= 1<<30:
		return "GiB", 1 << 30
	case v >= 1<<20:
		return "MiB", 1 << 20
	case v >= 1<<10:
		return "KiB", 1 << 10
	}
	return "bytes", 1
}

func (t thesis) chartName(parts ...string) string {
	return fileName(append([]string{t.name}, parts...)...)
}

// LatencyAgainst draws op's latency (p50 | p99) in the phases named phase
// against their xKey (Metrics, else the run's parameter), log x with 0 at
// the left; nothing unless some engine has two x or more.
func LatencyAgainst(phase, xKey, xLabel, yLabel string, op Op) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		engs, by := t.phasesBy(phase, xKey)
		p50 := curveOf(engs, by, OpP50(op))
		p99 := curveOf(engs, by, OpP99(op))
		if !spans(p50) {
			return nil
		}
		return []*figure{t.latencyPanel("median (p50)", xLabel, yLabel, p50, true),
			t.latencyPanel("99th percentile", xLabel, yLabel, p99, true)}
	}}
}

// BytesPerWriteAgainst draws device bytes written per logical write in the
// phases named phase (Metrics["device_write_bytes_per_write"], else
// Device.WriteBytes / Logical.Writes) against their xKey, log–log.
func BytesPerWriteAgainst(phase, xKey, xLabel, yLabel string) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		engs, by := t.phasesBy(phase, xKey)
		lines := curveOf(engs, by, func(p *Phase) (float64, bool) {
			if v, ok := p.Metrics["device_write_bytes_per_write"]; ok {
				return v, v > 0
			}
			if p.Logical.Writes == 0 || !p.DeviceCounted() || p.Device.WriteBytes == 0 {
				return 0, false
			}
			return float64(p.Device.WriteBytes) / float64(p.Logical.Writes), true
		})
		if !spans(lines) {
			return nil
		}
		return []*figure{t.panel(panelSpec{xLabel: xLabel, yLabel: yLabel, unit: "bytes", logX: true, logY: true}, lines)}
	}}
}

// spans reports whether lines have some engine with two points or more:
// one point per engine is no curve.
func spans(lines []plotterLine) bool {
	for _, l := range lines {
		if len(l.xys) >= 2 {
			return true
		}
	}
	return false
}

// DistributionAtEnds draws op's latency by percentile in the phases named
// phase at the lowest and the highest xKey, one panel each titled
// "<xName> <x>".
func DistributionAtEnds(phase, xKey, xName, yLabel string, op Op) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		engs, by := t.phasesBy(phase, xKey)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, e := range engs {
			for _, pa := range by[e] {
				lo, hi = math.Min(lo, pa.x), math.Max(hi, pa.x)
			}
		}
		if !(hi > lo) {
			return nil
		}
		panel := func(x float64) *figure {
			var lines []percentileLine
			for _, e := range engs {
				for _, pa := range by[e] {
					if pa.x != x {
						continue
					}
					if h, err := pa.phase.Ops[op].Histogram(); err == nil && h != nil && h.TotalCount() >= minSamples {
						lines = append(lines, percentileLine{engine: e, label: t.legendLabel(e), hist: h})
					}
				}
			}
			return percentilePanel(fmt.Sprintf("%s %s", xName, fmtRaw(x)), yLabel, lines)
		}
		return []*figure{panel(lo), panel(hi)}
	}}
}

// SecondsAgainst draws Metrics[metric], in seconds, of the phases named
// phase against their xKey, as a duration, log x; nothing unless some
// engine has two x or more.
func SecondsAgainst(phase, xKey, metric, xLabel, yLabel string) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		engs, by := t.phasesBy(phase, xKey)
		lines := curveOf(engs, by, func(p *Phase) (float64, bool) {
			v, ok := p.Metrics[metric]
			return v * 1e9, ok
		})
		if !spans(lines) {
			return nil
		}
		return []*figure{t.latencyPanel("", xLabel, yLabel, lines, true)}
	}}
}

// PhaseDistribution draws the latency by percentile of each op of the
// phase named phase, a panel per op (titled "<op>s" when there are
// several).
func PhaseDistribution(phase string, ops ...Op) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		figs := t.opDistribution(phase, ops...)
		if len(ops) == 1 && len(figs) == 1 {
			figs[0].p.Title.Text = ""
		}
		return figs
	}}
}

// opDistribution draws one panel per op of the phase's latency by
// percentile.
func (t thesis) opDistribution(phase string, ops ...Op) []*figure {
	var figs []*figure
	for _, op := range ops {
		var lines []percentileLine
		for _, r := range t.runs {
			p := r.Phase(phase)
			if p == nil || p.Unsupported != "" {
				continue
			}
			if h, err := p.Ops[op].Histogram(); err == nil && h != nil && h.TotalCount() >= minSamples {
				lines = append(lines, percentileLine{engine: r.Engine, label: t.legendLabel(r.Engine), hist: h})
			}
		}
		if len(lines) > 0 {
			figs = append(figs, percentilePanel(string(op)+"s", string(op)+" latency", lines))
		}
	}
	return figs
}

// PhasesOverTime draws each phase's read and write p99 at the phase's time
// in the run: one step per phase, a line per engine.
func PhasesOverTime() ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		var figs []*figure
		for _, op := range []Op{OpRead, OpWrite} {
			var lines []plotterLine
			for _, r := range t.runs {
				var xys plotter.XYs
				offset := 0.0
				for i := range r.Phases {
					p := &r.Phases[i]
					start := offset
					if !p.Started.IsZero() && !r.Started.IsZero() {
						start = p.Started.Sub(r.Started).Seconds()
					}
					offset = start + p.Seconds
					o, ok := p.Ops[op]
					if p.Unsupported != "" || !ok || o.Count < minSamples || o.P99 <= 0 {
						continue
					}
					xys = append(xys, plotter.XY{X: start, Y: float64(o.P99)}, plotter.XY{X: start + p.Seconds, Y: float64(o.P99)})
				}
				if len(xys) > 2 {
					lines = append(lines, plotterLine{engine: r.Engine, xys: xys})
				}
			}
			if len(lines) > 0 {
				f := t.panel(panelSpec{title: string(op) + "s", xLabel: "time since the run started (s)",
					yLabel: string(op) + " p99 latency", unit: "ns"}, lines)
				figs = append(figs, f)
			}
		}
		return figs
	}}
}

// seriesLines is, per engine, the named series of the phase.
func (t thesis) seriesLines(phase, name string) (lines []plotterLine, xUnit, yUnit string) {
	for _, r := range t.runs {
		p := r.Phase(phase)
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
			}
			lines = append(lines, plotterLine{engine: r.Engine, xys: xys})
		}
	}
	return lines, xUnit, yUnit
}

// SeriesLatency draws two latency series of the phase (p50 | p99) against
// their x (the series' XUnit).
func SeriesLatency(phase, p50Series, p99Series, yLabel string) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		p50, xUnit, _ := t.seriesLines(phase, p50Series)
		p99, _, _ := t.seriesLines(phase, p99Series)
		if len(p50) == 0 && len(p99) == 0 {
			return nil
		}
		return []*figure{t.latencyPanel("median (p50)", xUnit, yLabel, p50, false),
			t.latencyPanel("99th percentile", xUnit, yLabel, p99, false)}
	}}
}

// SeriesPanel is one panel of a series: its name in the phase, the
// panel's title, y label and y unit ("ns" and "bytes" are scaled to a
// readable unit).
type SeriesPanel struct {
	Series, Title, YLabel, Unit string
}

// SeriesAgainst draws each panel's series of the phase against its x (the
// series' XUnit), or, with overTime, against "time in the <phase> phase";
// a panel whose series the runs lack is left out.
func SeriesAgainst(phase string, overTime bool, panels ...SeriesPanel) ThesisDraw {
	return ThesisDraw{func(t thesis) []*figure {
		var figs []*figure
		for _, sp := range panels {
			lines, xUnit, _ := t.seriesLines(phase, sp.Series)
			if len(lines) == 0 {
				continue
			}
			xLabel := xUnit
			if overTime {
				xLabel = "time in the " + phase + " phase (" + xUnit + ")"
			}
			figs = append(figs, t.panel(panelSpec{title: sp.Title, xLabel: xLabel, yLabel: sp.YLabel, unit: sp.Unit}, lines))
		}
		return figs
	}}
}

// humanNames are readers' names of series and metric keys.
var humanNames = map[string]string{
	"base_write_p99":               "base write p99 latency",
	"base_write_p50":               "base write p50 latency",
	"base_write_mean":              "base write mean latency",
	"base_write_amp":               "device bytes per base byte written",
	"live_snapshots":               "live snapshots",
	"space_data":                   "data space",
	"device_write_bytes_per_write": "device bytes written per write",
	"device_writes_per_write":      "device writes per write",
	"device_reads_per_write":       "device reads per write",
	"space_per_clone":              "space per clone",
	"fanout":                       "fan-out",
}

// humanName is a reader's name for a series or metric key: from
// humanNames, else the key with spaces for underscores.
func humanName(key string) string {
	if h, ok := humanNames[key]; ok {
		return h
	}
	return strings.ReplaceAll(key, "_", " ")
}

// percentileLine is one engine's latency histogram.
type percentileLine struct {
	engine, label string
	hist          *hdr.Histogram
}
