package results

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Report is the full report of a set of runs: the headline table, then one
// table per scenario phase. The phase tables show the median of a point's
// trials (CollapseTrials); the headline shows the spread as well.
func Report(runs []*Run) []Table {
	return append([]Table{Headline(runs)}, PhaseTables(CollapseTrials(runs))...)
}

// PhaseTables returns one table per (scenario, phase name), scenarios
// (labels when runs have one) sorted, phases in the order the runs list
// them. Rows are runs (engines in the order SetEngines gives, then sweep values
// ascending), one per occurrence of a phase that a run repeats, with the
// Metrics that tell the occurrences apart as leading columns (or "#", the
// occurrence number); columns are the metrics any row has: time, ops/s, MiB/s, p50/p99/p99.9 per operation kind, write and read
// amplification, device IOs per logical IO, space after, CPU time, and
// every Phase.Metrics key (sorted, unit from its suffix) except the sweep
// parameter, which has its own column. A run without the
// phase shows its status ("unsupported", "failed", ...) and "-" cells.
func PhaseTables(runs []*Run) []Table {
	runs = sortedCopy(runs)
	var tables []Table
	for _, sc := range scenarios(runs) {
		rs := runsOf(runs, sc)
		names := phaseNames(rs)
		if len(names) == 0 {
			// Nothing ran (every engine unsupported or failed early): one
			// table says so.
			names = []string{""}
		}
		for _, ph := range names {
			tables = append(tables, phaseTable(sc, ph, rs))
		}
	}
	return tables
}

func sortedCopy(runs []*Run) []*Run {
	out := append([]*Run(nil), runs...)
	SortRuns(out)
	return out
}

// scenarios lists the runs' names (labels or scenarios), sorted.
func scenarios(runs []*Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.Name()] {
			seen[r.Name()] = true
			out = append(out, r.Name())
		}
	}
	sort.Strings(out)
	return out
}

func runsOf(runs []*Run, name string) []*Run {
	var out []*Run
	for _, r := range runs {
		if r.Name() == name {
			out = append(out, r)
		}
	}
	return out
}

// instances returns the phases of r named name, in order, with IDs
// consistent across the runs that inst was made from.
func instances(r *Run, inst map[string][]string, name string) []PhaseRef {
	var out []PhaseRef
	for _, p := range r.phaseRefs(inst) {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// phaseNames merges the runs' phase orders: each run's names in its order,
// new names after the last known one.
func phaseNames(runs []*Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range runs {
		for _, p := range r.Phases {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p.Name)
			}
		}
	}
	return out
}

// metricCol is a candidate column: how to read its raw value from a phase
// and how to display it.
type metricCol struct {
	key, unit string
	get       func(r *Run, p *Phase) (float64, bool)
	display   func(col []float64) (header string, format func(float64) string)
}

func fixed(header string) func([]float64) (string, func(float64) string) {
	return func([]float64) (string, func(float64) string) { return header, fmtNum }
}

func scaled(header string, scale float64) func([]float64) (string, func(float64) string) {
	return func([]float64) (string, func(float64) string) {
		return header, func(v float64) string { return fmtNum(v / scale) }
	}
}

// latency picks the display unit from the column's median, so that most
// values read with few leading zeros and the outliers show as large numbers.
func latency(name string) func([]float64) (string, func(float64) string) {
	return func(col []float64) (string, func(float64) string) {
		sorted := append([]float64(nil), col...)
		sort.Float64s(sorted)
		mid := 0.0
		if len(sorted) > 0 {
			mid = sorted[len(sorted)/2]
		}
		u, s := durationUnit(mid)
		return fmt.Sprintf("%s (%s)", name, u), func(v float64) string { return fmtNum(v / s) }
	}
}

