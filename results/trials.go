package results

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// GroupTrials groups runs by Key (scenario or label, engine, sweep point),
// each group's trials in Trial order; groups in the order of their first
// run. A single-trial run is a group of one.
func GroupTrials(runs []*Run) [][]*Run {
	idx := map[string]int{}
	var out [][]*Run
	for _, r := range runs {
		k := r.Key()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	for _, g := range out {
		sort.SliceStable(g, func(i, j int) bool { return g[i].Trial < g[j].Trial })
	}
	return out
}

// CollapseTrials returns one run per group of trials (GroupTrials): a
// single trial as it is, several as MedianRun. Tables that show one value
// per run read this.
func CollapseTrials(runs []*Run) []*Run {
	var out []*Run
	for _, g := range GroupTrials(runs) {
		out = append(out, MedianRun(g))
	}
	return out
}

// MedianRun merges the trials of one point into one run whose timings,
// counters and metrics are the medians across the trials, phase by phase
// (a phase counts where every trial has it under the same name at the same
// place). Its status is the worst of the trials' (failed, incomplete, ok),
// its reason that of the first trial with that status, followed by how many
// trials had it. An operation's histogram is that of the trial whose p50
// is nearest the median p50 (a median of histograms is not one). The trials
// are not modified.
func MedianRun(trials []*Run) *Run {
	if len(trials) == 1 {
		return trials[0]
	}
	worst := trials[0]
	bad := 0
	for _, t := range trials {
		if statusRank(t.Status) > statusRank(worst.Status) {
			worst = t
		}
	}
	for _, t := range trials {
		if t.Status == worst.Status {
			bad++
		}
	}
	m := *worst
	m.Trial = 0
	m.Trials = len(trials)
	if worst.Status != StatusOK && bad < len(trials) {
		m.Reason = fmt.Sprintf("%s (%d of %d trials)", worst.Reason, bad, len(trials))
	}
	m.Seconds = Median(collect(trials, func(r *Run) (float64, bool) { return r.Seconds, true }))
	m.Phases = make([]Phase, len(worst.Phases))
	for i := range worst.Phases {
		m.Phases[i] = medianPhase(trials, i, worst.Phases[i])
	}
	for _, t := range trials {
		for _, w := range t.Warnings {
			if !slices.Contains(m.Warnings, w) {
				m.Warnings = append(m.Warnings, w)
			}
		}
	}
	return &m
}

func statusRank(s string) int {
	switch s {
	case StatusFailed:
		return 3
	case StatusIncomplete:
		return 2
	case StatusUnsupported:
		return 1
	}
	return 0
}

func collect(trials []*Run, f func(*Run) (float64, bool)) []float64 {
	var xs []float64
	for _, t := range trials {
		if v, ok := f(t); ok {
			xs = append(xs, v)
		}
	}
	return xs
}

// medianPhase is phase i of the trials with median values.
func medianPhase(trials []*Run, i int, base Phase) Phase {
	var ps []*Phase
	for _, t := range trials {
		if i < len(t.Phases) && t.Phases[i].Name == base.Name {
			ps = append(ps, &t.Phases[i])
		}
	}
	out := base
	med := func(f func(*Phase) float64) float64 {
		xs := make([]float64, len(ps))
		for j, p := range ps {
			xs[j] = f(p)
		}
		return Median(xs)
	}
	medInt := func(f func(*Phase) int64) int64 {
		return int64(med(func(p *Phase) float64 { return float64(f(p)) }) + 0.5)
	}
	out.Seconds = med(func(p *Phase) float64 { return p.Seconds })
	out.Ops = make(map[Op]OpStats, len(base.Ops))
	for op, o := range base.Ops {
		st := func(p *Phase) OpStats { return p.Ops[op] }
		o.Hist = medianHist(ps, op)
		o.Count = medInt(func(p *Phase) int64 { return st(p).Count })
		o.Bytes = medInt(func(p *Phase) int64 { return st(p).Bytes })
		o.Errors = medInt(func(p *Phase) int64 { return st(p).Errors })
		o.Total = medInt(func(p *Phase) int64 { return st(p).Total })
		o.Mean = med(func(p *Phase) float64 { return st(p).Mean })
		o.P50 = medInt(func(p *Phase) int64 { return st(p).P50 })
		o.P90 = medInt(func(p *Phase) int64 { return st(p).P90 })
		o.P99 = medInt(func(p *Phase) int64 { return st(p).P99 })
		o.P999 = medInt(func(p *Phase) int64 { return st(p).P999 })
		o.Max = medInt(func(p *Phase) int64 { return st(p).Max })
		out.Ops[op] = o
	}
	d := func(f func(c DeviceCounters) int64) int64 {
		return medInt(func(p *Phase) int64 { return f(p.Device) })
	}
	out.Device = DeviceCounters{
		Reads: d(func(c DeviceCounters) int64 { return c.Reads }), Writes: d(func(c DeviceCounters) int64 { return c.Writes }),
		ReadBytes: d(func(c DeviceCounters) int64 { return c.ReadBytes }), WriteBytes: d(func(c DeviceCounters) int64 { return c.WriteBytes }),
		Flushes: d(func(c DeviceCounters) int64 { return c.Flushes }), Discards: d(func(c DeviceCounters) int64 { return c.Discards }),
		DiscardBytes: d(func(c DeviceCounters) int64 { return c.DiscardBytes }), Errors: d(func(c DeviceCounters) int64 { return c.Errors }),
	}
	out.CPU.UserSeconds = med(func(p *Phase) float64 { return p.CPU.UserSeconds })
	out.CPU.SysSeconds = med(func(p *Phase) float64 { return p.CPU.SysSeconds })
	if base.Metrics != nil {
		out.Metrics = make(map[string]float64, len(base.Metrics))
		for k := range base.Metrics {
			var xs []float64
			for _, p := range ps {
				if v, ok := p.Metrics[k]; ok {
					xs = append(xs, v)
				}
			}
			out.Metrics[k] = Median(xs)
		}
	}
	return out
}

// Condition says, in a few words, why r's numbers are not plain values:
// "failed: no space", "failed", "incomplete", or "degraded: 31/32
// invalidated" when the engine invalidated or expired snapshots or clones
// on its own (out of room) or IOs failed for lack of space. "" for a
// healthy ok run and for an unsupported one (shown as such elsewhere).
func Condition(r *Run) string {
	switch r.Status {
	case StatusFailed:
		if strings.Contains(r.Reason, "no space") {
			return "failed: no space"
		}
		return StatusFailed
	case StatusIncomplete:
		return StatusIncomplete
	case StatusUnsupported:
		return ""
	}
	var copies, inval, expired, noSpace int64
	for i := range r.Phases {
		p := &r.Phases[i]
		copies += p.Ops[OpSnapshot].Count + p.Ops[OpClone].Count
		inval = max(inval, p.Space.After.Invalidated)
		expired = max(expired, p.Space.After.Expired)
		noSpace += int64(p.Metrics["no_space_ios"])
	}
	var parts []string
	of := func(n int64, what string) string {
		if copies > 0 {
			return fmt.Sprintf("%d/%d %s", n, copies, what)
		}
		return fmt.Sprintf("%d %s", n, what)
	}
	if inval > 0 {
		parts = append(parts, of(inval, "invalidated"))
	}
	if expired > 0 {
		parts = append(parts, of(expired, "expired by engine"))
	}
	if noSpace > 0 {
		parts = append(parts, fmt.Sprintf("%d IOs out of space", noSpace))
	}
	if len(parts) == 0 {
		return ""
	}
	return "degraded: " + strings.Join(parts, ", ")
}

// TrialsCondition is the Condition of a group of trials: the first
// non-empty one, with "in k/n trials" when not every trial had one.
func TrialsCondition(trials []*Run) string {
	first, k := "", 0
	for _, t := range trials {
		if c := Condition(t); c != "" {
			k++
			if first == "" {
				first = c
			}
		}
	}
	if k > 0 && k < len(trials) {
		first += fmt.Sprintf(" in %d/%d trials", k, len(trials))
	}
	return first
}

// countedBelow reports whether any phase of r took its device counters from
// a layer below snapbench (a real-system peer's kernel block device or a
// Ceph cluster's OSDs). Such a run's counters and space include the kernel's
// or the cluster's own activity, so they are not reproducible and are left
// out of the determinism check.
func countedBelow(r *Run) bool {
	for i := range r.Phases {
		if r.Phases[i].DeviceSource != "" {
			return true
		}
	}
	return false
}

// DeterministicDiffs lists, one line each, the deterministic counters that
// differ between the ok trials of one point run at queue depth 1: device
// IOs and bytes read and written, flushes, and space (data, metadata) after
// each phase. They depend only on the seed and the configuration, so any
// difference is a bug in an engine or a workload. Nil when they agree, or
// when the point is not at QD 1, has fewer than two ok trials, or is
// counted below snapbench (countedBelow).
func DeterministicDiffs(trials []*Run) []string {
	var ok []*Run
	for _, t := range trials {
		if t.Status == StatusOK && t.Params["qd"] == "1" && !countedBelow(t) {
			ok = append(ok, t)
		}
	}
	if len(ok) < 2 {
		return nil
	}
	var diffs []string
	ref := ok[0]
	for _, t := range ok[1:] {
		if len(t.Phases) != len(ref.Phases) {
			diffs = append(diffs, fmt.Sprintf("%s: trial %d has %d phases, trial %d has %d",
				ref.Key(), ref.Trial, len(ref.Phases), t.Trial, len(t.Phases)))
			continue
		}
		for i := range ref.Phases {
			a, b := &ref.Phases[i], &t.Phases[i]
			for _, c := range []struct {
				what string
				x, y int64
			}{
				{"device reads", a.Device.Reads, b.Device.Reads},
				{"device writes", a.Device.Writes, b.Device.Writes},
				{"device read bytes", a.Device.ReadBytes, b.Device.ReadBytes},
				{"device write bytes", a.Device.WriteBytes, b.Device.WriteBytes},
				{"device flushes", a.Device.Flushes, b.Device.Flushes},
				{"space data", a.Space.After.Data, b.Space.After.Data},
				{"space metadata", a.Space.After.Metadata, b.Space.After.Metadata},
			} {
				if c.x != c.y {
					diffs = append(diffs, fmt.Sprintf("%s phase %d (%s): %s %d in trial %d, %d in trial %d",
						ref.Key(), i+1, a.Name, c.what, c.x, ref.Trial, c.y, t.Trial))
				}
			}
		}
	}
	return diffs
}

// medianHist is the histogram of op in the phase whose p50 is nearest the
// median p50 of ps.
func medianHist(ps []*Phase, op Op) string {
	var p50s []float64
	for _, p := range ps {
		p50s = append(p50s, float64(p.Ops[op].P50))
	}
	m := Median(p50s)
	best, hist := math.Inf(1), ""
	for _, p := range ps {
		if d := math.Abs(float64(p.Ops[op].P50) - m); d < best {
			best, hist = d, p.Ops[op].Hist
		}
	}
	return hist
}
