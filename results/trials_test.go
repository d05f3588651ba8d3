package results

import (
	"reflect"
	"strings"
	"testing"
)

func TestCondition(t *testing.T) {
	snaps := func(n int64, inval, expired int64) *Run {
		return &Run{Status: StatusOK, Phases: []Phase{
			{Name: "steady", Ops: map[Op]OpStats{OpSnapshot: {Count: n}},
				Space: SpaceChange{After: Space{Invalidated: inval, Expired: expired}}}}}
	}
	for _, tc := range []struct {
		name string
		run  *Run
		want string
	}{
		{"healthy", snaps(32, 0, 0), ""},
		{"invalidated", snaps(32, 31, 0), "degraded: 31/32 invalidated"},
		{"expired", snaps(10, 0, 2), "degraded: 2/10 expired by engine"},
		{"both", snaps(10, 1, 2), "degraded: 1/10 invalidated, 2/10 expired by engine"},
		{"no space", &Run{Status: StatusFailed, Reason: "cow: write: no space left on device"}, "failed: no space"},
		{"failed", &Run{Status: StatusFailed, Reason: "verify: mismatch"}, "failed"},
		{"incomplete", &Run{Status: StatusIncomplete}, "incomplete"},
		{"unsupported", &Run{Status: StatusUnsupported}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Condition(tc.run); got != tc.want {
				t.Errorf("Condition = %q, want %q", got, tc.want)
			}
		})
	}
}

// trial is one trial of the overwrite point of engine with the given write
// p50 at fan-out 0 and 4 and device writes at fan-out 4.
func trial(engine string, k, n int, p50lo, p50hi int64, devWrites int64) *Run {
	r := &Run{Engine: engine, Scenario: "overwrite", Status: StatusOK, Trial: k, Trials: n,
		Params: map[string]string{"qd": "1"}}
	for i, fan := range []float64{0, 4} {
		p50 := []int64{p50lo, p50hi}[i]
		r.Phases = append(r.Phases, Phase{Name: "overwrite", Seconds: 1,
			Ops:     map[Op]OpStats{OpWrite: {Count: 100, P50: p50, P99: 3 * p50, Mean: 1.5 * float64(p50)}},
			Logical: LogicalIO{Writes: 100, WriteBytes: 100 << 12},
			Device:  DeviceCounters{Writes: devWrites, WriteBytes: devWrites << 12},
			Metrics: map[string]float64{"fanout": fan}})
	}
	return r
}

func TestDeterministicDiffs(t *testing.T) {
	same := []*Run{trial("cow", 1, 2, 10, 20, 400), trial("cow", 2, 2, 11, 22, 400)}
	if d := DeterministicDiffs(same); d != nil {
		t.Errorf("equal counters: %v", d)
	}
	differ := []*Run{trial("cow", 1, 2, 10, 20, 400), trial("cow", 2, 2, 10, 20, 401)}
	d := DeterministicDiffs(differ)
	if len(d) != 4 || !strings.Contains(d[0], "device writes 400 in trial 1, 401 in trial 2") {
		t.Errorf("differing counters: %q", d)
	}
	qd4 := []*Run{trial("cow", 1, 2, 10, 20, 400), trial("cow", 2, 2, 10, 20, 401)}
	for _, r := range qd4 {
		r.Params["qd"] = "4"
	}
	if d := DeterministicDiffs(qd4); d != nil {
		t.Errorf("QD 4 is not deterministic, yet: %v", d)
	}
	peer := []*Run{trial("rbd", 1, 2, 10, 20, 400), trial("rbd", 2, 2, 10, 20, 401)}
	for _, r := range peer {
		r.Phases[1].DeviceSource = "cluster"
	}
	if d := DeterministicDiffs(peer); d != nil {
		t.Errorf("a peer's counters come from the cluster and are not deterministic: %v", d)
	}
}

func TestMedianRun(t *testing.T) {
	trials := []*Run{trial("row", 1, 3, 10, 40, 100), trial("row", 2, 3, 30, 20, 100), trial("row", 3, 3, 20, 60, 100)}
	trials[2].Status, trials[2].Reason = StatusFailed, "row: boom"
	m := MedianRun(trials)
	if got := []int64{m.Phases[0].Ops[OpWrite].P50, m.Phases[1].Ops[OpWrite].P50}; !reflect.DeepEqual(got, []int64{20, 40}) {
		t.Errorf("median p50s %v, want [20 40]", got)
	}
	if m.Status != StatusFailed || m.Reason != "row: boom (1 of 3 trials)" || m.Trials != 3 {
		t.Errorf("status %q reason %q trials %d", m.Status, m.Reason, m.Trials)
	}
	if trials[0].Phases[0].Ops[OpWrite].P50 != 10 {
		t.Error("MedianRun modified a trial")
	}
	if got := len(CollapseTrials(append(trials, trial("cow", 1, 3, 1, 1, 1)))); got != 2 {
		t.Errorf("CollapseTrials: %d runs, want 2", got)
	}
}