func phaseColumns(rs []*Run, inst map[string][]string, phase string, skip map[string]bool) []metricCol {
	cols := []metricCol{
		{key: "seconds", unit: "s", display: secondsDisplay("time"),
			get: func(_ *Run, p *Phase) (float64, bool) { return p.Seconds, true }},
		{key: "ops_per_s", unit: "/s", display: fixed("ops/s"), get: opsPerSecond},
		{key: "throughput_bytes_per_s", unit: "bytes/s", display: scaled("MiB/s", 1<<20), get: bytesPerSecond},
	}
	ops := map[Op]bool{}
	metrics := map[string]bool{}
	for _, r := range rs {
		for _, p := range instances(r, inst, phase) {
			for op, o := range p.Ops {
				if o.Count > 0 {
					ops[op] = true
				}
			}
			for k := range p.Metrics {
				if !skip[k] { // already a leading column
					metrics[k] = true
				}
			}
		}
	}
	opList := make([]Op, 0, len(ops))
	for op := range ops {
		opList = append(opList, op)
	}
	sortOps(opList)
	for _, op := range opList {
		for _, q := range []struct {
			name string
			get  func(OpStats) int64
		}{
			{"p50", func(o OpStats) int64 { return o.P50 }},
			{"p99", func(o OpStats) int64 { return o.P99 }},
			{"p99.9", func(o OpStats) int64 { return o.P999 }},
		} {
			op, q := op, q
			cols = append(cols, metricCol{key: string(op) + "_" + q.name, unit: "ns",
				display: latency(string(op) + " " + q.name),
				get: func(_ *Run, p *Phase) (float64, bool) {
					o, ok := p.Ops[op]
					if !ok || o.Count == 0 {
						return 0, false
					}
					return float64(q.get(o)), true
				}})
		}
	}
	cols = append(cols,
		metricCol{key: "write_amp", unit: "x", display: fixed("write amp (×)"),
			get: func(_ *Run, p *Phase) (float64, bool) {
				return p.WriteAmp(), p.Logical.WriteBytes > 0 && p.DeviceCounted()
			}},
		metricCol{key: "read_amp", unit: "x", display: fixed("read amp (×)"),
			get: func(_ *Run, p *Phase) (float64, bool) {
				return p.ReadAmp(), p.Logical.ReadBytes > 0 && p.DeviceCounted()
			}},
		metricCol{key: "device_ios_per_io", unit: "x", display: fixed("dev IOs/IO"), get: deviceIOsPerIO},
		metricCol{key: "data_after_bytes", unit: "bytes", display: scaled("data (MiB)", 1<<20),
			get: func(_ *Run, p *Phase) (float64, bool) { return float64(p.Space.After.Data), p.Space.After.Capacity > 0 }},
		metricCol{key: "metadata_after_bytes", unit: "bytes", display: scaled("metadata (MiB)", 1<<20),
			get: func(_ *Run, p *Phase) (float64, bool) {
				return float64(p.Space.After.Metadata), p.Space.After.Capacity > 0
			}},
		metricCol{key: "cpu_s", unit: "s", display: secondsDisplay("CPU"),
			get: func(_ *Run, p *Phase) (float64, bool) {
				t := p.CPU.UserSeconds + p.CPU.SysSeconds
				return t, t > 0
			}},
		metricCol{key: "engine_memory_bytes", unit: "bytes", display: scaled("engine mem (MiB)", 1<<20),
			get: func(_ *Run, p *Phase) (float64, bool) { return float64(p.CPU.EngineMemory), p.CPU.EngineMemory > 0 }},
		metricCol{key: "engine_memory_per_volume_bytes", unit: "bytes", display: scaled("mem/volume (KiB)", 1<<10),
			get: func(_ *Run, p *Phase) (float64, bool) {
				n := int64(0)
				for _, k := range p.Space.KindsAfter {
					n += k.Volumes
				}
				return float64(p.CPU.EngineMemory) / float64(max(n, 1)), p.CPU.EngineMemory > 0 && n > 0
			}},
	)
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cols = append(cols, metricColumn(k))
	}
	return cols
}

// metricColumn shows a Phase.Metrics key with its unit from the suffix.
func metricColumn(key string) metricCol {
	name, unit := SplitUnit(key)
	c := metricCol{key: key, unit: unit,
		get: func(_ *Run, p *Phase) (float64, bool) { v, ok := p.Metrics[key]; return v, ok }}
	switch unit {
	case "":
		c.display = fixed(name)
	case "bytes":
		c.display = scaled(name+" (MiB)", 1<<20)
	case "ns", "µs", "ms", "s":
		c.display = durationDisplay(name, nsPer[unit])
	default:
		c.display = fixed(fmt.Sprintf("%s (%s)", name, unit))
	}
	return c
}

