package results

import "testing"

func TestCompareTrials(t *testing.T) {
	side := func(p50s ...int64) []*Run {
		var rs []*Run
		for k, p := range p50s {
			rs = append(rs, trial("row", k+1, len(p50s), p, p, 100))
		}
		return rs
	}
	verdicts := func(c *Comparison) map[string]int {
		m := map[string]int{}
		for _, d := range c.Diffs {
			if d.Metric == "write p50" {
				m[d.Verdict]++
			}
		}
		return m
	}
	for _, tc := range []struct {
		name       string
		base, next []*Run
		want       map[string]int
		regress    int
	}{
		{"itself", side(100, 110, 105, 103), side(100, 110, 105, 103), map[string]int{VerdictOK: 2}, 0},
		{"significant and beyond threshold", side(100, 101, 102, 103), side(200, 201, 202, 203), map[string]int{VerdictSlower: 2}, 2},
		{"significant, within threshold", side(100, 101, 102, 103), side(104, 105, 106, 107), map[string]int{VerdictOK: 2}, 0},
		{"beyond threshold, not significant", side(100, 300, 100, 300), side(120, 320, 130, 310), map[string]int{VerdictOK: 2}, 0},
		{"faster", side(200, 201, 202, 203), side(100, 101, 102, 103), map[string]int{VerdictFaster: 2}, 0},
		{"3 trials, disjoint ranges", side(100, 101, 102), side(200, 201, 202), map[string]int{VerdictSlower: 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(tc.base, tc.next, CompareOptions{Threshold: 0.10})
			if got := verdicts(c); !mapsEqual(got, tc.want) || c.Regressions() != tc.regress || c.Runs != 1 {
				t.Errorf("verdicts %v, regressions %d, runs %d; want %v, %d, 1\n%v", got, c.Regressions(), c.Runs, tc.want, tc.regress, c.Notes)
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
