package results

import (
	"fmt"
	"math"
	"slices"
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

// HeadlineMetric is one row of the headline table. The scenario that
// measures it declares it (workloads registers its scenarios' metrics with
// RegisterHeadline); results computes, spreads and ranks it without knowing
// what it reads.
type HeadlineMetric struct {
	// Order places the row: lower first. The deterministic mechanism
	// costs lead, then the timings.
	Order int
	Label string
	Key   string // stable machine name of the row (JSON, CSV)
	Unit  string
	// Note explains the row under the table; rows of one quantity share
	// the first one's.
	Note   string
	Format func(float64) string
	// Scenario is the scenario whose runs' condition (degraded, failed) a
	// cell carries.
	Scenario string
	// Timing rows are moved by noise: they show the min–max spread across
	// trials and are ranked ("*", "~") within Noise (0: NoiseCentral).
	Timing bool
	Noise  float64
	// Get reads one trial's runs of one engine. A growth row has no Get:
	// it divides the median of the row keyed Growth[0] by that of the row
	// keyed Growth[1] (both registered), its spread from the per-trial
	// ratios.
	Get    func(trial []*Run) Measure
	Growth [2]string
}

var headlineMetrics = ordered[HeadlineMetric]{what: "headline metric",
	id: func(m HeadlineMetric) (string, int) { return m.Key, m.Order }}

// RegisterHeadline adds metrics to the headline table. It panics on a
// metric without a label, key or format, with both or neither of Get and
// Growth, or with the key or order of one already registered: programming
// errors that any test of the registering package catches. Call it from
// init functions (see ordered).
func RegisterHeadline(ms ...HeadlineMetric) {
	for _, m := range ms {
		growth := m.Growth != [2]string{}
		if m.Label == "" || m.Key == "" || m.Format == nil || (m.Get == nil) == !growth {
			panic(fmt.Sprintf("results: headline metric %q: want a label, a key, a format, and a Get or a Growth", m.Key))
		}
		headlineMetrics.add(m)
	}
}

// HeadlineMetrics returns the registered headline metrics in order.
func HeadlineMetrics() []HeadlineMetric { return slices.Clone(headlineMetrics.items) }

// growthRows resolves the Growth keys of rows to their indices in rows:
// [numerator, denominator]; -1 for a key that names no row (the row then
// shows no value) and for both of a row with a Get.
func growthRows(rows []HeadlineMetric) [][2]int {
	at := map[string]int{}
	for i, m := range rows {
		at[m.Key] = i
	}
	out := make([][2]int, len(rows))
	for i, m := range rows {
		out[i] = [2]int{-1, -1}
		if m.Get != nil {
			continue
		}
		for k, key := range m.Growth {
			if j, ok := at[key]; ok {
				out[i][k] = j
			}
		}
	}
	return out
}

// HeadlineNote explains the spread and the marks of timing cells.
const HeadlineNote = "timings: median across trials (min–max); * lowest, separated from every other engine; ~ not separable from the lowest median (nor the lowest from it): " +
	"within the row's noise factor of it (×3 for medians, means, growth and burst time, ×5 for a steady phase's p99, ×20 for the boot storm's p99: " +
	"more than such rows moved between consecutive default runs on a shared 2-core machine), " +
	"or Mann–Whitney U p ≥ 0.05 with enough trials, else overlapping min–max ranges; unmarked: slower than the lowest; a value from a degraded or failed run is shown in brackets after its condition and not ranked"

// Headline is the table that states the thesis in numbers. It is
// Transposed: one row per registered headline metric (RegisterHeadline; the
// scenarios declare them), one column per engine. Timing rows show the
// median across trials with their min–max spread and are ranked.
// Trials of a point are runs with the same Key (GroupTrials). A cell whose
// runs were degraded or failed (Condition) says so before its value. Rows
// no engine has a value for are left out.
func Headline(runs []*Run) Table {
	runs = sortedCopy(runs)
	t := Table{Title: "headline", Transposed: true, Origin: commonOrigin(runs)}
	t.Columns = []Column{{Header: "metric", Key: "metric"}}
	rows := HeadlineMetrics()
	growth := growthRows(rows)
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
		per := make([][]Measure, len(rows)) // row, trial
		for i, hr := range rows {
			if hr.Get == nil {
				continue
			}
			for _, tr := range trials {
				per[i] = append(per[i], hr.Get(tr))
			}
		}
		for i, hr := range rows {
			cols[e] = append(cols[e], headlineValue(hr, growth[i], per, i, scenarioCondition(mine, hr.Scenario)))
		}
	}
	for i, hr := range rows {
		if hr.Timing {
			noise := hr.Noise
			if noise == 0 {
				noise = NoiseCentral
			}
			markRow(cols, i, noise)
		}
	}
	for i, hr := range rows {
		found, measured := false, false
		row := []Cell{textCell(hr.Label)}
		for _, col := range cols {
			row = append(row, col[i].cell)
			found = found || col[i].found
			measured = measured || col[i].value
		}
		if !found || !measured && len(cols) > 1 {
			continue
		}
		t.Rows = append(t.Rows, row)
		t.RowKeys = append(t.RowKeys, Column{Header: hr.Label, Key: hr.Key, Unit: hr.Unit})
		if hr.Note != "" {
			t.Notes = append(t.Notes, hr.Note)
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
// measures (per[row][trial]); growth is the row's [numerator, denominator]
// rows (growthRows).
func headlineValue(hr HeadlineMetric, growth [2]int, per [][]Measure, i int, cond string) headlineCell {
	var vals []float64
	var ms []Measure
	central := math.NaN()
	if hr.Get == nil {
		var hi, lo []Measure
		if growth[0] >= 0 && growth[1] >= 0 {
			hi, lo = per[growth[0]], per[growth[1]]
		}
		var his, los []float64
		for k := range hi {
			if k < len(lo) && hi[k].OK && lo[k].OK && lo[k].Value > 0 {
				vals = append(vals, hi[k].Value/lo[k].Value)
				his, los = append(his, hi[k].Value), append(los, lo[k].Value)
			}
		}
		if len(vals) > 0 {
			central = Median(his) / Median(los)
		}
		ms = append(append(ms, hi...), lo...)
	} else {
		ms = per[i]
		for _, m := range ms {
			if m.OK {
				vals = append(vals, m.Value)
			}
		}
		if len(vals) > 0 {
			central = Median(vals)
		}
	}
	if len(vals) == 0 {
		state := ""
		for _, m := range ms {
			if m.State != "" {
				state = m.State
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
	text := hr.Format(central)
	for _, m := range ms {
		if m.OK && m.HasX && hr.Get != nil {
			text += " @" + fmtNum(m.X)
			break
		}
	}
	if sp := SpreadOf(vals); len(vals) > 1 && (hr.Timing || !sp.Exact()) {
		text += fmt.Sprintf(" (%s–%s)", hr.Format(sp.Min), hr.Format(sp.Max))
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
