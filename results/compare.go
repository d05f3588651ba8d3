package results

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// CompareOptions tune Compare.
type CompareOptions struct {
	// Threshold is the relative slowdown of a timing ratio that counts as a
	// regression (0.10 = 10%).
	Threshold float64
	// Absolute compares timings as absolute values where no raw baseline
	// run exists, instead of skipping them.
	Absolute bool
}

// DefaultThreshold is the timing threshold compare uses unless told.
const DefaultThreshold = 0.10

// Verdicts of a Diff. Those in capitals are regressions.
const (
	VerdictOK        = "ok"
	VerdictSlower    = "SLOWER"         // a timing ratio grew beyond the threshold
	VerdictMismatch  = "MISMATCH"       // a deterministic counter differs
	VerdictMissing   = "MISSING IN NEW" // a run or phase of BASE is not in NEW
	VerdictStatus    = "STATUS"         // ok in BASE, not ok (or unsupported) in NEW
	VerdictFaster    = "faster"         // a timing ratio shrank beyond the threshold
	VerdictFixed     = "fixed"          // not ok in BASE, ok in NEW
	VerdictSkipped   = "skipped"        // no baseline value to divide by
	VerdictNotInBase = "not in BASE"    // a run only NEW has
)

// Diff is one compared value.
type Diff struct {
	Engine   string // the run's label: engine, and sweep point if any
	Scenario string
	Phase    string
	Metric   string
	Base     string
	New      string
	Delta    string
	Verdict  string
	// Regression is set for a difference that fails the comparison.
	Regression bool
}

// Comparison is the result of Compare.
type Comparison struct {
	Diffs []Diff
	Notes []string
	Runs  int // pairs of runs compared

	noteOrder []string            // messages in order of first use
	noteItems map[string][]string // message -> the runs it applies to
}

// Regressions counts the diffs that fail the comparison.
func (c *Comparison) Regressions() int {
	n := 0
	for _, d := range c.Diffs {
		if d.Regression {
			n++
		}
	}
	return n
}

// note records that msg applies to item (a run label); notes with the same
// message are listed once with their items.
func (c *Comparison) note(item, msg string) {
	if c.noteItems == nil {
		c.noteItems = map[string][]string{}
	}
	items, seen := c.noteItems[msg]
	if !seen {
		c.noteOrder = append(c.noteOrder, msg)
	}
	for _, it := range items {
		if it == item {
			return
		}
	}
	c.noteItems[msg] = append(items, item)
}

// finishNotes turns the recorded notes into Notes.
func (c *Comparison) finishNotes() {
	const show = 6
	for _, msg := range c.noteOrder {
		items := c.noteItems[msg]
		list := items
		more := ""
		if len(list) > show {
			list, more = list[:show], fmt.Sprintf(" and %d more", len(items)-show)
		}
		c.Notes = append(c.Notes, fmt.Sprintf("%s: %s%s", msg, strings.Join(list, ", "), more))
	}
}

// Compare pairs the runs of base and next by name (label or scenario),
// engine and sweep point, their phases by name and occurrence, and
// compares:
//
//   - deterministic counters exactly: device reads, writes, bytes read and
//     written, flushes; data and metadata space after the phase; count and
//     bytes of every operation kind. Only when both runs are ok, used the
//     same seed and parameters, at queue depth 1 (Params "qd" or
//     "queue_depth" absent or "1") and without a time budget (Params
//     "duration" absent or 0); otherwise a note says why not.
//   - timings (phase seconds and p50 of each operation kind). With several
//     trials on both sides (runs with Trials > 1), every timing of every
//     engine, as absolute values across the trials: a change is reported
//     only when Separate tells the sides apart (Mann–Whitney U p < Alpha,
//     or disjoint min–max ranges with too few trials for the test) and the
//     medians differ by more than Threshold. With one trial a side, as
//     ratios to the raw engine's same phase of the same run set; slower by
//     more than Threshold is a regression. Without a raw run, timings are
//     compared as absolute values if Absolute is set, else skipped with a
//     note. Counters are compared on the first trial of each side.
//
// A run, or a phase, present in base but missing (or no longer supported,
// or failed) in next is a regression; one only in next is reported.
func Compare(base, next []*Run, opts CompareOptions) *Comparison {
	if opts.Threshold <= 0 {
		opts.Threshold = DefaultThreshold
	}
	base, next = sortedCopy(base), sortedCopy(next)
	c := &Comparison{}
	bi, ni := indexRuns(c, base, "BASE"), indexRuns(c, next, "NEW")
	bt, nt := trialIndex(base), trialIndex(next)
	inst := instanceKeys(append(append([]*Run(nil), base...), next...))
	for _, b := range base {
		if bi[b.Key()] != b {
			continue // a duplicate, noted
		}
		n := ni[b.Key()]
		if n == nil {
			c.Diffs = append(c.Diffs, Diff{Engine: b.Label(), Scenario: b.Name(), Metric: "run",
				Base: b.Status, New: "-", Verdict: VerdictMissing, Regression: true})
			continue
		}
		c.Runs++
		comparePair(c, b, n, bi, ni, inst, opts)
		if len(bt[b.Key()]) > 1 && len(nt[b.Key()]) > 1 {
			compareTrials(c, bt[b.Key()], nt[b.Key()], inst, opts)
		}
	}
	for _, n := range next {
		if ni[n.Key()] == n && bi[n.Key()] == nil {
			c.Diffs = append(c.Diffs, Diff{Engine: n.Label(), Scenario: n.Name(), Metric: "run",
				Base: "-", New: n.Status, Verdict: VerdictNotInBase})
		}
	}
	c.finishNotes()
	return c
}