// headlineText returns the headline's cell text by row label and engine.
func headlineText(t *testing.T, runs []*Run) map[string]map[string]string {
	t.Helper()
	tab := Headline(runs)
	out := map[string]map[string]string{}
	for i, row := range tab.Rows {
		m := map[string]string{}
		for j, c := range row[1:] {
			m[tab.Columns[j+1].Key] = c.Text
		}
		out[tab.RowKeys[i].Header] = m
	}
	return out
}

func TestHeadlineTrials(t *testing.T) {
	var runs []*Run
	for k := 1; k <= 3; k++ {
		runs = append(runs,
			trial("full", k, 3, 100+int64(k), 100+int64(k), 100), // fastest
			trial("row", k, 3, 102+int64(k), 400+int64(k), 130),  // overlaps full at fan-out 0
			trial("cow", k, 3, 500+int64(k), 900, 1600))
	}
	runs[2].Phases[1].Space.After.Invalidated = 1 // cow, trial 1
	runs[2].Phases[1].Ops[OpSnapshot] = OpStats{Count: 4}
	h := headlineText(t, runs)
	for _, tc := range []struct{ row, engine, want string }{
		{"base write: device writes per write, most dependents", "row", "1.30 @4"},
		{"base write p50, fewest dependents", "full", "102ns @0 (101ns–103ns) ~"},
		{"base write p50, fewest dependents", "row", "104ns @0 (103ns–105ns) ~"},
		{"base write p50, most dependents", "full", "102ns @4 (101ns–103ns) *"},
		{"base write p50, most dependents", "row", "402ns @4 (401ns–403ns)"},
		{"base write mean growth, fewest to most dependents", "row", "×3.87 (×3.84–×3.89)"}, // 402/104; 403/105 to 401/103,
		{"base write p50, most dependents", "cow", "degraded: 1/4 invalidated (1/3 runs) [900ns @4 (900ns–900ns)]"},
	} {
		if got := h[tc.row][tc.engine]; got != tc.want {
			t.Errorf("%s, %s: %q, want %q", tc.row, tc.engine, got, tc.want)
		}
	}
	if _, ok := h["base write amp, lowest fan-out"]; ok {
		t.Error("the always-1× row is back")
	}
}

// TestHeadlineNoiseThreshold: a median within the row's noise factor
// (NoiseCentral for a p50 row) of the lowest is "~" even when the min–max
// ranges are apart; beyond it, apart ranges mark the engine slower and the
// lowest "*".
func TestHeadlineNoiseThreshold(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		mirror               int64 // mirror's p50 at most dependents, around which its trials spread by ±1
		wantMirror, wantFull string
	}{
		{"within the factor", 290, "292ns @4 (291ns–293ns) ~", "102ns @4 (101ns–103ns) ~"},
		{"beyond the factor", 320, "322ns @4 (321ns–323ns)", "102ns @4 (101ns–103ns) *"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs []*Run
			for k := 1; k <= 3; k++ {
				runs = append(runs,
					trial("full", k, 3, 100+int64(k), 100+int64(k), 100),
					trial("mirror", k, 3, 100+int64(k), tc.mirror+int64(k), 100))
			}
			h := headlineText(t, runs)
			const row = "base write p50, most dependents"
			if got := h[row]["mirror"]; got != tc.wantMirror {
				t.Errorf("mirror: %q, want %q", got, tc.wantMirror)
			}
			if got := h[row]["full"]; got != tc.wantFull {
				t.Errorf("full: %q, want %q", got, tc.wantFull)
			}
		})
	}
}

// TestRegisterHeadlineRefuses: a headline metric without a format, with
// both a Get and a Growth, or with the key or order of a registered one is
// a programming error: RegisterHeadline panics and registers nothing.
func TestRegisterHeadlineRefuses(t *testing.T) {
	reg := HeadlineMetrics()
	if len(reg) == 0 {
		t.Fatal("no headline metrics registered (the scenarios declare them)")
	}
	get := func([]*Run) Measure { return Measure{} }
	for _, tc := range []struct {
		name string
		m    HeadlineMetric
	}{
		{"no format", HeadlineMetric{Order: -1, Label: "x", Key: "test_x", Get: get}},
		{"get and growth", HeadlineMetric{Order: -1, Label: "x", Key: "test_x", Format: FormatNumber, Get: get, Growth: [2]string{"a", "b"}}},
		{"neither", HeadlineMetric{Order: -1, Label: "x", Key: "test_x", Format: FormatNumber}},
		{"same key", HeadlineMetric{Order: -1, Label: "x", Key: reg[0].Key, Format: FormatNumber, Get: get}},
		{"same order", HeadlineMetric{Order: reg[0].Order, Label: "x", Key: "test_x", Format: FormatNumber, Get: get}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("RegisterHeadline did not panic")
				}
				if n := len(HeadlineMetrics()); n != len(reg) {
					t.Errorf("%d metrics registered after the panic, want %d", n, len(reg))
				}
			}()
			RegisterHeadline(tc.m)
		})
	}
}
