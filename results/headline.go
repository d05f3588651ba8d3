package results

import (
	"fmt"
	"math"
	"sort"
)

// headlineCell is a headline value or the reason there is none.
type headlineCell struct {
	cell  Cell
	found bool      // a measurement or a definite state (unsupported, failed)
	value bool      // a measurement
	vals  []float64 // the per-trial values behind a healthy measurement
}

func missingCell() headlineCell { return headlineCell{cell: textCell(Missing)} }

func stateCell(s string) headlineCell { return headlineCell{cell: textCell(s), found: true} }

// point is one (x, y) measurement of a curve, e.g. (fan-out, write p50).
type point struct{ x, y float64 }

// curve gathers the points of an engine's phases, and whether any phase
// that would have given one was unsupported or failed.
type curve struct {
	points []point
	state  string
}

// measure is one trial's value of a headline row for one engine.
type measure struct {
	v, x  float64
	hasX  bool
	ok    bool
	state string // why there is no value: unsupported, failed
}

// end is the curve's point at the lowest x (hi false) or the highest; a
// curve of one x has no highest.
func (c curve) end(hi bool) measure {
	if len(c.points) == 0 {
		return measure{state: c.state}
	}
	pts := append([]point(nil), c.points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
	p := pts[0]
	if hi {
		p = pts[len(pts)-1]
		if p.x == pts[0].x {
			return measure{state: c.state}
		}
	}
	return measure{v: p.y, x: p.x, hasX: true, ok: true}
}

// headlineRow is one line of the headline table. get reads one trial's
// runs of one engine. A growth row (ratio set) divides the median of row
// ratio[0] by that of row ratio[1], its spread from the per-trial ratios.
type headlineRow struct {
	label, key, unit, note string
	timing                 bool    // noise moves it: spread and "~" marks
	noise                  float64 // timing rows: factor within which medians are alike (0: NoiseCentral)
	format                 func(float64) string
	scenario               string // whose runs' condition the cell carries
	get                    func(runs []*Run) measure
	ratio                  *[2]int
}

func fmtTimes(v float64) string { return fmtNum(v) + "×" }

func fmtRatio(v float64) string { return "×" + fmtNum(v) }

// overwriteCurve is the overwrite scenario's curve of y against the number
// of live dependents.
func overwriteCurve(y phaseValue, hi bool) func([]*Run) measure {
	return func(runs []*Run) measure { return gatherCurve(runs, "", "overwrite", "fanout", y).end(hi) }
}

func treeSeries(name string, hi bool) func([]*Run) measure {
	return func(runs []*Run) measure { return seriesCurve(runs, "snaptree", "steady", name).end(hi) }
}

func chainCurve(hi bool) func([]*Run) measure {
	return func(runs []*Run) measure {
		return gatherCurve(runs, "chainread", "read", "depth", opP50(OpRead)).end(hi)
	}
}

var headlineRows = []headlineRow{
	// Deterministic mechanism costs first: noise cannot move them.
	{label: "base write: device writes per write, most dependents", key: "base_write_device_writes_high_fanout", unit: "IOs",
		format: fmtNum, scenario: "overwrite", get: overwriteCurve(deviceWritesPerWrite, true),
		note: "base write: device IOs and bytes per write to the base volume with N live dependent snapshots/clones (overwrite, @N); deterministic at QD 1"},
	{label: "base write: device bytes per byte, most dependents", key: "base_write_amp_high_fanout", unit: "x",
		format: fmtTimes, scenario: "overwrite", get: overwriteCurve(writeAmp, true)},
	{label: "clone burst: device writes per clone", key: "clone_device_writes_per_clone", unit: "IOs",
		format: fmtNum, scenario: "clonebush", get: burstWritesPerClone,
		note: "clone burst: metadata IO each clone costs at creation, device writes per clone (clonebush/burst); deterministic"},
	{label: "space per clone at creation", key: "space_per_clone_created_bytes", unit: "bytes",
		format: fmtBytes, scenario: "clonebush", get: phaseMetric("burst", "space_per_clone_bytes"),
		note: "space per clone: device space used per clone right after the burst, and after the boot storm wrote to them (clonebush)"},
	{label: "space per clone after boot storm", key: "space_per_clone_booted_bytes", unit: "bytes",
		format: fmtBytes, scenario: "clonebush", get: phaseMetric("boot", "space_per_clone_bytes")},
	{label: "template deleted", key: "template_deleted", format: func(v float64) string {
		if v != 0 {
			return "yes"
		}
		return "no"
	}, scenario: "clonebush", get: templateDeleted,
		note: "template deleted: whether the template could be deleted with its clones alive (clonebush)"},
	// Timings: median across trials (min–max).
	{label: "base write p50, fewest dependents", key: "base_write_p50_low_fanout", unit: "ns", timing: true,
		format: fmtDuration, scenario: "overwrite", get: overwriteCurve(opP50(OpWrite), false),
		note: "base write p50/p99: latency of the base volume's writes with N live dependents (overwrite, @N)"},
	{label: "base write p50, most dependents", key: "base_write_p50_high_fanout", unit: "ns", timing: true,
		format: fmtDuration, scenario: "overwrite", get: overwriteCurve(opP50(OpWrite), true)},
	{label: "base write p99, most dependents", key: "base_write_p99_high_fanout", unit: "ns", timing: true,
		format: fmtDuration, scenario: "overwrite", get: overwriteCurve(opP99(OpWrite), true), noise: NoiseTail},
	{label: "base write mean, fewest dependents", key: "base_write_mean_low_fanout", unit: "ns", timing: true,
		format: fmtDuration, scenario: "overwrite", get: overwriteCurve(opMean(OpWrite), false),
		note: "base write mean: only the first write to a shared chunk pays the copies to its N dependents, so the mean, beside p50 and p99, carries that cost; growth is the ratio of the medians across trials of the mean at the most and the fewest dependents"},
	{label: "base write mean, most dependents", key: "base_write_mean_high_fanout", unit: "ns", timing: true,
		format: fmtDuration, scenario: "overwrite", get: overwriteCurve(opMean(OpWrite), true)},
	{label: "base write mean growth, fewest to most dependents", key: "base_write_fanout_growth", unit: "x", timing: true,
		format: fmtRatio, scenario: "overwrite", ratio: &[2]int{10, 9}},
	{label: "tree: base write p50, fewest snapshots", key: "tree_base_write_p50_few", unit: "ns", timing: true,
		format: fmtDuration, scenario: "snaptree", get: treeSeries("base_write_p50", false)},
	{label: "tree: base write p50, most snapshots", key: "tree_base_write_p50_most", unit: "ns", timing: true,
		format: fmtDuration, scenario: "snaptree", get: treeSeries("base_write_p50", true)},
	{label: "tree: base write p99, most snapshots", key: "tree_base_write_p99_most", unit: "ns", timing: true,
		format: fmtDuration, scenario: "snaptree", get: treeSeries("base_write_p99", true), noise: NoiseTail,
		note: "tree: latency of the base volume's writes under a periodic snapshot tree at the fewest and the most live snapshots (snaptree, @N live)"},
	{label: "clone burst time", key: "clone_burst_s", unit: "s", timing: true,
		format: func(v float64) string { return fmtDuration(v * 1e9) }, scenario: "clonebush", get: burstSeconds, noise: NoiseWallTime,
		note: "clone burst time: wall time to create the burst of clones (clonebush/burst, @clones)"},
	{label: "boot-storm read p99", key: "boot_read_p99", unit: "ns", timing: true,
		format: fmtDuration, scenario: "clonebush", get: bootP99(OpRead), noise: NoiseStorm,
		note: "boot-storm p99: per-IO latency while every clone boots at once (clonebush/boot)"},
	{label: "boot-storm write p99", key: "boot_write_p99", unit: "ns", timing: true,
		format: fmtDuration, scenario: "clonebush", get: bootP99(OpWrite), noise: NoiseStorm},
	{label: "read p50, shallowest chain", key: "chain_read_p50_low_depth", unit: "ns", timing: true,
		format: fmtDuration, scenario: "chainread", get: chainCurve(false),
		note: "chain read: read p50 at the shallowest and deepest chain, and its growth (chainread, @depth)"},
	{label: "read p50, deepest chain", key: "chain_read_p50_high_depth", unit: "ns", timing: true,
		format: fmtDuration, scenario: "chainread", get: chainCurve(true)},
	{label: "read p50 growth with depth", key: "chain_read_depth_growth", unit: "x", timing: true,
		format: fmtRatio, scenario: "chainread", ratio: &[2]int{19, 18}},
}

// HeadlineNote explains the spread and the marks of timing cells.
const HeadlineNote = "timings: median across trials (min–max); * lowest, separated from every other engine; ~ not separable from the lowest median (nor the lowest from it): " +
	"within the row's noise factor of it (×3 for medians, means, growth and burst time, ×5 for a steady phase's p99, ×20 for the boot storm's p99: " +
	"more than such rows moved between consecutive default runs on a shared 2-core machine), " +
	"or Mann–Whitney U p ≥ 0.05 with enough trials, else overlapping min–max ranges; unmarked: slower than the lowest; a value from a degraded or failed run is shown in brackets after its condition and not ranked"

// Headline is the table that states the thesis in numbers. It is
// Transposed: one row per headline metric, one column per engine. The
// deterministic mechanism costs lead (device writes and bytes per base
// write at the most dependents, device writes and space per clone at
// creation, space after the boot storm, whether the template could be
// deleted); then timings, as the median across trials with their min–max
// spread: base write p50 at the fewest and most dependents, p99 at the
// most, the mean at both and its growth (ratio of medians); p50 and p99
// under the snapshot
// tree; clone burst time; boot-storm p99; chain read p50 and its growth.
// Trials of a point are runs with the same Key (GroupTrials). A cell whose
// runs were degraded or failed (Condition) says so before its value. Rows
// no engine has a value for are left out.
func Headline(runs []*Run) Table {
	runs = sortedCopy(runs)
	t := Table{Title: "headline", Transposed: true, Origin: commonOrigin(runs)}
	t.Columns = []Column{{Header: "metric", Key: "metric"}}
	engs := engines(runs)
	cols := make([][]headlineCell, len(engs))
	multi := false
	for e, eng := range engs {
		t.Columns = append(t.Columns, Column{Header: eng, Key: eng})
		var mine []*Run
		for _, r := range runs {
			if r.Engine == eng {
				mine = append(mine, r)
			}
		}
		trials := splitTrials(mine)
		multi = multi || len(trials) > 1
		per := make([][]measure, len(headlineRows)) // row, trial
		for i, hr := range headlineRows {
			if hr.get == nil {
				continue
			}
			for _, tr := range trials {
				per[i] = append(per[i], hr.get(tr))
			}
		}
		for i, hr := range headlineRows {
			cols[e] = append(cols[e], headlineValue(hr, per, i, scenarioCondition(mine, hr.scenario)))
		}
	}
	for i, hr := range headlineRows {
		if hr.timing {
			noise := hr.noise
			if noise == 0 {
				noise = NoiseCentral
			}
			markRow(cols, i, noise)
		}
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
	if multi {
		t.Notes = append(t.Notes, HeadlineNote)
	}
	return t
}

// splitTrials splits one engine's runs by trial number, in order.
func splitTrials(runs []*Run) [][]*Run {
	by := map[int][]*Run{}
	var order []int
	for _, r := range runs {
		if _, ok := by[r.Trial]; !ok {
			order = append(order, r.Trial)
		}
		by[r.Trial] = append(by[r.Trial], r)
	}
	sort.Ints(order)
	out := make([][]*Run, len(order))
	for i, k := range order {
		out[i] = by[k]
	}
	return out
}

// scenarioCondition is the condition (Condition) of the engine's runs of
// scenario: the first one found, with how many of the runs had one when
// not all did.
func scenarioCondition(runs []*Run, scenario string) string {
	first, k, n := "", 0, 0
	for _, r := range runs {
		if r.Scenario != scenario {
			continue
		}
		n++
		if c := Condition(r); c != "" {
			k++
			if first == "" {
				first = c
			}
		}
	}
	if k > 0 && k < n {
		first += fmt.Sprintf(" (%d/%d runs)", k, n)
	}
	return first
}

// headlineValue builds row i's cell of one engine from its per-trial
// measures (per[row][trial]).
func headlineValue(hr headlineRow, per [][]measure, i int, cond string) headlineCell {
	var vals []float64
	var ms []measure
	central := math.NaN()
	if hr.ratio != nil {
		hi, lo := per[hr.ratio[0]], per[hr.ratio[1]]
		var his, los []float64
		for k := range hi {
			if k < len(lo) && hi[k].ok && lo[k].ok && lo[k].v > 0 {
				vals = append(vals, hi[k].v/lo[k].v)
				his, los = append(his, hi[k].v), append(los, lo[k].v)
			}
		}
		if len(vals) > 0 {
			central = Median(his) / Median(los)
		}
		ms = append(append(ms, hi...), lo...)
	} else {
		ms = per[i]
		for _, m := range ms {
			if m.ok {
				vals = append(vals, m.v)
			}
		}
		if len(vals) > 0 {
			central = Median(vals)
		}
	}
	if len(vals) == 0 {
		state := ""
		for _, m := range ms {
			if m.state != "" {
				state = m.state
				break
			}
		}
		switch {
		case state == StatusFailed && cond != "":
			return stateCell(cond)
		case state != "":
			return stateCell(state)
		}
		return missingCell()
	}
	text := hr.format(central)
	for _, m := range ms {
		if m.ok && m.hasX && hr.ratio == nil {
			text += " @" + fmtNum(m.x)
			break
		}
	}
	if sp := SpreadOf(vals); len(vals) > 1 && (hr.timing || !sp.Exact()) {
		text += fmt.Sprintf(" (%s–%s)", hr.format(sp.Min), hr.format(sp.Max))
	}
	c := headlineCell{cell: numCell(central, text), found: true, value: true, vals: vals}
	if cond != "" {
		// Never a plain value: the condition leads, the number follows.
		c.cell = textCell(cond + " [" + text + "]")
		c.vals = nil
	}
	return c
}

// Noise factors of the headline's timing rows: a median within its row's
// factor of the row's lowest is "~", alike, whatever the spreads say; only
// a larger difference that the trials also separate is a verdict, and a
// verdict must survive the next run. Measured in six consecutive default
// runs (3 trials each) on a shared 2-core machine: an engine's ratio to the
// row's lowest, where no mechanism sets them apart, reached ×2.1 on median
// and mean rows (and their growth), ×3.8 on a steady phase's p99, ×2.1 on
// clone-burst wall time and ×15 on boot-storm p99; the mechanism effects
// never came below ×12 (cow's mean growth), ×6.5 (cow's tree p99) and
// ×4.0 (linked's burst against row's). With min–max ranges alone, or a
// 25% threshold, 14 to 22 of the 62 timing cells changed mark between
// three consecutive runs; with these factors none did in any of the six.
const (
	NoiseCentral  = 3.0  // medians, means and their growth
	NoiseTail     = 5.0  // p99 of a steady phase
	NoiseWallTime = 3.0  // wall time of a burst of operations
	NoiseStorm    = 20.0 // p99 while every clone boots at once
)

// markRow marks row i of a timing row: "~" on each healthy cell Separate
// cannot tell from the one with the lowest median, and on that one too if
// any is; "*" on the lowest when it is separated from every other. An
// unmarked cell is slower than the lowest. Cells of a
// single trial are not marked: one value a side proves nothing.
func markRow(cols [][]headlineCell, i int, noise float64) {
	best := -1
	for e := range cols {
		c := cols[e][i]
		if len(c.vals) == 0 {
			continue
		}
		if best < 0 || c.cell.Value < cols[best][i].cell.Value {
			best = e
		}
	}
	healthy := 0
	for e := range cols {
		switch n := len(cols[e][i].vals); {
		case n == 1:
			return // one trial cannot tell an engine's effect from noise
		case n > 1:
			healthy++
		}
	}
	if best < 0 || healthy < 2 {
		return
	}
	tied := false
	for e := range cols {
		c := &cols[e][i]
		if len(c.vals) == 0 || e == best {
			continue
		}
		alike := c.cell.Value < cols[best][i].cell.Value*noise
		if v, _, _ := Separate(c.vals, cols[best][i].vals); alike || v == Same {
			c.cell.Text += " ~"
			tied = true
		}
	}
	if tied {
		cols[best][i].cell.Text += " ~" // a lowest median that others match is no win
	} else {
		cols[best][i].cell.Text += " *"
	}
}

// engines lists the engines of runs in the order SetEngines gives.
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

func opMean(op Op) phaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return o.Mean, ok && o.Count > 0
	}
}