func indexRuns(c *Comparison, runs []*Run, side string) map[string]*Run {
	idx := make(map[string]*Run, len(runs))
	for _, r := range runs {
		if idx[r.Key()] != nil && r.Trials > 1 {
			continue // another trial of the point: the first stands for its counters
		}
		if idx[r.Key()] != nil {
			c.note(r.Key(), side+" has a run twice, the first is compared")
			continue
		}
		idx[r.Key()] = r
	}
	return idx
}

// baselineKey is the key of the raw run matching r.
func baselineKey(r *Run) string {
	k := r.Name() + "/" + baselineEngine
	if p, v := r.SweepPoint(); p != "" {
		k += "/" + p + "=" + v
	}
	return k
}

func comparePair(c *Comparison, b, n *Run, bi, ni map[string]*Run, inst map[string][]string, opts CompareOptions) {
	diff := func(phase, metric string) Diff {
		return Diff{Engine: b.Label(), Scenario: b.Name(), Phase: phase, Metric: metric}
	}
	if b.Status != n.Status {
		d := diff("", "status")
		d.Base, d.New, d.Verdict = b.Status, n.Status, VerdictFixed
		if b.Status == StatusOK {
			d.Verdict, d.Regression = VerdictStatus, true
		}
		c.Diffs = append(c.Diffs, d)
	}
	if b.Status == StatusUnsupported || n.Status == StatusUnsupported {
		return
	}
	counters := deterministic(b, n)
	if counters != "" {
		c.note(b.Label(), fmt.Sprintf("%s: counters not compared, %s", b.Name(), counters))
	}
	braw, nraw := bi[baselineKey(b)], ni[baselineKey(n)]
	timing := "ratio"
	switch {
	case b.Trials > 1 && n.Trials > 1:
		timing = "" // compareTrials tests every timing across the trials
	case b.Engine == baselineEngine && !opts.Absolute:
		timing = ""
		c.note(b.Label(), fmt.Sprintf("%s: %s is the divisor of the other engines' timings, its own are not compared with one trial a side (--absolute or --repeat compares them)",
			b.Name(), baselineEngine))
	case braw == nil || nraw == nil:
		timing = ""
		if opts.Absolute {
			timing = "absolute"
		} else if b.Engine != baselineEngine {
			c.note(b.Label(), fmt.Sprintf("%s: no %s run in both sets, timings not compared (--absolute compares them as they are)",
				b.Name(), baselineEngine))
		}
	}
	if b.Engine == baselineEngine && opts.Absolute {
		timing = "absolute"
	}
	for _, ref := range b.phaseRefs(inst) {
		bp := ref.Phase
		if bp.Unsupported != "" {
			continue
		}
		np := occurrence(n, bp.Name, ref.Index)
		switch {
		case np == nil:
			d := diff(ref.ID, "phase")
			d.Base, d.New, d.Verdict, d.Regression = "ran", "-", VerdictMissing, true
			c.Diffs = append(c.Diffs, d)
			continue
		case np.Unsupported != "":
			d := diff(ref.ID, "phase")
			d.Base, d.New, d.Verdict, d.Regression = "ran", Unsupported, VerdictStatus, true
			c.Diffs = append(c.Diffs, d)
			continue
		}
		if counters == "" {
			for _, m := range phaseCounters(bp, np) {
				d := diff(ref.ID, m.name)
				d.Base, d.New = strconv.FormatInt(m.base, 10), strconv.FormatInt(m.next, 10)
				d.Verdict = VerdictOK
				if m.base != m.next {
					d.Delta = fmt.Sprintf("%+d", m.next-m.base)
					d.Verdict, d.Regression = VerdictMismatch, true
				}
				c.Diffs = append(c.Diffs, d)
			}
		}
		if timing == "" {
			continue
		}
		var brp, nrp *Phase
		if timing == "ratio" {
			brp, nrp = occurrence(braw, bp.Name, ref.Index), occurrence(nraw, bp.Name, ref.Index)
			if brp == nil || nrp == nil || brp.Unsupported != "" || nrp.Unsupported != "" {
				c.note(b.Label(), fmt.Sprintf("%s/%s: the %s run lacks the phase, timings not compared", b.Name(), ref.ID, baselineEngine))
				continue
			}
		}
		for _, tm := range phaseTimings(bp, np, brp, nrp) {
			c.Diffs = append(c.Diffs, timingDiff(diff(ref.ID, tm.name), tm, timing == "ratio", opts.Threshold))
		}
	}
}

