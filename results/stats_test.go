package results

import (
	"math"
	"reflect"
	"testing"
)

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b))
}

func TestQuantile(t *testing.T) {
	oneToTen := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, tc := range []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{nil, 0.5, math.NaN()},
		{[]float64{3}, 0.5, 3},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{oneToTen, 0.9, 9.1}, // R: quantile(1:10, .9)
		{oneToTen, 0, 1},
		{oneToTen, 1, 10},
		{[]float64{1, 2, 3, 4, 5}, 0.99, 4.96}, // R: quantile(1:5, .99)
		{oneToTen, 1.5, math.NaN()},
	} {
		if got := Quantile(tc.xs, tc.q); !near(got, tc.want) {
			t.Errorf("Quantile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
		}
	}
	xs := []float64{3, 1, 2}
	Median(xs)
	if !reflect.DeepEqual(xs, []float64{3, 1, 2}) {
		t.Errorf("Median reordered its input: %v", xs)
	}
}

func TestSpreadOf(t *testing.T) {
	s := SpreadOf([]float64{5, 1, 3})
	if s != (Spread{N: 3, Median: 3, Min: 1, Max: 5}) || s.Exact() {
		t.Errorf("SpreadOf = %+v", s)
	}
	if !SpreadOf([]float64{2, 2}).Exact() {
		t.Error("equal values: not Exact")
	}
}

func TestUFrequencies(t *testing.T) {
	// The null distribution of U for 3 against 3 values (20 arrangements).
	want := []float64{1, 1, 2, 3, 3, 3, 3, 2, 1, 1}
	if got := uFrequencies(3, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("uFrequencies(3, 3) = %v, want %v", got, want)
	}
	if got := uFrequencies(1, 2); !reflect.DeepEqual(got, []float64{1, 1, 1}) {
		t.Errorf("uFrequencies(1, 2) = %v", got)
	}
}

// TestMannWhitney checks against R's wilcox.test(x, y) (W and p-value),
// worked by hand: exact p = 2·P(U ≤ w) from the null distribution above
// without ties; with ties, R's normal approximation with tie and continuity
// correction.
func TestMannWhitney(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		u, p float64
	}{
		{"3 below 3", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 0.1},            // 2·1/20
		{"3 above 3", []float64{6, 5, 4}, []float64{1, 2, 3}, 9, 0.1},            // upper tail
		{"4 below 4", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 0, 2.0 / 70}, // 0.02857
		{"5 below 5", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, 2.0 / 252},
		{"interleaved", []float64{1, 3, 5}, []float64{2, 4, 6}, 3, 0.7}, // 2·7/20
		{"one each", []float64{1}, []float64{2}, 0, 1},
		// Ties: ranks 1,3,3,3,5.5,5.5,7,8; W = 12.5 − 10 = 2.5;
		// σ = √(16/12·(9 − 30/56)) = 3.35942; z = (−5.5 + 0.5)/σ = −1.48835.
		{"ties", []float64{1, 2, 2, 3}, []float64{2, 3, 4, 5}, 2.5, 0.1366582},
		{"all equal", []float64{1, 1}, []float64{1, 1}, 2, 1},
		{"empty", nil, []float64{1}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, p := MannWhitney(tc.x, tc.y)
			if !near(u, tc.u) || !near(p, tc.p) {
				t.Errorf("MannWhitney(%v, %v) = U %v p %v, want U %v p %v", tc.x, tc.y, u, p, tc.u, tc.p)
			}
		})
	}
}

func TestMinPValue(t *testing.T) {
	for _, tc := range []struct {
		m, n int
		want float64
	}{{1, 1, 1}, {3, 3, 0.1}, {4, 4, 2.0 / 70}, {3, 5, 2.0 / 56}, {3, 4, 2.0 / 35}, {0, 3, 1}} {
		if got := MinPValue(tc.m, tc.n); !near(got, tc.want) {
			t.Errorf("MinPValue(%d, %d) = %v, want %v", tc.m, tc.n, got, tc.want)
		}
	}
}

func TestSeparate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		x, y   []float64
		want   Verdict
		method string
	}{
		{"3 trials apart", []float64{1, 2, 3}, []float64{4, 5, 6}, Lower, "ranges"},
		{"3 trials overlapping", []float64{1, 2, 5}, []float64{4, 6, 7}, Same, "ranges"},
		{"3 trials above", []float64{10, 11, 12}, []float64{1, 2, 3}, Higher, "ranges"},
		{"one each, differ", []float64{1}, []float64{2}, Lower, "ranges"},
		{"one each, equal", []float64{2}, []float64{2}, Same, "ranges"},
		{"4 trials apart", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, Lower, "U test"},
		// Ranges touch only through one outlier: the U test still separates.
		{"5 trials, one outlier", []float64{1, 2, 3, 4, 7}, []float64{5, 6, 8, 9, 10}, Lower, "U test"}, // U 2, p 8/252
		{"5 trials, U 4", []float64{1, 2, 3, 4, 9}, []float64{5, 6, 7, 8, 10}, Same, "U test"},          // p 24/252
		{"5 trials interleaved", []float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10}, Same, "U test"},
		{"empty", nil, []float64{1}, Same, "no data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _, m := Separate(tc.x, tc.y)
			if v != tc.want || m != tc.method {
				t.Errorf("Separate(%v, %v) = %v by %s, want %v by %s", tc.x, tc.y, v, m, tc.want, tc.method)
			}
		})
	}
}
