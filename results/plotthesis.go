package results

import (
	"fmt"
	"math"
	"sort"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot/plotter"
)

// thesisCharts are the figures that answer the suite's questions, each
// drawn only when the runs carry its data (trials collapsed to their
// median run):
//
//   - overwrite: base write latency (p50 | p99) against fan-out, log x with
//     0 at the left; device bytes written per base write against fan-out,
//     log–log; the base write latency distribution at the lowest and the
//     highest fan-out
//   - clonebush: clone burst time against burst size where clones was
//     swept; the boot storm's read and write latency distributions; read
//     and write p99 of each phase over the run's time
//   - snaptree: base write latency (p50 | p99) and device bytes per base
//     byte against live snapshots; live snapshots and data space over
//     time; the steady phase's write latency distribution
//   - chainread: read latency (p50 | p99) against chain depth
//
// A scenario run under several labels gets its figures once per label.
// Legend labels carry an engine's condition ("cow (31/32 invalidated)").
func thesisCharts(runs []*Run) []chart {
	runs = sortedCopy(CollapseTrials(runs))
	var out []chart
	add := func(c chart, ok bool) {
		if ok {
			out = append(out, c)
		}
	}
	for _, scen := range []string{"overwrite", "clonebush", "snaptree", "chainread"} {
		for _, name := range scenarios(runs) {
			var rs []*Run
			for _, r := range runsOf(runs, name) {
				if r.Scenario == scen {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			t := thesis{name: name, runs: rs}
			switch scen {
			case "overwrite":
				add(t.overwriteLatency())
				add(t.overwriteBytes())
				add(t.overwriteDistribution())
			case "clonebush":
				add(t.burstTime())
				add(t.bootDistribution())
				add(t.overTime())
			case "snaptree":
				add(t.treeLatency())
				add(t.treeAmp())
				add(t.treeOverTime())
				add(t.treeDistribution())
			case "chainread":
				add(t.chainLatency())
			}
		}
	}
	return out
}

// thesis is the runs of one scenario name (label), one per engine and
// sweep point.
type thesis struct {
	name string
	runs []*Run
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

func (t thesis) titled(what string) string {
	if t.name == "overwrite" || t.name == "clonebush" || t.name == "snaptree" || t.name == "chainread" {
		return scenarioTitle[t.name] + ": " + what
	}
	return t.name + ": " + what
}

// scenarioTitle names the default scenarios for readers.
var scenarioTitle = map[string]string{
	"overwrite": "Base volume overwrite",
	"clonebush": "Clone bush",
	"snaptree":  "Snapshot tree",
	"chainread": "Chain read",
}

const fanoutLabel = "fan-out: live snapshots or clones of the base"

func (t thesis) overwriteLatency() (chart, bool) {
	engs, by := t.phasesBy("overwrite", "fanout")
	p50 := curveOf(engs, by, OpP50(OpWrite))
	p99 := curveOf(engs, by, OpP99(OpWrite))
	if !spans(p50) {
		return chart{}, false
	}
	return newChart(t.chartName("base-write-latency-vs-fanout"), t.titled("base write latency against fan-out"),
		"Latency of writes to the base volume with N live dependents sharing all its chunks; a copy-on-write engine copies each first-written chunk into every dependent.",
		t.latencyPanel("median (p50)", fanoutLabel, "base write latency", p50, true),
		t.latencyPanel("99th percentile", fanoutLabel, "base write latency", p99, true)), true
}

func (t thesis) overwriteBytes() (chart, bool) {
	engs, by := t.phasesBy("overwrite", "fanout")
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
		return chart{}, false
	}
	f := t.panel(panelSpec{xLabel: fanoutLabel, yLabel: "device bytes written per base write", unit: "bytes",
		logX: true, logY: true}, lines)
	return newChart(t.chartName("device-bytes-per-base-write-vs-fanout"), t.titled("device bytes written per base write against fan-out"),
		"Device bytes written for each write to the base volume; deterministic for a seed at queue depth 1.", f), true
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

// overwriteDistribution draws the base write latency by percentile at the
// lowest and the highest fan-out.
func (t thesis) overwriteDistribution() (chart, bool) {
	engs, by := t.phasesBy("overwrite", "fanout")
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, e := range engs {
		for _, pa := range by[e] {
			lo, hi = math.Min(lo, pa.x), math.Max(hi, pa.x)
		}
	}
	if !(hi > lo) {
		return chart{}, false
	}
	panel := func(x float64) *figure {
		var lines []percentileLine
		for _, e := range engs {
			for _, pa := range by[e] {
				if pa.x != x {
					continue
				}
				if h, err := pa.phase.Ops[OpWrite].Histogram(); err == nil && h != nil && h.TotalCount() >= minSamples {
					lines = append(lines, percentileLine{engine: e, label: t.legendLabel(e), hist: h})
				}
			}
		}
		return percentilePanel(fmt.Sprintf("fan-out %s", fmtRaw(x)), "base write latency", lines)
	}
	return newChart(t.chartName("base-write-latency-percentiles"), t.titled("base write latency by percentile, lowest and highest fan-out"),
		"Each line is one engine's base write latency distribution; the x axis stretches the tail (1/(1−p), log scale) so p99 and p99.9 are visible.",
		panel(lo), panel(hi)), true
}

// burstTime draws the clone burst's wall time against the burst size,
// where the runs cover at least two burst sizes.
func (t thesis) burstTime() (chart, bool) {
	engs, by := t.phasesBy("burst", "clones")
	lines := curveOf(engs, by, func(p *Phase) (float64, bool) {
		v, ok := p.Metrics["burst_s"]
		return v * 1e9, ok
	})
	if !spans(lines) {
		return chart{}, false
	}
	return newChart(t.chartName("clone-burst-time-vs-clones"), t.titled("clone burst time against burst size"),
		"Wall time to create a burst of N writable clones of one template.",
		t.latencyPanel("", "clones in the burst", "burst time", lines, true)), true
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

func (t thesis) bootDistribution() (chart, bool) {
	figs := t.opDistribution("boot", OpRead, OpWrite)
	if len(figs) == 0 {
		return chart{}, false
	}
	return newChart(t.chartName("boot-storm-latency-percentiles"), t.titled("boot storm latency by percentile"),
		"Every clone boots at once: reads of the shared hot region and private writes. The x axis stretches the tail (1/(1−p), log scale).",
		figs...), true
}

func (t thesis) treeDistribution() (chart, bool) {
	figs := t.opDistribution("steady", OpWrite)
	if len(figs) == 0 {
		return chart{}, false
	}
	figs[0].p.Title.Text = ""
	return newChart(t.chartName("steady-write-latency-percentiles"), t.titled("write latency by percentile under periodic snapshots"),
		"Base volume writes while snapshots are taken and expired; the x axis stretches the tail (1/(1−p), log scale).",
		figs...), true
}

// overTime draws each phase's read and write p99 at the phase's time in
// the run: one step per phase, a line per engine.
func (t thesis) overTime() (chart, bool) {
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
	if len(figs) == 0 {
		return chart{}, false
	}
	return newChart(t.chartName("latency-over-time"), t.titled("p99 latency over the run, phase by phase"),
		"Each flat step is one phase (fill, boot storm, steady state, refresh...) drawn over its time span, at its p99.", figs...), true
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

func (t thesis) treeLatency() (chart, bool) {
	p50, xUnit, _ := t.seriesLines("steady", "base_write_p50")
	p99, _, _ := t.seriesLines("steady", "base_write_p99")
	if len(p50) == 0 && len(p99) == 0 {
		return chart{}, false
	}
	return newChart(t.chartName("base-write-latency-vs-live-snapshots"), t.titled("base write latency against live snapshots"),
		"Latency of the base volume's writes while N snapshots of it are live.",
		t.latencyPanel("median (p50)", xUnit, "base write latency", p50, false),
		t.latencyPanel("99th percentile", xUnit, "base write latency", p99, false)), true
}

func (t thesis) treeAmp() (chart, bool) {
	lines, xUnit, _ := t.seriesLines("steady", "base_write_amp")
	if len(lines) == 0 {
		return chart{}, false
	}
	return newChart(t.chartName("device-bytes-per-base-byte-vs-live-snapshots"), t.titled("device bytes written per base byte against live snapshots"),
		"Write amplification of the base volume's writes while N snapshots are live; deterministic for a seed at queue depth 1.",
		t.panel(panelSpec{xLabel: xUnit, yLabel: "device bytes per base byte written", unit: "×"}, lines)), true
}

func (t thesis) treeOverTime() (chart, bool) {
	live, xUnit, _ := t.seriesLines("steady", "live_snapshots")
	space, _, _ := t.seriesLines("steady", "space_data")
	var figs []*figure
	if len(live) > 0 {
		figs = append(figs, t.panel(panelSpec{title: "live snapshots", xLabel: "time in the steady phase (" + xUnit + ")", yLabel: "live snapshots"}, live))
	}
	if len(space) > 0 {
		figs = append(figs, t.panel(panelSpec{title: "data space", xLabel: "time in the steady phase (" + xUnit + ")", yLabel: "data space used", unit: "bytes"}, space))
	}
	if len(figs) == 0 {
		return chart{}, false
	}
	return newChart(t.chartName("snapshots-and-space-over-time"), t.titled("live snapshots and data space over time"),
		"Snapshots are taken periodically and the oldest expire beyond the retention; the space the engine's data takes follows.", figs...), true
}

func (t thesis) chainLatency() (chart, bool) {
	engs, by := t.phasesBy("read", "depth")
	p50 := curveOf(engs, by, OpP50(OpRead))
	p99 := curveOf(engs, by, OpP99(OpRead))
	if !spans(p50) {
		return chart{}, false
	}
	return newChart(t.chartName("read-latency-vs-depth"), t.titled("read latency against chain depth"),
		"Latency of reads through a chain of N snapshots or clones.",
		t.latencyPanel("median (p50)", "chain depth", "read latency", p50, true),
		t.latencyPanel("99th percentile", "chain depth", "read latency", p99, true)), true
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
