package results

import (
	"fmt"
	"sort"
)

// headlineCell is a headline value or the reason there is none.
type headlineCell struct {
	cell  Cell
	found bool // a measurement or a definite state (unsupported, failed)
	value bool // a measurement
}

func missingCell() headlineCell { return headlineCell{cell: textCell(Missing)} }

func stateCell(s string) headlineCell { return headlineCell{cell: textCell(s), found: true} }

func valueCell(v float64, text string) headlineCell {
	return headlineCell{cell: numCell(v, text), found: true, value: true}
}

// point is one (x, y) measurement of a curve, e.g. (fan-out, write p50).
type point struct{ x, y float64 }

// curve gathers the points of an engine's phases, and whether any phase
// that would have given one was unsupported or failed.
type curve struct {
	points []point
	state  string
}

func (c *curve) cells(yFmt func(float64) string) (lo, hi, ratio headlineCell) {
	if len(c.points) == 0 {
		if c.state != "" {
			return stateCell(c.state), stateCell(c.state), stateCell(c.state)
		}
		return missingCell(), missingCell(), missingCell()
	}
	sort.SliceStable(c.points, func(i, j int) bool { return c.points[i].x < c.points[j].x })
	a, b := c.points[0], c.points[len(c.points)-1]
	lo = valueCell(a.y, fmt.Sprintf("%s @%s", yFmt(a.y), fmtNum(a.x)))
	if b.x == a.x {
		if c.state != "" { // the other points could not be measured
			return lo, stateCell(c.state), stateCell(c.state)
		}
		return lo, missingCell(), missingCell()
	}
	hi = valueCell(b.y, fmt.Sprintf("%s @%s", yFmt(b.y), fmtNum(b.x)))
	if a.y > 0 {
		ratio = valueCell(b.y/a.y, "×"+fmtNum(b.y/a.y))
	} else {
		ratio = missingCell()
	}
	return lo, hi, ratio
}

// headlineRow is one line of the headline table.
type headlineRow struct {
	label, key, unit, note string
}

var headlineRows = []headlineRow{
	{"base write mean, lowest fan-out", "base_write_mean_low_fanout", "ns", ""},
	{"base write mean, highest fan-out", "base_write_mean_high_fanout", "ns", ""},
	{"write time growth with fan-out", "base_write_fanout_growth", "x",
		"base write: mean latency of the base volume's writes with N dependent snapshots/clones, and its growth from the lowest N to the highest (overwrite)"},
	{"base write amp, lowest fan-out", "base_write_amp_low_fanout", "x", ""},
	{"base write amp, highest fan-out", "base_write_amp_high_fanout", "x",
		"base write amp: device bytes written per byte written to the base volume (overwrite)"},
	{"tree: base write mean, fewest snapshots", "tree_base_write_mean_few", "ns", ""},
	{"tree: base write mean, most snapshots", "tree_base_write_mean_most", "ns",
		"tree: mean latency of the base volume's writes under a periodic snapshot tree, at the fewest and the most live snapshots (snaptree, series base_write_mean)"},
	{"clone burst time", "clone_burst_s", "s", "clone burst: time to create the burst of clones (clonebush/burst)"},
	{"boot-storm read p99", "boot_read_p99", "ns", "boot-storm p99: per-IO latency while every clone boots at once (clonebush/boot)"},
	{"boot-storm write p99", "boot_write_p99", "ns", ""},
	{"space per clone", "space_per_clone_bytes", "bytes", "space per clone: device space each clone costs (clonebush)"},
	{"read p50, shallowest chain", "chain_read_p50_low_depth", "ns", ""},
	{"read p50, deepest chain", "chain_read_p50_high_depth", "ns", ""},
	{"read cost growth with depth", "chain_read_depth_growth", "x",
		"read cost growth: read p50 at the deepest chain over the shallowest (chainread)"},
	{"template deleted", "template_deleted", "", "template deleted: whether the template could be deleted with its clones alive (clonebush)"},
}

// Headline is the table that states the thesis in numbers. It is
// Transposed: one row per headline metric, one column per engine. The rows
// are base write mean latency at the lowest and highest fan-out and its
// growth, base write amplification at both,
// clone burst time, boot-storm p99 of reads and writes, space per clone,
// read cost at the shallowest and deepest chain and its growth, and
// whether the template could be deleted. The names it reads are listed in
// the package documentation. Rows no engine has a value for are left out.
func Headline(runs []*Run) Table {
	runs = sortedCopy(runs)
	t := Table{Title: "headline", Transposed: true}
	t.Columns = []Column{{Header: "metric", Key: "metric"}}
	var cols [][]headlineCell // per engine, per headline row
	for _, eng := range engines(runs) {
		t.Columns = append(t.Columns, Column{Header: eng, Key: eng})
		var mine []*Run
		for _, r := range runs {
			if r.Engine == eng {
				mine = append(mine, r)
			}
		}
		var col []headlineCell
		fan := gatherCurve(mine, "", "overwrite", "fanout", opMean(OpWrite))
		lo, hi, g := fan.cells(fmtDuration)
		col = append(col, lo, hi, g)
		amp := gatherCurve(mine, "", "overwrite", "fanout", writeAmp)
		lo, hi, _ = amp.cells(func(v float64) string { return fmtNum(v) + "×" })
		col = append(col, lo, hi)
		tree := seriesCurve(mine, "snaptree", "steady", "base_write_mean")
		lo, hi, _ = tree.cells(fmtDuration)
		col = append(col, lo, hi)
		col = append(col, burstCell(mine), bootCell(mine, OpRead), bootCell(mine, OpWrite), spaceCell(mine))
		depth := gatherCurve(mine, "chainread", "read", "depth", opP50(OpRead))
		lo, hi, g = depth.cells(fmtDuration)
		col = append(col, lo, hi, g)
		col = append(col, templateCell(mine))
		cols = append(cols, col)
	}
	for i, hr := range headlineRows {
		found, measured := false, false
		row := []Cell{textCell(hr.label)}
		for _, col := range cols {
			row = append(row, col[i].cell)
			found = found || col[i].found
			measured = measured || col[i].value
		}
		if !found || !measured && len(cols) > 1 {
			continue
		}
		t.Rows = append(t.Rows, row)
		t.RowKeys = append(t.RowKeys, Column{Header: hr.label, Key: hr.key, Unit: hr.unit})
		if hr.note != "" {
			t.Notes = append(t.Notes, hr.note)
		}
	}
	return t
}

