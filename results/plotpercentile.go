package results

import (
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// percentilePanel draws latency against percentile as HdrHistogram's
// plotter does: x is 1/(1−p) on a log scale, labelled with percentiles
// (0%, 90%, 99%, 99.9%...), so each further "nine" of the tail gets as
// much room as the first 90%; each line runs to the percentile its sample
// count resolves (1 − 1/count). Markers sit at 50%, 90%, 99%, 99.9%...
// so that overlapping engines stay told apart. Latency is y, in one
// duration unit, log scale when it spans more than 20×.
func percentilePanel(title, what string, lines []percentileLine) *figure {
	type drawn struct {
		l       percentileLine
		xys, at plotter.XYs
	}
	var ds []drawn
	ymin, ymax, xmax := math.Inf(1), 0.0, 10.0
	for _, l := range lines {
		n := float64(l.hist.TotalCount())
		if n < 2 {
			continue
		}
		d := drawn{l: l}
		for k := 0; ; k++ {
			x := math.Pow(10, float64(k)/24)
			if x > n {
				x = n
			}
			v := float64(l.hist.ValueAtQuantile(100 * (1 - 1/x)))
			if v > 0 {
				d.xys = append(d.xys, plotter.XY{X: x, Y: v})
				ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
			}
			if x >= n {
				break
			}
		}
		for _, x := range []float64{2, 10, 100, 1000, 1e4, 1e5, 1e6} {
			if x <= n {
				if v := float64(l.hist.ValueAtQuantile(100 * (1 - 1/x))); v > 0 {
					d.at = append(d.at, plotter.XY{X: x, Y: v})
				}
			}
		}
		xmax = math.Max(xmax, n)
		if len(d.xys) > 0 {
			ds = append(ds, d)
		}
	}
	unit, scale := durationUnit(math.Sqrt(math.Max(ymin, 1) * math.Max(ymax, 1)))
	logY := ymin > 0 && ymax/ymin > 20
	yLabel := what + " (" + unit
	if logY {
		yLabel += ", log scale"
	}
	yLabel += ")"
	f := newPlot(title, "percentile (log scale of 1/(1−p))", yLabel)
	for _, d := range ds {
		for _, pts := range []plotter.XYs{d.xys, d.at} {
			for i := range pts {
				pts[i].Y /= scale
			}
		}
		_ = f.addLineMarked(d.l.engine, d.l.label, d.xys, d.at)
	}
	f.logAxis(true, 1, xmax*1.15, percentileTicks{})
	if logY {
		f.logAxis(false, ymin/scale/1.2, ymax/scale*1.2, nil)
	} else {
		f.p.Y.Min = 0
	}
	return f
}

// percentileTicks labels a 1/(1−p) axis with percentiles: 0%, 50%, 90%,
// 99%, 99.9%... and minor ticks between the nines.
type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	ticks := []plot.Tick{{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}}
	labels := []string{"90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"}
	for i, d := 0, 10.0; d <= max && i < len(labels); i, d = i+1, d*10 {
		ticks = append(ticks, plot.Tick{Value: d, Label: labels[i]})
		for m := 2.0; m < 10 && d*m <= max; m++ {
			ticks = append(ticks, plot.Tick{Value: d * m})
		}
	}
	for m := 3.0; m < 10; m++ {
		ticks = append(ticks, plot.Tick{Value: m})
	}
	var out []plot.Tick
	for _, t := range ticks {
		if t.Value >= min && t.Value <= max {
			out = append(out, t)
		}
	}
	return out
}
