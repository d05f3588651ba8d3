package results_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

func TestCompareIdenticalPasses(t *testing.T) {
	base := resultstest.Runs(1, "", 1)
	next := resultstest.Runs(1, "", 1)
	c := results.Compare(base, next, results.CompareOptions{})
	if n := c.Regressions(); n != 0 {
		t.Fatalf("%d regressions comparing a run set with itself:\n%s", n, renderCompare(t, c))
	}
	if c.Runs != len(base) {
		t.Errorf("compared %d run pairs, want %d", c.Runs, len(base))
	}
	// Counters and timings were compared, not skipped wholesale.
	var counters, timings int
	for _, d := range c.Diffs {
		switch {
		case d.Metric == "device write bytes":
			counters++
		case strings.HasSuffix(d.Metric, "/ raw"):
			timings++
		}
	}
	if counters == 0 || timings == 0 {
		t.Errorf("compared %d device-write-bytes counters and %d timing ratios; want both > 0", counters, timings)
	}
}

func TestCompareFlagsPlantedRegression(t *testing.T) {
	base := resultstest.Runs(1, "", 1)
	next := resultstest.Runs(1, "row", 1.5) // every row latency 50% slower
	c := results.Compare(base, next, results.CompareOptions{Threshold: 0.10})
	if c.Regressions() == 0 {
		t.Fatalf("a 50%% slowdown of row was not flagged:\n%s", renderCompare(t, c))
	}
	for _, d := range c.Diffs {
		if d.Regression && !strings.HasPrefix(d.Engine, "row") {
			t.Errorf("regression outside row: %+v", d)
		}
		if d.Regression && d.Verdict != results.VerdictSlower {
			t.Errorf("verdict %q, want %q: %+v", d.Verdict, results.VerdictSlower, d)
		}
	}
	// Within the threshold: no regression.
	near := resultstest.Runs(1, "row", 1.04)
	if c := results.Compare(base, near, results.CompareOptions{Threshold: 0.10}); c.Regressions() != 0 {
		t.Errorf("a 4%% change was flagged at a 10%% threshold:\n%s", renderCompare(t, c))
	}
}

func TestCompareCountersExact(t *testing.T) {
	base := resultstest.Runs(1, "", 1)
	next := resultstest.Runs(1, "", 1)
	for _, r := range next {
		if r.Key() == "snaptree/cow" {
			r.Phase("steady").Device.WriteBytes += 4096
		}
	}
	c := results.Compare(base, next, results.CompareOptions{})
	var found bool
	for _, d := range c.Diffs {
		if d.Regression {
			if d.Engine != "cow" || d.Phase != "steady" || d.Metric != "device write bytes" || d.Verdict != results.VerdictMismatch || d.Delta != "+4096" {
				t.Errorf("unexpected regression %+v", d)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("one more device byte written was not flagged")
	}
	// At queue depth 4 the counters are not deterministic: not compared.
	for _, set := range [][]*results.Run{base, next} {
		for _, r := range set {
			r.Params["qd"] = "4"
		}
	}
	c = results.Compare(base, next, results.CompareOptions{})
	if c.Regressions() != 0 {
		t.Errorf("counters compared at queue depth 4:\n%s", renderCompare(t, c))
	}
	if !strings.Contains(strings.Join(c.Notes, "\n"), "queue depth 4") {
		t.Errorf("no note on queue depth: %v", c.Notes)
	}
}

func TestCompareMissingAndStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func([]*results.Run) []*results.Run
		verdict string
		regress bool
	}{
		{"run missing in new", func(rs []*results.Run) []*results.Run { return drop(rs, "snaptree/cow") }, results.VerdictMissing, true},
		{"run only in new", nil, results.VerdictNotInBase, false},
		{"phase missing in new", func(rs []*results.Run) []*results.Run {
			r := find(rs, "snaptree/row")
			r.Phases = r.Phases[:1]
			return rs
		}, results.VerdictMissing, true},
		{"now failed", func(rs []*results.Run) []*results.Run {
			find(rs, "clonebush/linked").Status = results.StatusFailed
			return rs
		}, results.VerdictStatus, true},
		{"phase now unsupported", func(rs []*results.Run) []*results.Run {
			find(rs, "clonebush/row").Phase("boot").Unsupported = "row: no"
			return rs
		}, results.VerdictStatus, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, next := resultstest.Runs(1, "", 1), resultstest.Runs(1, "", 1)
			if tc.mutate != nil {
				next = tc.mutate(next)
			} else {
				base = drop(base, "snaptree/cow")
			}
			c := results.Compare(base, next, results.CompareOptions{})
			var hit bool
			for _, d := range c.Diffs {
				if d.Verdict == tc.verdict {
					hit = true
					if d.Regression != tc.regress {
						t.Errorf("%+v: regression %v, want %v", d, d.Regression, tc.regress)
					}
				}
			}
			if !hit {
				t.Errorf("no %q diff:\n%s", tc.verdict, renderCompare(t, c))
			}
			if (c.Regressions() > 0) != tc.regress {
				t.Errorf("%d regressions, want any: %v", c.Regressions(), tc.regress)
			}
		})
	}
}

