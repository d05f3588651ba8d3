package results

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotOptions tune Plot.
type PlotOptions struct {
	Formats []string  // "svg", "png"; default both
	Width   vg.Length // of a one-panel chart; default 18 cm (wider charts add 60% per panel)
	Height  vg.Length // default 11 cm
	DPI     int       // of PNG files; default 150
	// All draws every chart Plot knows (AllCharts) instead of the thesis
	// figures (ThesisCharts).
	All bool
}

// Plot draws charts of runs into dir and returns the files written, in
// order. By default it draws the figures that answer the suite's questions
// (about a dozen for the default suite, see thesisCharts): base write cost
// and device bytes per base write against fan-out, clone burst time against
// burst size where it was swept, latency percentile distributions of the
// boot storm and the overwrite, base write latency against live snapshots,
// latency and space over time. With opts.All it draws every chart, one line
// per engine (or run, for sweep points):
//
//   - latency percentile distribution of every operation kind of every
//     phase, per scenario and sweep point:
//     <scenario>[-<param><value>]-<phase>-<op>-cdf
//   - for sweeps, each phase's p50 and p99 per operation kind, write
//     amplification, ops/s and Metrics against the swept value (log x for
//     values spanning a decade): <scenario>-sweep-<param>-<phase>-<metric>
//   - for a phase a run repeats with one parameter (read at each depth),
//     p50, p99, write amplification and ops/s against that parameter:
//     <scenario>[-<param><value>]-<phase>-vs-<key>-<metric>
//   - every Phase.Series, e.g. base write p99 against live snapshots:
//     <scenario>[-<param><value>]-<phase>-series-<name>
//
// Trials of a point are drawn as their median (MedianRun). Axes carry
// their units, legends sit to the right of the data, and each engine keeps
// its colour, dash and marker in every chart. Unsupported runs and phases
// draw nothing.
func Plot(runs []*Run, dir string, opts PlotOptions) ([]string, error) {
	if len(opts.Formats) == 0 {
		opts.Formats = []string{"svg", "png"}
	}
	for _, f := range opts.Formats {
		if f != "svg" && f != "png" {
			return nil, fmt.Errorf("results: plot format %q: want svg or png", f)
		}
	}
	if opts.Width == 0 {
		opts.Width = 18 * vg.Centimeter
	}
	if opts.Height == 0 {
		opts.Height = 11 * vg.Centimeter
	}
	if opts.DPI == 0 {
		opts.DPI = 150
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var charts []chart
	if opts.All {
		charts = allCharts(runs)
	} else {
		charts = thesisCharts(runs)
	}
	var files []string
	for _, c := range charts {
		for _, f := range opts.Formats {
			path := filepath.Join(dir, c.name+"."+f)
			if err := savePlot(c, path, f, opts); err != nil {
				return files, fmt.Errorf("results: plot %s: %w", path, err)
			}
			files = append(files, path)
		}
	}
	return files, nil
}

// allCharts is every chart of runs (PlotOptions.All).
func allCharts(runs []*Run) []chart {
	runs = sortedCopy(CollapseTrials(runs)) // one curve per point: the median of its trials
	var charts []chart
	charts = append(charts, cdfCharts(runs)...)
	charts = append(charts, sweepCharts(runs)...)
	charts = append(charts, instanceCharts(runs)...)
	charts = append(charts, seriesCharts(runs)...)
	return charts
}

func savePlot(c chart, path, format string, opts PlotOptions) error {
	w, h := c.size(opts.Width, opts.Height)
	var canvas vg.CanvasWriterTo
	switch format {
	case "png":
		img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(opts.DPI))
		canvas = vgimg.PngCanvas{Canvas: img}
	default:
		canvas = vgsvg.New(w, h)
	}
	c.draw(draw.New(canvas))
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes 0600; charts are for everyone to read
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// style is how one engine is drawn, the same in every chart.
type style struct {
	color  color.Color
	dashes []vg.Length
	glyph  draw.GlyphDrawer
}

// engineStyles follow the engine order (SetEngines); colours are the Okabe-Ito palette, safe
// for colour-blind readers, and dashes and markers tell lines apart in
// grey.
var engineStyles = []style{
	{color.RGBA{0, 0, 0, 255}, nil, draw.CircleGlyph{}},                                      // raw
	{color.RGBA{230, 159, 0, 255}, []vg.Length{vg.Points(6), vg.Points(3)}, draw.BoxGlyph{}}, // full
	{color.RGBA{213, 94, 0, 255}, nil, draw.TriangleGlyph{}},                                 // cow
	{color.RGBA{0, 114, 178, 255}, []vg.Length{vg.Points(2), vg.Points(2)}, draw.PyramidGlyph{}},
	{color.RGBA{0, 158, 115, 255}, []vg.Length{vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}, draw.RingGlyph{}},
	{color.RGBA{204, 121, 167, 255}, []vg.Length{vg.Points(4), vg.Points(4)}, draw.SquareGlyph{}},
	{color.RGBA{86, 180, 233, 255}, nil, draw.CrossGlyph{}},
	{color.RGBA{240, 228, 66, 255}, []vg.Length{vg.Points(6), vg.Points(3)}, draw.PlusGlyph{}},
}

// styleOf returns the engine's style; engines beyond that order share the
// extra styles by name.
func styleOf(engine string) style {
	if i := engineRank(engine); i < len(engineOrder) {
		return engineStyles[i]
	}
	h := 0
	for _, c := range engine {
		h = h*31 + int(c)
	}
	extra := engineStyles[len(engineOrder):]
	return extra[(h%len(extra)+len(extra))%len(extra)]
}

// newPlot returns a plot with snapbench's fonts, grid and legend.
func newPlot(title, xLabel, yLabel string) *figure {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(11)
		a.Tick.Label.Font.Size = vg.Points(10)
		a.Tick.Marker = linearTicks{}
	}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 220}
	g.Horizontal.Color = color.Gray{Y: 220}
	p.Add(g)
	return &figure{p: p}
}