// occurrence returns the index-th phase named name of r (from 0), or nil.
func occurrence(r *Run, name string, index int) *Phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			if index == 0 {
				return &r.Phases[i]
			}
			index--
		}
	}
	return nil
}

// deterministic says why two runs' counters cannot be compared exactly
// ("" when they can).
func deterministic(b, n *Run) string {
	switch {
	case b.Status != StatusOK || n.Status != StatusOK:
		return "a run is " + nonOK(b, n)
	case b.Seed != n.Seed:
		return fmt.Sprintf("seeds differ (%d, %d)", b.Seed, n.Seed)
	case !countingParamsEqual(b.Params, n.Params):
		return "parameters differ"
	}
	for _, k := range []string{"qd", "queue_depth"} {
		if qd := b.Params[k]; qd != "" && qd != "1" {
			return "queue depth " + qd + " is not deterministic"
		}
	}
	if d, err := time.ParseDuration(b.Params["duration"]); err == nil && d > 0 {
		return "a time budget (duration=" + b.Params["duration"] + ") is not deterministic"
	}
	return ""
}

// timingParams are scenario parameters that change what is timed or how
// timings are kept, never the engine calls or device operations: runs that
// differ only in them (or where one side predates them) still compare
// counters exactly.
var timingParams = map[string]bool{"hlog_interval": true}

// countingParamsEqual compares two runs' parameters, ignoring timingParams.
func countingParamsEqual(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !timingParams[k] && (!ok || v != w) {
			return false
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !timingParams[k] {
			return false
		}
	}
	return true
}

func nonOK(b, n *Run) string {
	if b.Status != StatusOK {
		return b.Status
	}
	return n.Status
}

type counterPair struct {
	name       string
	base, next int64
}

func phaseCounters(b, n *Phase) []counterPair {
	out := []counterPair{
		{"device reads", b.Device.Reads, n.Device.Reads},
		{"device writes", b.Device.Writes, n.Device.Writes},
		{"device read bytes", b.Device.ReadBytes, n.Device.ReadBytes},
		{"device write bytes", b.Device.WriteBytes, n.Device.WriteBytes},
		{"device flushes", b.Device.Flushes, n.Device.Flushes},
		{"space data", b.Space.After.Data, n.Space.After.Data},
		{"space metadata", b.Space.After.Metadata, n.Space.After.Metadata},
	}
	ops := make([]Op, 0, len(b.Ops)+len(n.Ops))
	for op := range b.Ops {
		ops = append(ops, op)
	}
	for op := range n.Ops {
		if _, ok := b.Ops[op]; !ok {
			ops = append(ops, op)
		}
	}
	sortOps(ops)
	for _, op := range ops {
		out = append(out,
			counterPair{string(op) + " count", b.Ops[op].Count, n.Ops[op].Count},
			counterPair{string(op) + " bytes", b.Ops[op].Bytes, n.Ops[op].Bytes})
	}
	return out
}