func TestCompareWithoutRaw(t *testing.T) {
	base := drop(resultstest.Runs(1, "", 1), "overwrite/raw/fanout=1000")
	next := drop(resultstest.Runs(1, "cow", 2), "overwrite/raw/fanout=1000")
	c := results.Compare(base, next, results.CompareOptions{})
	for _, d := range c.Diffs {
		if d.Regression && d.Scenario == "overwrite" && strings.HasSuffix(d.Engine, "fanout=1000") {
			t.Errorf("timing compared without a raw run: %+v", d)
		}
	}
	if !hasNote(c.Notes, "overwrite: no raw run in both sets", "cow fanout=1000") {
		t.Errorf("no note about the missing raw run: %v", c.Notes)
	}
	c = results.Compare(base, next, results.CompareOptions{Absolute: true})
	var abs bool
	for _, d := range c.Diffs {
		if d.Regression && d.Engine == "cow fanout=1000" && d.Metric == "write p50" {
			abs = true
		}
	}
	if !abs {
		t.Errorf("--absolute did not compare cow fanout=1000 write p50:\n%s", renderCompare(t, c))
	}
}

func TestCompareGolden(t *testing.T) {
	base := resultstest.Runs(1, "", 1)
	next := resultstest.Runs(1, "cow", 1.5)
	c := results.Compare(base, next, results.CompareOptions{})
	golden(t, "compare.txt", []byte(renderCompare(t, c)))
}

func TestBenchGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := results.WriteBench(&buf, resultstest.Runs(1, "", 1)); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if i < 2 {
			continue // pkg, cpu
		}
		f := strings.Fields(line)
		if !strings.HasPrefix(f[0], "BenchmarkSnapbench/") || f[1] != "1" || f[3] != "ns/op" || len(f)%2 != 0 {
			t.Fatalf("not a benchmark line: %q", line)
		}
	}
	golden(t, "bench.txt", buf.Bytes())
}

func renderCompare(t *testing.T, c *results.Comparison) string {
	t.Helper()
	var buf bytes.Buffer
	if err := results.Render(&buf, []results.Table{c.Table(false)}, results.FormatTable); err != nil {
		t.Fatal(err)
	}
	buf.WriteString(c.Summary() + "\n")
	return buf.String()
}

func drop(rs []*results.Run, key string) []*results.Run {
	var out []*results.Run
	for _, r := range rs {
		if r.Key() != key {
			out = append(out, r)
		}
	}
	return out
}

func find(rs []*results.Run, key string) *results.Run {
	for _, r := range rs {
		if r.Key() == key {
			return r
		}
	}
	panic("no run " + key)
}

// hasNote reports whether one note contains all of parts.
func hasNote(notes []string, parts ...string) bool {
	for _, n := range notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n, p)
		}
		if ok {
			return true
		}
	}
	return false
}
