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
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotOptions tune Plot.
type PlotOptions struct {
	Formats []string  // "svg", "png"; default both
	Width   vg.Length // default 18 cm
	Height  vg.Length // default 11 cm
	DPI     int       // of PNG files; default 150
}

// Plot draws charts of runs into dir and returns the files written, in
// order. Charts, one line per engine (or run, for sweep points):
//
//   - latency CDF of every operation kind of every phase (log x axis), per
//     scenario and sweep point: <scenario>[-<param><value>]-<phase>-<op>-cdf
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
// their units; each engine keeps its colour, dash and marker in
// every chart. Unsupported runs and phases draw nothing.
func Plot(runs []*Run, dir string, opts PlotOptions) ([]string, error) {
	runs = CollapseTrials(runs) // one curve per point: the median of its trials
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
	runs = sortedCopy(runs)
	var charts []chart
	charts = append(charts, cdfCharts(runs)...)
	charts = append(charts, sweepCharts(runs)...)
	charts = append(charts, instanceCharts(runs)...)
	charts = append(charts, seriesCharts(runs)...)
	var files []string
	for _, c := range charts {
		for _, f := range opts.Formats {
			path := filepath.Join(dir, c.name+"."+f)
			if err := savePlot(c.plot, path, f, opts); err != nil {
				return files, fmt.Errorf("results: plot %s: %w", path, err)
			}
			files = append(files, path)
		}
	}
	return files, nil
}

// chart is a plot and its file name without extension.
type chart struct {
	name string
	plot *plot.Plot
}

func savePlot(p *plot.Plot, path, format string, opts PlotOptions) error {
	var canvas vg.CanvasWriterTo
	switch format {
	case "png":
		img := vgimg.NewWith(vgimg.UseWH(opts.Width, opts.Height), vgimg.UseDPI(opts.DPI))
		canvas = vgimg.PngCanvas{Canvas: img}
	default:
		canvas = vgsvg.New(opts.Width, opts.Height)
	}
	p.Draw(draw.New(canvas))
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
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

// engineStyles follow EngineOrder; colours are the Okabe-Ito palette, safe
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

// styleOf returns the engine's style; engines beyond EngineOrder share the
// extra styles by name.
func styleOf(engine string) style {
	if i := engineRank(engine); i < len(EngineOrder) {
		return engineStyles[i]
	}
	h := 0
	for _, c := range engine {
		h = h*31 + int(c)
	}
	extra := engineStyles[len(EngineOrder):]
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
	p.Legend.TextStyle.Font = font.From(p.Legend.TextStyle.Font, vg.Points(10))
	p.Legend.Padding = vg.Points(2)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 220}
	g.Horizontal.Color = color.Gray{Y: 220}
	p.Add(g)
	return &figure{p: p}
}

// figure is a plot being built and the lines on it, to place the legend
// where it hides the least data.
type figure struct {
	p     *plot.Plot
	lines []plotter.XYs
}

// addLine adds a line (with markers when asked) for an engine.
func (f *figure) addLine(engine, label string, xys plotter.XYs, markers bool) error {
	st := styleOf(engine)
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = st.color, vg.Points(1.6), st.dashes
	f.p.Add(l)
	f.lines = append(f.lines, xys)
	if !markers {
		f.p.Legend.Add(label, l)
		return nil
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return err
	}
	s.GlyphStyle.Color, s.GlyphStyle.Radius, s.GlyphStyle.Shape = st.color, vg.Points(3), st.glyph
	f.p.Add(s)
	f.p.Legend.Add(label, l, s)
	return nil
}

// placeLegend puts the legend in the corner of the data area that the
// lines cross least. Call it once the axes are final.
func (f *figure) placeLegend(entries int) {
	const w = 0.22 // legend width as a fraction of the data area
	h := 0.06*float64(entries) + 0.04
	corners := []struct {
		top, left bool
	}{{true, true}, {true, false}, {false, false}, {false, true}}
	best, bestHits := 0, math.MaxInt
	for i, c := range corners {
		hits := 0
		for _, xys := range f.lines {
			for j := range xys {
				// Sample each segment so lines that cross a corner count.
				n := 1
				if j+1 < len(xys) {
					n = 16
				}
				for k := 0; k < n; k++ {
					t := float64(k) / float64(n)
					x, y := xys[j].X, xys[j].Y
					if k > 0 {
						x += t * (xys[j+1].X - x)
						y += t * (xys[j+1].Y - y)
					}
					nx, ny := f.p.X.Norm(x), f.p.Y.Norm(y)
					inX := c.left && nx <= w || !c.left && nx >= 1-w
					inY := c.top && ny >= 1-h || !c.top && ny <= h
					if inX && inY {
						hits++
					}
				}
			}
		}
		if hits < bestHits {
			best, bestHits = i, hits
		}
	}
	c := corners[best]
	f.p.Legend.Top, f.p.Legend.Left = c.top, c.left
	f.p.Legend.XOffs, f.p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	if !c.left {
		f.p.Legend.XOffs = -vg.Points(8)
	}
	if !c.top {
		f.p.Legend.YOffs = vg.Points(4)
	}
}

// logAxis sets a log scale with readable ticks on a, whose data span
// [min, max] (both > 0).
func logAxis(a *plot.Axis, min, max float64) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{}
	a.Min, a.Max = min, max
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
