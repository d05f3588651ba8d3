package results

import (
	"bytes"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is one figure: a title, one or more panels side by side and one
// legend for all of them, drawn to the right of the panels so that it never
// covers data. name is its file name without extension; caption says in a
// sentence what it shows (the HTML report prints it under the figure).
type chart struct {
	name, title, caption string
	panels               []*plot.Plot
	legend               []legendItem
}

// legendItem is one legend entry: a label and the line and marker it
// stands for.
type legendItem struct {
	label  string
	thumbs []plot.Thumbnailer
}

// newChart joins panels into a chart; its legend lists every label of the
// panels once, in the order they first appear.
func newChart(name, title, caption string, figs ...*figure) chart {
	c := chart{name: name, title: title, caption: caption}
	seen := map[string]bool{}
	for _, f := range figs {
		c.panels = append(c.panels, f.p)
		for _, it := range f.legend {
			if !seen[it.label] {
				seen[it.label] = true
				c.legend = append(c.legend, it)
			}
		}
	}
	return c
}

// size is the chart's drawing size for a one-panel size of w×h: wider by
// 60% of w for each panel beyond the first.
func (c chart) size(w, h vg.Length) (vg.Length, vg.Length) {
	if n := len(c.panels); n > 1 {
		w = w * vg.Length(1+0.6*float64(n-1))
	}
	return w, h
}

// draw draws the chart onto dc: white background, title, panels, legend.
func (c chart) draw(dc draw.Canvas) {
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	pad := vg.Points(6)
	area := dc
	if c.title != "" {
		sty := text.Style{Font: font.From(plot.DefaultFont, vg.Points(13)), Handler: plot.DefaultTextHandler,
			XAlign: draw.XCenter, YAlign: draw.YTop, Color: color.Black}
		h := sty.Rectangle(c.title).Size().Y
		dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - pad}, c.title)
		area = draw.Crop(area, 0, 0, 0, -(h + 2*pad))
	}
	if len(c.legend) > 0 {
		l := plot.NewLegend()
		l.TextStyle.Font = font.From(l.TextStyle.Font, vg.Points(10))
		l.Padding = vg.Points(3)
		l.ThumbnailWidth = vg.Points(26)
		l.Top, l.Left = true, true
		for _, it := range c.legend {
			l.Add(it.label, it.thumbs...)
		}
		w := l.Rectangle(area).Size().X + 2*pad
		lc := draw.Crop(area, area.Size().X-w, 0, 0, -vg.Points(14))
		l.Draw(lc)
		area = draw.Crop(area, 0, -w, 0, 0)
	}
	tiles := draw.Tiles{Cols: len(c.panels), Rows: 1, PadX: vg.Points(10), PadRight: pad, PadLeft: vg.Points(2),
		PadBottom: vg.Points(2)}
	for i, p := range c.panels {
		p.Draw(tiles.At(area, i, 0))
	}
}

// svg returns the chart as an SVG document of w×h per panel.
func (c chart) svg(w, h vg.Length) []byte {
	cw, ch := c.size(w, h)
	canvas := vgsvg.New(cw, ch)
	c.draw(draw.New(canvas))
	var b bytes.Buffer
	if _, err := canvas.WriteTo(&b); err != nil {
		return nil // a bytes.Buffer does not fail
	}
	return b.Bytes()
}

// zeroLogTicks labels a log axis whose data include 0, drawn at zeroAt
// (below the smallest positive value): a "0" tick there, then logTicks
// from the smallest positive value.
type zeroLogTicks struct{ zeroAt, minPositive float64 }

func (z zeroLogTicks) Ticks(min, max float64) []plot.Tick {
	ticks := []plot.Tick{{Value: z.zeroAt, Label: "0"}}
	return append(ticks, (logTicks{}).Ticks(z.minPositive, max)...)
}

// xLogWithZero puts a log scale on the x axis of f for points whose x may
// be 0: 0 is drawn (and labelled) a factor of 4 below the smallest
// positive x. It rewrites the points' x in place and reports whether the
// axis went log (false: fewer than two positive values, left linear).
func xLogWithZero(f *figure, lines []plotterLine) bool {
	minPos, max, zero := math.Inf(1), 0.0, false
	for _, l := range lines {
		for _, pt := range l.xys {
			if pt.X > 0 {
				minPos, max = math.Min(minPos, pt.X), math.Max(max, pt.X)
			} else if pt.X == 0 {
				zero = true
			}
		}
	}
	if math.IsInf(minPos, 1) || !(max > minPos) {
		return false
	}
	lo := minPos / 1.3
	if zero {
		zeroAt := minPos / 4
		for _, l := range lines {
			for i := range l.xys {
				if l.xys[i].X == 0 {
					l.xys[i].X = zeroAt
				}
			}
		}
		f.logAxis(true, zeroAt/1.3, max*1.3, zeroLogTicks{zeroAt: zeroAt, minPositive: minPos})
		return true
	}
	f.logAxis(true, lo, max*1.3, nil)
	return true
}
