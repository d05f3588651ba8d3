package results

import "testing"

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtNum(0), "0"}, {fmtNum(1), "1"}, {fmtNum(1000), "1000"}, {fmtNum(1234.6), "1235"},
		{fmtNum(12.34), "12.3"}, {fmtNum(1.234), "1.23"}, {fmtNum(0.5), "0.500"}, {fmtNum(0.01234), "0.0123"},
		{fmtNum(0.0001234), "0.000123"}, {fmtNum(-2.5), "-2.50"},
		{fmtDuration(850), "850ns"}, {fmtDuration(12345), "12.3µs"}, {fmtDuration(3.4e6), "3.40ms"}, {fmtDuration(1.5e9), "1.50s"},
		{fmtBytes(512), "512B"}, {fmtBytes(1.5 * (1 << 20)), "1.50MiB"}, {fmtBytes(2 << 30), "2GiB"},
		{fmtRaw(2.155872256e9), "2155872256"}, {fmtRaw(0.1), "0.1"}, {fmtRaw(1e-9), "1e-09"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSplitUnit(t *testing.T) {
	for _, tc := range []struct{ key, name, unit string }{
		{"burst_s", "burst", "s"}, {"space_per_clone_bytes", "space_per_clone", "bytes"},
		{"clones", "clones", ""}, {"clones_per_s", "clones", "/s"}, {"hit_pct", "hit", "%"},
		{"lat_us", "lat", "µs"}, {"_s", "_s", ""}, {"fanout", "fanout", ""},
	} {
		if n, u := SplitUnit(tc.key); n != tc.name || u != tc.unit {
			t.Errorf("SplitUnit(%q) = %q, %q; want %q, %q", tc.key, n, u, tc.name, tc.unit)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"100", 100, true}, {"64K", 65536, true}, {"1M", 1 << 20, true}, {"2g", 2 << 30, true},
		{"0.5", 0.5, true}, {"", 0, false}, {"abc", 0, false}, {"K", 0, false},
	} {
		if got, ok := parseNumber(tc.in); ok != tc.ok || got != tc.want {
			t.Errorf("parseNumber(%q) = %v, %v", tc.in, got, ok)
		}
	}
}

func TestLogTicks(t *testing.T) {
	ticks := logTicks{}.Ticks(0.8, 1200)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := len(labels); got != 4 || labels[0] != "1" || labels[3] != "1000" {
		t.Errorf("labels over 0.8..1200: %v", labels)
	}
	ticks = logTicks{}.Ticks(40, 300) // under a decade: 2 and 5 labelled too
	labels = labels[:0]
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if len(labels) != 3 || labels[0] != "50" || labels[2] != "200" {
		t.Errorf("labels over 40..300: %v", labels)
	}
	if len(logTicks{}.Ticks(0, 10)) != 0 {
		t.Error("ticks for a non-positive range")
	}
}

func TestLinearTicks(t *testing.T) {
	var labels []string
	for _, tk := range (linearTicks{}).Ticks(0, 1900) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if len(labels) < 4 || len(labels) > 8 || labels[0] != "0" || labels[1] != "500" {
		t.Errorf("labels over 0..1900: %v", labels)
	}
}

func TestEngineOrder(t *testing.T) {
	runs := []*Run{
		{Scenario: "b", Engine: "zeta"}, {Scenario: "b", Engine: "cow"}, {Scenario: "a", Engine: "row"},
		{Scenario: "b", Engine: "raw"}, {Scenario: "b", Engine: "alpha"},
		{Scenario: "c", Engine: "cow", Params: map[string]string{"sweep_param": "fanout", "fanout": "100"}},
		{Scenario: "c", Engine: "cow", Params: map[string]string{"sweep_param": "fanout", "fanout": "20"}},
	}
	SortRuns(runs)
	var got []string
	for _, r := range runs {
		got = append(got, r.Key())
	}
	want := []string{"a/row", "b/raw", "b/cow", "b/alpha", "b/zeta", "c/cow/fanout=20", "c/cow/fanout=100"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