// engines lists the engines of runs in EngineOrder.
func engines(runs []*Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.Engine] {
			seen[r.Engine] = true
			out = append(out, r.Engine)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return compareEngines(out[i], out[j]) < 0 })
	return out
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

// A phaseValue is the y of a curve point read from a phase, if it has one.
type phaseValue func(p *Phase) (float64, bool)

// opP50 is the median latency of op, opMean its mean.
func opP50(op Op) phaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return float64(o.P50), ok && o.Count > 0
	}
}

func opMean(op Op) phaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return o.Mean, ok && o.Count > 0
	}
}

func writeAmp(p *Phase) (float64, bool) {
	return p.WriteAmp(), p.Logical.WriteBytes > 0 && p.DeviceCounted()
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

// gatherCurve collects (x, y(phase)) from every occurrence of the phase
// named phase in the runs of scenario (any scenario when ""), x from
// Metrics[xKey] else Params[xKey]. An unsupported run of scenario (or of
// the scenario named like the phase) makes the curve unsupported when it
// has no points.
func gatherCurve(runs []*Run, scenario, phase, xKey string, y phaseValue) curve {
	var c curve
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

// seriesCurve collects the points of the series named name of the phase
// of scenario's runs that are not sweep points; an unsupported run makes
// it unsupported.
func seriesCurve(runs []*Run, scenario, phase, name string) curve {
	var c curve
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

// clonebush returns the engine's clonebush run that the headline reads:
// an unlabelled one that is not a sweep point, else one that is not a
// sweep point, else the sweep point with the largest value; nil if none.
func clonebush(runs []*Run) *Run {
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
		if r.Scenario != "clonebush" {
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

func burstCell(runs []*Run) headlineCell {
	r := clonebush(runs)
	if r == nil {
		return missingCell()
	}
	p := r.Phase("burst")
	if s := runState(r, p); s != "" {
		return stateCell(s)
	}
	if p == nil {
		return missingCell()
	}
	secs, ok := p.Metrics["burst_s"]
	if !ok {
		secs = p.Seconds
	}
	clones, ok := p.Metrics["clones"]
	if !ok {
		clones = float64(p.Ops[OpClone].Count)
	}
	text := fmtDuration(secs * 1e9)
	if clones > 0 {
		text += fmt.Sprintf(" / %s clones", fmtNum(clones))
	}
	return valueCell(secs, text)
}

func bootCell(runs []*Run, op Op) headlineCell {
	r := clonebush(runs)
	if r == nil {
		return missingCell()
	}
	p := r.Phase("boot")
	if s := runState(r, p); s != "" {
		return stateCell(s)
	}
	if p == nil {
		return missingCell()
	}
	o, ok := p.Ops[op]
	if !ok || o.Count == 0 {
		return missingCell()
	}
	return valueCell(float64(o.P99), fmtDuration(float64(o.P99)))
}

func spaceCell(runs []*Run) headlineCell {
	r := clonebush(runs)
	if r == nil {
		return missingCell()
	}
	if r.Status == StatusUnsupported {
		return stateCell(Unsupported)
	}
	pick := func(name string) (float64, bool) {
		if p := r.Phase(name); p != nil {
			v, ok := p.Metrics["space_per_clone_bytes"]
			return v, ok
		}
		return 0, false
	}
	v, ok := pick("boot")
	if !ok {
		v, ok = pick("burst")
	}
	for i := 0; !ok && i < len(r.Phases); i++ {
		v, ok = r.Phases[i].Metrics["space_per_clone_bytes"]
	}
	if !ok {
		if p := r.Phase("burst"); p != nil && p.Unsupported != "" {
			return stateCell(Unsupported)
		}
		return missingCell()
	}
	return valueCell(v, fmtBytes(v))
}

func templateCell(runs []*Run) headlineCell {
	r := clonebush(runs)
	if r == nil {
		return missingCell()
	}
	if r.Status == StatusUnsupported {
		return stateCell(Unsupported)
	}
	for _, p := range r.Phases {
		if v, ok := p.Metrics["template_deleted"]; ok {
			if v != 0 {
				return valueCell(1, "yes")
			}
			return valueCell(0, "no")
		}
	}
	if p := r.Phase("delete-template"); p != nil && p.Unsupported != "" {
		return stateCell(Unsupported)
	}
	return missingCell()
}
