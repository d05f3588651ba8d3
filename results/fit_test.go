package results_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

// maxLineWidth is the widest line of s in terminal columns.
func maxLineWidth(s string) (int, string) {
	w, widest := 0, ""
	for _, line := range strings.Split(s, "\n") {
		if n := runewidth.StringWidth(line); n > w {
			w, widest = n, line
		}
	}
	return w, widest
}

// trialRuns is the synthetic set run three times, as --repeat 3 writes it:
// its headline cells carry spreads and are wider.
func trialRuns() []*results.Run {
	var runs []*results.Run
	for k := 1; k <= 3; k++ {
		for _, r := range resultstest.Runs(uint64(k), "", 1) {
			r.Trial, r.Trials = k, 3
			runs = append(runs, r)
		}
	}
	return runs
}

func TestTablesFitTerminal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		runs  []*results.Run
		width int
	}{
		{"single trial, 120", resultstest.Runs(1, "", 1), 0},
		{"three trials, 120", trialRuns(), 0},
		{"single trial, 80", resultstest.Runs(1, "", 1), 80},
		{"three trials, 60", trialRuns(), 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.width
			if want == 0 {
				want = results.TerminalWidth
			}
			tables := results.Report(tc.runs)
			wide := 0
			for _, tb := range tables {
				var buf bytes.Buffer
				if err := results.RenderWith(&buf, []results.Table{tb}, results.FormatTable, results.RenderOptions{Width: tc.width}); err != nil {
					t.Fatal(err)
				}
				if w, line := maxLineWidth(buf.String()); w > want {
					t.Errorf("%s: %d columns wide, want <= %d:\n%s", tb.Title, w, want, line)
				}
				buf.Reset()
				if err := results.RenderWith(&buf, []results.Table{tb}, results.FormatTable, results.RenderOptions{Wide: true}); err != nil {
					t.Fatal(err)
				}
				w, _ := maxLineWidth(buf.String())
				wide = max(wide, w)
				for _, c := range tb.Columns {
					if !strings.Contains(buf.String(), c.Header) {
						t.Errorf("%s: --wide lacks column %q", tb.Title, c.Header)
					}
				}
			}
			if wide <= want {
				t.Errorf("the widest --wide table is %d columns: the set no longer tests fitting", wide)
			}
		})
	}
}

func TestFitTableKeepsIdentityAndRanks(t *testing.T) {
	var phase results.Table
	for _, tb := range results.Report(resultstest.Runs(1, "", 1)) {
		if tb.Title == "overwrite / overwrite" {
			phase = tb
		}
	}
	if phase.Title == "" {
		t.Fatal("no overwrite table in the synthetic report")
	}
	before := len(phase.Columns)
	out := results.FitTable(phase, results.TerminalWidth)
	if len(out) != 1 {
		t.Fatalf("a phase table fitted into %d tables", len(out))
	}
	if len(phase.Columns) != before {
		t.Error("FitTable modified its argument")
	}
	keys := map[string]bool{}
	for _, c := range out[0].Columns {
		keys[c.Key] = true
	}
	for _, k := range []string{"engine", "fanout", "status", "seconds", "write_p99"} {
		if !keys[k] {
			t.Errorf("fitted table lacks %q: %v", k, out[0].Columns)
		}
	}
	if keys["write_p99.9"] && !keys["write_amp"] {
		t.Error("p99.9 kept before write amplification")
	}
	for i, row := range out[0].Rows {
		if len(row) != len(out[0].Columns) {
			t.Fatalf("row %d has %d cells for %d columns", i, len(row), len(out[0].Columns))
		}
	}
	last := out[0].Notes[len(out[0].Notes)-1]
	if !strings.Contains(last, "--wide") {
		t.Errorf("no note names the columns left out: %q", last)
	}
}

func TestFitTransposedSplits(t *testing.T) {
	h := results.Headline(resultstest.Runs(1, "", 1))
	parts := results.FitTable(h, 70)
	if len(parts) < 2 {
		t.Fatalf("headline at 70 columns: %d tables, want a split", len(parts))
	}
	engines := 0
	for i, p := range parts {
		if p.Columns[0].Key != h.Columns[0].Key {
			t.Errorf("part %d does not repeat the label column", i)
		}
		engines += len(p.Columns) - 1
		if len(p.Notes) > 0 && i != len(parts)-1 {
			t.Errorf("part %d carries the notes", i)
		}
	}
	if engines != len(h.Columns)-1 {
		t.Errorf("parts hold %d engine columns, want %d", engines, len(h.Columns)-1)
	}
}

func TestMarkdownNotFitted(t *testing.T) {
	tables := results.Report(resultstest.Runs(1, "", 1))
	var a, b bytes.Buffer
	if err := results.Render(&a, tables, results.FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if err := results.RenderWith(&b, tables, results.FormatMarkdown, results.RenderOptions{Width: 40}); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || strings.Contains(a.String(), "more columns with --wide") {
		t.Error("markdown output depends on the terminal width")
	}
}

// CSV rows say where their values come from, engine and sweep point in
// columns of their own.
func TestCSVOrigins(t *testing.T) {
	runs := resultstest.Runs(1, "", 1)
	for _, r := range runs {
		r.RunID = "rid-1"
	}
	var buf bytes.Buffer
	if err := results.Render(&buf, results.Report(runs), results.FormatCSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"run_id", "version", "trial", "engine", "sweep_param", "sweep_value"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("no %s column in %v", h, recs[0])
		}
	}
	sweeps := 0
	for _, rec := range recs[1:] {
		if rec[col["run_id"]] != "rid-1" || rec[col["version"]] == "" || rec[col["engine"]] == "" {
			t.Fatalf("row without its origin: %v", rec)
		}
		if rec[col["table"]] != "headline" && !strings.HasPrefix(rec[col["row"]], rec[col["engine"]]) {
			t.Errorf("engine %q does not start row %q", rec[col["engine"]], rec[col["row"]])
		}
		if rec[col["sweep_param"]] == "fanout" {
			sweeps++
			if want := rec[col["engine"]] + " fanout=" + rec[col["sweep_value"]]; rec[col["row"]] != want {
				t.Errorf("row %q, want %q", rec[col["row"]], want)
			}
		}
	}
	if sweeps == 0 {
		t.Error("no row of the fan-out sweep")
	}
}