func opP99(op Op) phaseValue {
	return func(p *Phase) (float64, bool) {
		o, ok := p.Ops[op]
		return float64(o.P99), ok && o.Count > 0
	}
}

func deviceWritesPerWrite(p *Phase) (float64, bool) {
	return float64(p.Device.Writes) / float64(p.Logical.Writes), p.Logical.Writes > 0 && p.DeviceCounted()
}

// clonebushPhase is the named phase of the engine's clonebush run, or a
// measure saying why there is none.
func clonebushPhase(runs []*Run, name string) (*Run, *Phase, measure) {
	r := clonebush(runs)
	if r == nil {
		return nil, nil, measure{}
	}
	p := r.Phase(name)
	if s := runState(r, p); s != "" {
		return nil, nil, measure{state: s}
	}
	if p == nil {
		return nil, nil, measure{}
	}
	return r, p, measure{}
}

func burstWritesPerClone(runs []*Run) measure {
	_, p, m := clonebushPhase(runs, "burst")
	if p == nil {
		return m
	}
	clones := p.Metrics["clones"]
	if clones <= 0 {
		return measure{}
	}
	return measure{v: float64(p.Device.Writes) / clones, x: clones, hasX: true, ok: true}
}

func burstSeconds(runs []*Run) measure {
	_, p, m := clonebushPhase(runs, "burst")
	if p == nil {
		return m
	}
	secs, ok := p.Metrics["burst_s"]
	if !ok {
		secs = p.Seconds
	}
	clones, ok := p.Metrics["clones"]
	if !ok {
		clones = float64(p.Ops[OpClone].Count)
	}
	return measure{v: secs, x: clones, hasX: clones > 0, ok: true}
}

func bootP99(op Op) func([]*Run) measure {
	return func(runs []*Run) measure {
		_, p, m := clonebushPhase(runs, "boot")
		if p == nil {
			return m
		}
		o, ok := p.Ops[op]
		if !ok || o.Count == 0 {
			return measure{}
		}
		return measure{v: float64(o.P99), ok: true}
	}
}

// phaseMetric reads Metrics[key] of the clonebush run's phase.
func phaseMetric(phase, key string) func([]*Run) measure {
	return func(runs []*Run) measure {
		_, p, m := clonebushPhase(runs, phase)
		if p == nil {
			return m
		}
		v, ok := p.Metrics[key]
		return measure{v: v, ok: ok}
	}
}

func templateDeleted(runs []*Run) measure {
	r := clonebush(runs)
	if r == nil {
		return measure{}
	}
	if r.Status == StatusUnsupported {
		return measure{state: Unsupported}
	}
	for _, p := range r.Phases {
		if v, ok := p.Metrics["template_deleted"]; ok {
			return measure{v: v, ok: true}
		}
	}
	if p := r.Phase("delete-template"); p != nil && p.Unsupported != "" {
		return measure{state: Unsupported}
	}
	return measure{}
}