// figure is a plot (one panel of a chart) being built and its legend
// entries, which the chart draws outside the data.
type figure struct {
	p      *plot.Plot
	legend []legendItem
	// data is every line's and marker's points, for logAxis to rewrite;
	// logX and logY say the axis holds log10 of the values (see logAxis).
	data       []plotter.XYs
	logX, logY bool
}

// plotterLine is one engine's line of a panel.
type plotterLine struct {
	engine, label string
	xys           plotter.XYs
}

// addLine adds a line for an engine, with its markers at every point when
// markers is true, else at about eight of its points.
func (f *figure) addLine(engine, label string, xys plotter.XYs, markers bool) error {
	at := xys
	if !markers {
		at = sparseMarkers(engine, xys)
	}
	return f.addLineMarked(engine, label, xys, at)
}

// addLineMarked adds a line for an engine with its markers at the points
// at (none if empty): a dense line keeps a few markers so that engines
// stay told apart where lines overlap.
func (f *figure) addLineMarked(engine, label string, xys, at plotter.XYs) error {
	st := styleOf(engine)
	xys, at = f.toAxes(xys), f.toAxes(at)
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	f.data = append(f.data, l.XYs)
	// Lines drawn first are wider and their markers larger, so that a line
	// drawn over one with the same values leaves it showing as an edge.
	i := float64(len(f.legend))
	l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = st.color, vg.Points(math.Max(1.3, 3.2-0.6*i)), st.dashes
	f.p.Add(l)
	// The legend shows the marker even when the line carries none.
	s, err := plotter.NewScatter(plotter.XYs{{}})
	if len(at) > 0 {
		s, err = plotter.NewScatter(at)
	}
	if err != nil {
		return err
	}
	s.GlyphStyle.Color, s.GlyphStyle.Radius, s.GlyphStyle.Shape = st.color, vg.Points(math.Max(2.5, 4.5-0.6*i)), st.glyph
	if len(at) > 0 {
		f.p.Add(s)
		f.data = append(f.data, s.XYs)
	}
	for _, it := range f.legend {
		if it.label == label {
			return nil
		}
	}
	f.legend = append(f.legend, legendItem{label: label, thumbs: []plot.Thumbnailer{l, s}})
	return nil
}