// timingPair holds a timing of both runs and of their baselines (zero when
// compared absolutely).
type timingPair struct {
	name                 string
	base, next           float64 // ns
	baseRef, nextRef     float64
	baseRefOK, nextRefOK bool
}

// A phase's wall time is compared only when it ran at least
// MinTimedSeconds: a shorter one is at the mercy of one stall on a shared
// machine (a 200 ms phase easily takes 500 ms), and its percentiles, which
// one stall cannot move, still are compared. Percentiles of fewer than
// MinTimedOps operations are not compared either.
const (
	MinTimedSeconds = 1.0
	MinTimedOps     = 100
)

func phaseTimings(b, n, braw, nraw *Phase) []timingPair {
	ref := func(p *Phase, get func(*Phase) (float64, bool)) (float64, bool) {
		if p == nil {
			return 0, false
		}
		return get(p)
	}
	var out []timingPair
	add := func(name string, get func(*Phase) (float64, bool)) {
		bv, bok := get(b)
		nv, nok := get(n)
		if !bok || !nok {
			return
		}
		t := timingPair{name: name, base: bv, next: nv}
		t.baseRef, t.baseRefOK = ref(braw, get)
		t.nextRef, t.nextRefOK = ref(nraw, get)
		out = append(out, t)
	}
	add("seconds", func(p *Phase) (float64, bool) { return p.Seconds * 1e9, p.Seconds >= MinTimedSeconds })
	ops := make([]Op, 0, len(b.Ops))
	for op := range b.Ops {
		ops = append(ops, op)
	}
	sortOps(ops)
	for _, op := range ops {
		add(string(op)+" p50", func(p *Phase) (float64, bool) {
			o := p.Ops[op]
			return float64(o.P50), o.Count >= MinTimedOps && o.P50 > 0
		})
	}
	return out
}

func timingDiff(d Diff, t timingPair, ratio bool, threshold float64) Diff {
	bv, nv := t.base, t.next
	if ratio {
		if !t.baseRefOK || !t.nextRefOK || t.baseRef <= 0 || t.nextRef <= 0 {
			d.Base, d.New, d.Verdict = fmtDuration(t.base), fmtDuration(t.next), VerdictSkipped
			d.Delta = "no " + baselineEngine + " value"
			return d
		}
		bv, nv = t.base/t.baseRef, t.next/t.nextRef
		d.Metric += " / " + baselineEngine
		d.Base, d.New = fmtNum(bv)+"×", fmtNum(nv)+"×"
	} else {
		d.Base, d.New = fmtDuration(bv), fmtDuration(nv)
	}
	change := nv/bv - 1
	d.Delta = fmt.Sprintf("%+.1f%%", 100*change)
	d.Verdict = VerdictOK
	switch {
	case math.IsNaN(change):
		d.Verdict = VerdictSkipped
	case change > threshold:
		d.Verdict, d.Regression = VerdictSlower, true
	case change < -threshold:
		d.Verdict = VerdictFaster
	}
	return d
}

// Table renders the comparison: every diff when all is set, else only
// those whose verdict is not "ok".
func (c *Comparison) Table(all bool) Table {
	t := Table{Title: "compare", Columns: []Column{
		{Header: "engine", Key: "engine"}, {Header: "scenario", Key: "scenario"}, {Header: "phase", Key: "phase"},
		{Header: "metric", Key: "metric"}, {Header: "base", Key: "base"}, {Header: "new", Key: "new"},
		{Header: "delta", Key: "delta"}, {Header: "verdict", Key: "verdict"},
	}}
	for _, d := range c.Diffs {
		if !all && d.Verdict == VerdictOK {
			continue
		}
		t.Rows = append(t.Rows, []Cell{textCell(d.Engine), textCell(d.Scenario), textCell(orMissing(d.Phase)),
			textCell(d.Metric), textCell(d.Base), textCell(d.New), textCell(orMissing(d.Delta)), textCell(d.Verdict)})
	}
	t.Notes = c.Notes
	return t
}