// durationDisplay shows values of a duration unit (scale ns each) in the
// unit that suits the column's median.
func durationDisplay(name string, scale float64) func([]float64) (string, func(float64) string) {
	inner := latency(name)
	return func(col []float64) (string, func(float64) string) {
		ns := make([]float64, len(col))
		for i, v := range col {
			ns[i] = v * scale
		}
		h, f := inner(ns)
		return h, func(v float64) string { return f(v * scale) }
	}
}

func secondsDisplay(name string) func([]float64) (string, func(float64) string) {
	return durationDisplay(name, 1e9)
}

func opsPerSecond(_ *Run, p *Phase) (float64, bool) {
	var n int64
	for op, o := range p.Ops {
		if op != OpBoot {
			n += o.Count
		}
	}
	if n == 0 || p.Seconds <= 0 {
		return 0, false
	}
	return float64(n) / p.Seconds, true
}

func bytesPerSecond(_ *Run, p *Phase) (float64, bool) {
	b := p.Logical.ReadBytes + p.Logical.WriteBytes
	if b == 0 {
		for op, o := range p.Ops {
			if op == OpRead || op == OpWrite {
				b += o.Bytes
			}
		}
	}
	if b == 0 || p.Seconds <= 0 {
		return 0, false
	}
	return float64(b) / p.Seconds, true
}

func deviceIOsPerIO(_ *Run, p *Phase) (float64, bool) {
	logical := p.Logical.Reads + p.Logical.Writes
	if logical == 0 || !p.DeviceCounted() {
		return 0, false
	}
	return float64(p.Device.Reads+p.Device.Writes) / float64(logical), true
}

// rowStatus is what a row shows besides measurements: for a phase that
// ran, "ok" (or "failed"/"incomplete" when the run stopped in it); for an
// unsupported phase, "unsupported"; for a run without the phase, the run's
// status, or "no phase" when the run is ok. A run the engine degraded
// (Condition: copies invalidated or expired, IOs out of space) shows its
// condition in place of "ok" on every row.
func rowStatus(r *Run, p *Phase) (status, note string) {
	switch {
	case p != nil && p.Unsupported != "":
		return Unsupported, reasonNote(r, p.Unsupported)
	case p != nil && p.Metrics["failed"] != 0:
		return StatusFailed, reasonNote(r, r.Reason)
	case p != nil && p.Metrics["interrupted"] != 0:
		return StatusIncomplete, reasonNote(r, r.Reason)
	case p != nil:
		if c := Condition(r); c != "" {
			return c, "" // degraded: its numbers are not plain values
		}
		return StatusOK, ""
	case r.Status == StatusOK:
		return "no phase", ""
	}
	return r.Status, reasonNote(r, r.Reason)
}

// reasonNote says why a run shows no measurements. Reasons are errors
// prefixed with the engine's name, which the label already gives.
func reasonNote(r *Run, reason string) string {
	if reason == "" {
		return ""
	}
	return r.Label() + ": " + strings.TrimPrefix(reason, r.Engine+": ")
}

// tableRow is one row of a phase table: a run and one occurrence of the
// phase (nil Phase: the run has none).
type tableRow struct {
	run *Run
	ref PhaseRef
}