// sparseMarkers picks about eight points of a dense line for markers,
// shifted by the engine's rank so that engines whose lines overlap do not
// put their markers on the same points.
func sparseMarkers(engine string, xys plotter.XYs) plotter.XYs {
	step := max(1, len(xys)/8)
	var at plotter.XYs
	for i := (engineRank(engine) * step / len(engineStyles)) % step; i < len(xys); i += step {
		at = append(at, xys[i])
	}
	return at
}

// logAxis puts a log scale on the x (or y) axis of f, whose data span
// [min, max] (both > 0), labelled by ticks (logTicks if nil). The axis
// holds log10 of the values on a linear scale, so that gonum lays out
// labels and padding as for any linear axis (its LogScale centres the
// axis label at the arithmetic middle of the range, which shrinks the
// panel); points already added and those added later are rewritten.
// Values ≤ 0 are drawn at the axis minimum.
func (f *figure) logAxis(x bool, min, max float64, ticks plot.Ticker) {
	if ticks == nil {
		ticks = logTicks{}
	}
	a := &f.p.Y
	if x {
		a = &f.p.X
	}
	a.Scale = plot.LinearScale{}
	a.Tick.Marker = log10Ticks{ticks}
	a.Min, a.Max = math.Log10(min), math.Log10(max)
	for _, xys := range f.data {
		for i := range xys {
			if x && !f.logX {
				xys[i].X = log10Floor(xys[i].X, a.Min)
			}
			if !x && !f.logY {
				xys[i].Y = log10Floor(xys[i].Y, a.Min)
			}
		}
	}
	if x {
		f.logX = true
	} else {
		f.logY = true
	}
}

// toAxes returns xys as the axes hold them (a copy, log10 on log axes).
func (f *figure) toAxes(xys plotter.XYs) plotter.XYs {
	if !f.logX && !f.logY {
		return xys
	}
	out := make(plotter.XYs, len(xys))
	for i, pt := range xys {
		if f.logX {
			pt.X = log10Floor(pt.X, f.p.X.Min)
		}
		if f.logY {
			pt.Y = log10Floor(pt.Y, f.p.Y.Min)
		}
		out[i] = pt
	}
	return out
}

func log10Floor(v, floor float64) float64 {
	if v <= 0 {
		return floor
	}
	return math.Log10(v)
}

// log10Ticks places the ticks of a value axis on an axis that holds log10
// of the values.
type log10Ticks struct{ plot.Ticker }

func (t log10Ticks) Ticks(min, max float64) []plot.Tick {
	ticks := t.Ticker.Ticks(math.Pow(10, min), math.Pow(10, max))
	for i := range ticks {
		ticks[i].Value = math.Log10(ticks[i].Value)
	}
	return ticks
}

// logTicks labels decades, and 2 and 5 times them when the axis spans
// fewer than three decades.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= 0 || !(max > min) {
		return nil
	}
	dense := math.Log10(max/min) < 3
	var ticks []plot.Tick
	for d := math.Pow10(int(math.Floor(math.Log10(min)))); d <= max*10; d *= 10 {
		for m := 1; m < 10; m++ {
			v := d * float64(m)
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			label := ""
			if m == 1 || dense && (m == 2 || m == 5) {
				label = tickLabel(v)
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}

// linearTicks labels about six round values (steps of 1, 2 or 5 times a
// power of ten) with a minor tick between labels.
type linearTicks struct{}

func (linearTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) {
		return []plot.Tick{{Value: min, Label: tickLabel(min)}}
	}
	raw := (max - min) / 6
	mag := math.Pow10(int(math.Floor(math.Log10(raw))))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(min/step) * step; v <= max+step*1e-9; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: tickLabel(v)})
		if mid := v + step/2; mid <= max {
			ticks = append(ticks, plot.Tick{Value: mid})
		}
	}
	return ticks
}

// tickLabel is the shortest exact form of a round tick value.
func tickLabel(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// fileName makes s safe as part of a file name.
func fileName(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if p == "" {
			continue
		}
		if i > 0 && b.Len() > 0 {
			b.WriteByte('-')
		}
		b.WriteString(sanitizeName(p))
	}
	return b.String()
}
