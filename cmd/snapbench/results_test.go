package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

// writeRuns writes a synthetic run set (every latency of slowEngine
// multiplied by slow) of engines raw, cow, row and linked into a new
// directory and returns it.
func writeRuns(t *testing.T, slowEngine string, slow float64) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range resultstest.Runs(1, slowEngine, slow) {
		if r.Engine == "full" || r.Engine == "mirror" {
			continue
		}
		if _, err := results.Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReportVerb(t *testing.T) {
	dir := writeRuns(t, "", 1)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"report", dir}, []string{"headline", "base write mean growth,", "│ cow", "clonebush / boot", "unsupported"}},
		{[]string{"report", "--format", "markdown", dir}, []string{"### headline", "| metric", "### snaptree / steady"}},
		{[]string{"report", "-f", "csv", dir}, []string{"table,scenario,phase,run_id,version,trial,trials,engine,sweep_param,sweep_value,row,metric,unit,value,text\n", ",cow,,,cow,base_write_fanout_growth,x,"}},
		{[]string{"report", "--format", "json", "--headline", dir}, []string{`"title": "headline"`, `"transposed": true`}},
		{[]string{"report", "--phases", filepath.Join(dir, "snaptree-cow.json")}, []string{"snaptree / steady", "snapshot p99"}},
	} {
		code, out, errOut := capture(t, tc.args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q", tc.args, w)
			}
		}
	}
	if code, out, _ := capture(t, "report", "--phases", filepath.Join(dir, "snaptree-cow.json")); strings.Contains(out, "headline") {
		t.Errorf("--phases printed the headline (exit %d)", code)
	}
}

func TestResultVerbErrors(t *testing.T) {
	dir := writeRuns(t, "", 1)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"schema":99}`), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"report"}, 2, "no result files"},
		{[]string{"report", "--format", "xml", dir}, 2, "unknown format"},
		{[]string{"report", "--headline", "--phases", dir}, 2, "exclude"},
		{[]string{"report", bad}, 1, bad + ": schema 99 written by a newer snapbench"},
		{[]string{"report", filepath.Join(dir, "nope")}, 1, "no such file"},
		{[]string{"plot", dir}, 2, "--out is required"},
		{[]string{"plot", "--out", t.TempDir(), "--format", "gif", dir}, 2, "unknown format"},
		{[]string{"compare", dir}, 2, "want BASE and NEW"},
		{[]string{"compare", "--threshold", "abc", dir, dir}, 2, "threshold"},
		{[]string{"compare", "--threshold", "-5%", dir, dir}, 2, "threshold"},
		{[]string{"compare", "--bench"}, 2, "--bench needs"},
		{[]string{"compare", dir, bad}, 1, "newer snapbench"},
	} {
		code, _, errOut := capture(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: exit %d stderr %q, want exit %d and %q", tc.args, code, errOut, tc.code, tc.says)
		}
		oneErrorLine(t, errOut)
	}
}

func TestCompareVerb(t *testing.T) {
	base := writeRuns(t, "", 1)
	same := writeRuns(t, "", 1)
	slow := writeRuns(t, "row", 1.3)
	code, out, errOut := capture(t, "compare", base, same)
	if code != 0 || errOut != "" || !strings.Contains(out, " 0 regressions") || !strings.Contains(out, "compare: no differences") {
		t.Fatalf("identical sets: exit %d, stderr %q\n%s", code, errOut, out)
	}
	code, out, _ = capture(t, "compare", "--threshold", "10%", base, slow)
	if code != 1 || !strings.Contains(out, "SLOWER") || !strings.Contains(out, "row fanout=1000") {
		t.Fatalf("30%% slower row: exit %d\n%s", code, out)
	}
	if code, out, _ = capture(t, "compare", "--threshold", "0.5", base, slow); code != 0 {
		t.Errorf("30%% slower row at a 50%% threshold: exit %d\n%s", code, out)
	}
	// A run missing from NEW is a regression.
	os.Remove(filepath.Join(same, "snaptree-linked.json"))
	if code, out, _ = capture(t, "compare", base, same); code != 1 || !strings.Contains(out, "MISSING IN NEW") {
		t.Errorf("missing run: exit %d\n%s", code, out)
	}
	code, out, _ = capture(t, "compare", "--bench", base)
	if code != 0 || !strings.Contains(out, "BenchmarkSnapbench/overwrite/cow/fanout=1000/overwrite-2\t1\t") {
		t.Errorf("--bench: exit %d\n%.500s", code, out)
	}
}

func TestPlotVerb(t *testing.T) {
	dir := writeRuns(t, "", 1)
	out := filepath.Join(t.TempDir(), "charts")
	code, stdoutText, errOut := capture(t, "plot", "--all", "--out", out, "--format", "svg", filepath.Join(dir, "snaptree-cow.json"), filepath.Join(dir, "snaptree-row.json"))
	if code != 0 || errOut != "" {
		t.Fatalf("plot: exit %d, stderr %q", code, errOut)
	}
	want := filepath.Join(out, "snaptree-steady-write-cdf.svg")
	if !strings.Contains(stdoutText, want+"\n") {
		t.Errorf("plot did not list %s:\n%s", want, stdoutText)
	}
	if _, err := os.Stat(want); err != nil {
		t.Error(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(out, "*.png")); len(matches) != 0 {
		t.Errorf("--format svg wrote PNGs: %v", matches)
	}
}

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10%", 0.10, true}, {"0.1", 0.1, true}, {"2.5%", 0.025, true},
		{"0", 0, false}, {"-1%", 0, false}, {"x", 0, false}, {"%", 0, false},
	} {
		got, err := parseThreshold(tc.in)
		if (err == nil) != tc.ok || tc.ok && (got-tc.want > 1e-12 || tc.want-got > 1e-12) {
			t.Errorf("parseThreshold(%q) = %v, %v", tc.in, got, err)
		}
	}
}