func phaseTable(scenario, phase string, rs []*Run) Table {
	t := Table{Title: scenario + " / " + phase, Scenario: scenario, Phase: phase}
	if phase == "" {
		t.Title = scenario
	}
	sweep := ""
	var rows []tableRow
	inst := instanceKeys(rs)
	instKeys, numbered := map[string]bool{}, false
	for _, r := range rs {
		if p, _ := r.SweepPoint(); p != "" && sweep == "" {
			sweep = p
		}
		refs := instances(r, inst, phase)
		if len(refs) == 0 {
			rows = append(rows, tableRow{run: r})
		}
		for _, p := range refs {
			rows = append(rows, tableRow{run: r, ref: p})
			for _, k := range p.Keys {
				instKeys[k] = true
			}
			numbered = numbered || strings.HasPrefix(p.ID, phase+" #")
		}
	}
	keys := make([]string, 0, len(instKeys))
	for k := range instKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	skip := map[string]bool{sweep: true}
	t.Columns = []Column{{Header: "engine", Key: "engine"}}
	if sweep != "" {
		t.Columns = append(t.Columns, Column{Header: sweep, Key: sweep})
	}
	for _, k := range keys {
		name, unit := SplitUnit(k)
		t.Columns = append(t.Columns, Column{Header: name, Key: k, Unit: unit})
		skip[k] = true
	}
	if numbered {
		t.Columns = append(t.Columns, Column{Header: "#", Key: "occurrence"})
	}
	t.Columns = append(t.Columns, Column{Header: "status", Key: "status"})

	cols := phaseColumns(rs, inst, phase, skip)
	vals := make([][]float64, len(rows)) // per row, per candidate column
	has := make([][]bool, len(rows))
	used := make([]bool, len(cols))
	notes := map[string]bool{}
	for i, row := range rows {
		vals[i], has[i] = make([]float64, len(cols)), make([]bool, len(cols))
		p := row.ref.Phase
		if p == nil || p.Unsupported != "" {
			continue
		}
		for j, c := range cols {
			if v, ok := c.get(row.run, p); ok && isFinite(v) {
				vals[i][j], has[i][j], used[j] = v, true, true
			}
		}
	}
	formats := make([]func(float64) string, len(cols))
	for j, c := range cols {
		if !used[j] {
			continue
		}
		var col []float64
		for i := range rows {
			if has[i][j] {
				col = append(col, vals[i][j])
			}
		}
		var header string
		header, formats[j] = c.display(col)
		t.Columns = append(t.Columns, Column{Header: header, Key: c.key, Unit: c.unit})
	}
	for i, tr := range rows {
		r, p := tr.run, tr.ref.Phase
		status, note := rowStatus(r, p)
		if note != "" && !notes[note] {
			notes[note] = true
			t.Notes = append(t.Notes, note)
		}
		if p != nil && (p.DeviceSource == "kernel" || p.DeviceSource == "cluster") {
			note := r.Engine + ": device counters of the block device under its kernel file system (snapbench's own counters do not see its IO)"
			if p.DeviceSource == "cluster" {
				note = r.Engine + ": device counters are cluster-side: the OSDs' perf counters (client ops and bytes, replication included), every client of the cluster counted"
			}
			if !notes[note] {
				notes[note] = true
				t.Notes = append(t.Notes, note)
			}
		}
		row := []Cell{textCell(r.Engine)}
		if sweep != "" {
			_, v := r.SweepPoint()
			if n, ok := parseNumber(v); ok {
				row = append(row, numCell(n, v))
			} else {
				row = append(row, textCell(orMissing(v)))
			}
		}
		for _, k := range keys {
			if v, ok := p.metric(k); ok {
				row = append(row, numCell(v, fmtNum(v)))
			} else {
				row = append(row, textCell(Missing))
			}
		}
		if numbered {
			if p != nil {
				row = append(row, numCell(float64(tr.ref.Index+1), strconv.Itoa(tr.ref.Index+1)))
			} else {
				row = append(row, textCell(Missing))
			}
		}
		row = append(row, textCell(status))
		for j := range cols {
			if !used[j] {
				continue
			}
			if has[i][j] {
				row = append(row, numCell(vals[i][j], formats[j](vals[i][j])))
			} else {
				row = append(row, textCell(Missing))
			}
		}
		t.Rows = append(t.Rows, row)
		label := r.Label()
		if p != nil && tr.ref.ID != phase {
			label += " " + strings.TrimPrefix(tr.ref.ID, phase+" ")
		}
		t.RowKeys = append(t.RowKeys, Column{Key: label})
		t.Origins = append(t.Origins, runOrigin(r))
	}
	return t
}

// metric returns a Metrics value of p (false when p is nil or lacks it).
func (p *Phase) metric(key string) (float64, bool) {
	if p == nil {
		return 0, false
	}
	v, ok := p.Metrics[key]
	return v, ok
}

func orMissing(s string) string {
	if s == "" {
		return Missing
	}
	return s
}
