package results_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/snapbench/snapbench/results"
)

// repeatRun is a run that repeats phases, as the overwrite scenario does
// for a list of fan-outs: overwrite at fanout 0, 1, 4, and two checks that
// no metric tells apart.
func repeatRun(t *testing.T, engine string, writeCost time.Duration) *results.Run {
	t.Helper()
	r := &results.Run{Schema: 1, Engine: engine, Scenario: "overwrite", Status: results.StatusOK, Seed: 1,
		Params: map[string]string{"label": "overwrite-list", "qd": "1"}}
	for _, n := range []int{0, 1, 4} {
		rec := results.NewRecorder()
		for i := 0; i < 100; i++ {
			rec.Record(results.OpWrite, writeCost*time.Duration(1+n), 4096)
		}
		st, err := results.Summarise(rec.Ops()[results.OpWrite])
		if err != nil {
			t.Fatal(err)
		}
		r.Phases = append(r.Phases, results.Phase{Name: "overwrite", Seconds: 1,
			Ops:     map[results.Op]results.OpStats{results.OpWrite: st},
			Logical: results.LogicalIO{Writes: 100, WriteBytes: 409600},
			Metrics: map[string]float64{"fanout": float64(n), "volumes": 1}})
		r.Phases = append(r.Phases, results.Phase{Name: "check", Seconds: 0.5, Metrics: map[string]float64{"volumes": 1}})
	}
	return r
}

func TestPhaseRefs(t *testing.T) {
	r := repeatRun(t, "cow", time.Millisecond)
	var ids []string
	for _, p := range r.PhaseRefs() {
		ids = append(ids, p.ID)
	}
	want := []string{"overwrite fanout=0", "check #1", "overwrite fanout=1", "check #2", "overwrite fanout=4", "check #3"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("IDs %v, want %v", ids, want)
	}
	if p := r.PhaseRefs()[4]; p.Metrics["fanout"] != 4 || p.Index != 2 || !reflect.DeepEqual(p.Keys, []string{"fanout"}) {
		t.Errorf("5th phase: %+v", p)
	}
	// Across runs, a phase a run reached only once is named like its
	// repeats elsewhere.
	short := repeatRun(t, "raw", time.Millisecond)
	short.Phases = short.Phases[:2]
	if id := short.PhaseRefs()[0].ID; id != "overwrite" {
		t.Errorf("alone: ID %q", id)
	}
	if id := results.PhaseRefsIn([]*results.Run{short, r}, short)[0].ID; id != "overwrite fanout=0" {
		t.Errorf("among runs: ID %q, want overwrite fanout=0", id)
	}
	if got := results.FileName(r); got != "overwrite-list-cow.json" {
		t.Errorf("FileName %q: the label names the run", got)
	}
}

func TestRepeatedPhasesInReaders(t *testing.T) {
	runs := []*results.Run{repeatRun(t, "raw", time.Millisecond), repeatRun(t, "cow", time.Millisecond)}
	tables := results.PhaseTables(runs)
	var ow *results.Table
	for i := range tables {
		if tables[i].Title == "overwrite-list / overwrite" {
			ow = &tables[i]
		}
	}
	if ow == nil {
		t.Fatalf("no overwrite-list / overwrite table among %d", len(tables))
	}
	if len(ow.Rows) != 6 || ow.Columns[1].Header != "fanout" {
		t.Fatalf("rows %d, columns %+v", len(ow.Rows), ow.Columns)
	}
	if k := ow.RowKeys[5].Key; k != "cow fanout=4" {
		t.Errorf("last row key %q", k)
	}
	var buf bytes.Buffer
	if err := results.Render(&buf, tables, results.FormatTable); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "overwrite-list / check") || !strings.Contains(buf.String(), "│ #") {
		t.Errorf("check table without occurrence numbers:\n%s", buf.String())
	}

	// compare pairs occurrences: only cow at fan-out 4 got slower.
	next := []*results.Run{repeatRun(t, "raw", time.Millisecond), repeatRun(t, "cow", time.Millisecond)}
	slow := repeatRun(t, "cow", 2*time.Millisecond)
	next[1].Phases[4] = slow.Phases[4]
	c := results.Compare(runs, next, results.CompareOptions{})
	if c.Regressions() != 1 {
		t.Fatalf("%d regressions, want 1:\n%s", c.Regressions(), renderCompare(t, c))
	}
	for _, d := range c.Diffs {
		if d.Regression && (d.Phase != "overwrite fanout=4" || d.Metric != "write p50 / raw") {
			t.Errorf("regression %+v", d)
		}
	}

	buf.Reset()
	if err := results.WriteBench(&buf, runs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BenchmarkSnapbench/overwrite-list/cow/overwrite/fanout=4-1\t", "BenchmarkSnapbench/overwrite-list/cow/check/n=2-1\t"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, buf.String())
		}
	}

	buf.Reset()
	if err := results.WriteHlog(&buf, runs[1]); err != nil {
		t.Fatal(err)
	}
	iv, err := results.ReadHlog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"overwrite_fanout=0/write", "overwrite_fanout=1/write", "overwrite_fanout=4/write"}
	if got := results.HlogTags(iv); !reflect.DeepEqual(got, want) {
		t.Errorf("hlog tags %v, want %v", got, want)
	}
}