// Summary is one line: how many runs and values were compared and how many
// regressed.
func (c *Comparison) Summary() string {
	counts := map[string]int{}
	for _, d := range c.Diffs {
		counts[d.Verdict]++
	}
	s := fmt.Sprintf("%d run pairs, %d values compared: %d regressions", c.Runs, len(c.Diffs), c.Regressions())
	for _, v := range []string{VerdictFaster, VerdictSkipped, VerdictNotInBase, VerdictFixed} {
		if counts[v] > 0 {
			s += fmt.Sprintf(", %d %s", counts[v], v)
		}
	}
	return s
}

// trialIndex maps each run key to its trials.
func trialIndex(runs []*Run) map[string][]*Run {
	out := map[string][]*Run{}
	for _, g := range GroupTrials(runs) {
		out[g[0].Key()] = g
	}
	return out
}

// compareTrials compares the timings of one point's trials on both sides,
// phase by phase, metric by metric (see Compare).
func compareTrials(c *Comparison, bt, nt []*Run, inst map[string][]string, opts CompareOptions) {
	b := bt[0]
	for _, ref := range b.phaseRefs(inst) {
		if ref.Unsupported != "" {
			continue
		}
		phases := func(trials []*Run) []*Phase {
			var ps []*Phase
			for _, t := range trials {
				if p := occurrence(t, ref.Name, ref.Index); p != nil && p.Unsupported == "" {
					ps = append(ps, p)
				}
			}
			return ps
		}
		bps, nps := phases(bt), phases(nt)
		if len(bps) < 2 || len(nps) < 2 {
			continue // compareTrials needs trials; the phase's absence is reported by comparePair
		}
		for _, m := range trialMetrics(bps[0]) {
			bv, nv := trialValues(bps, m.get), trialValues(nps, m.get)
			if len(bv) < 2 || len(nv) < 2 {
				continue
			}
			d := Diff{Engine: b.Label(), Scenario: b.Name(), Phase: ref.ID, Metric: m.name}
			c.Diffs = append(c.Diffs, trialDiff(d, bv, nv, opts.Threshold))
		}
	}
}

type trialMetric struct {
	name string
	get  func(*Phase) (float64, bool)
}

// trialMetrics are the timings compared across trials: phase seconds (from
// MinTimedSeconds) and the p50 of every operation kind (from MinTimedOps).
func trialMetrics(p *Phase) []trialMetric {
	out := []trialMetric{{"seconds", func(p *Phase) (float64, bool) { return p.Seconds * 1e9, p.Seconds >= MinTimedSeconds }}}
	ops := make([]Op, 0, len(p.Ops))
	for op := range p.Ops {
		ops = append(ops, op)
	}
	sortOps(ops)
	for _, op := range ops {
		out = append(out, trialMetric{string(op) + " p50", func(p *Phase) (float64, bool) {
			o := p.Ops[op]
			return float64(o.P50), o.Count >= MinTimedOps && o.P50 > 0
		}})
	}
	return out
}

func trialValues(ps []*Phase, get func(*Phase) (float64, bool)) []float64 {
	var out []float64
	for _, p := range ps {
		if v, ok := get(p); ok {
			out = append(out, v)
		}
	}
	return out
}

// trialDiff judges one timing across trials: medians, their change, and the
// verdict Separate allows.
func trialDiff(d Diff, bv, nv []float64, threshold float64) Diff {
	bs, ns := SpreadOf(bv), SpreadOf(nv)
	d.Base = fmt.Sprintf("%s (%s–%s, n=%d)", fmtDuration(bs.Median), fmtDuration(bs.Min), fmtDuration(bs.Max), bs.N)
	d.New = fmt.Sprintf("%s (%s–%s, n=%d)", fmtDuration(ns.Median), fmtDuration(ns.Min), fmtDuration(ns.Max), ns.N)
	change := ns.Median/bs.Median - 1
	v, p, method := Separate(nv, bv)
	d.Delta = fmt.Sprintf("%+.1f%%", 100*change)
	if method == "U test" {
		d.Delta += fmt.Sprintf(" p=%.3f", p)
	} else {
		d.Delta += " (" + method + ")"
	}
	d.Verdict = VerdictOK
	switch {
	case math.IsNaN(change) || math.IsInf(change, 0):
		d.Verdict = VerdictSkipped
	case v == Higher && change > threshold:
		d.Verdict, d.Regression = VerdictSlower, true
	case v == Lower && change < -threshold:
		d.Verdict = VerdictFaster
	}
	return d
}
