package results_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

func TestWriteLoadRoundTrip(t *testing.T) {
	var runs []*results.Run // three engines: every scenario, status and sweep, fewer fsyncs
	for _, r := range resultstest.Runs(7, "", 1) {
		if r.Engine == "raw" || r.Engine == "cow" || r.Engine == "linked" {
			runs = append(runs, r)
		}
	}
	dir := t.TempDir()
	for _, r := range runs {
		path, err := results.Write(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, results.FileName(r)); path != want {
			t.Errorf("Write path %s, want %s", path, want)
		}
		got, err := results.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(t, got), normalize(t, r)) {
			t.Errorf("%s: loaded run differs from the written one", path)
		}
	}
	all, err := results.LoadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(runs) {
		t.Fatalf("LoadAll: %d runs, want %d", len(all), len(runs))
	}
	for i := range all {
		if all[i].Key() != runs[i].Key() {
			t.Fatalf("LoadAll order: run %d is %s, want %s", i, all[i].Key(), runs[i].Key())
		}
	}
	// No temporary files left behind by the atomic writes.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

// normalize makes time values comparable (monotonic clock, location).
func normalize(t *testing.T, r *results.Run) *results.Run {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out results.Run
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestFileNames(t *testing.T) {
	for _, tc := range []struct {
		run  results.Run
		want string
	}{
		{results.Run{Scenario: "snaptree", Engine: "cow"}, "snaptree-cow.json"},
		{results.Run{Scenario: "overwrite", Engine: "row", Params: map[string]string{"sweep_param": "fanout", "fanout": "100"}}, "overwrite-row-fanout100.json"},
		{results.Run{Scenario: "a b/c", Engine: "x"}, "a_b_c-x.json"},
	} {
		if got := results.FileName(&tc.run); got != tc.want {
			t.Errorf("FileName = %q, want %q", got, tc.want)
		}
	}
}

func TestHistogramRoundTrip(t *testing.T) {
	rec := results.NewRecorder()
	for i := 1; i <= 10000; i++ {
		rec.Record(results.OpWrite, time.Duration(i)*time.Microsecond, 4096)
	}
	o := rec.Ops()[results.OpWrite]
	st, err := results.Summarise(o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.Histogram()
	if err != nil {
		t.Fatal(err)
	}
	if !h.Equals(o.Hist) {
		t.Fatal("decoded histogram differs from the recorded one")
	}
	for _, q := range []float64{50, 99, 99.9} {
		if h.ValueAtQuantile(q) != o.Hist.ValueAtQuantile(q) {
			t.Errorf("p%v differs after round trip", q)
		}
	}
	if st.Count != 10000 || st.Bytes != 10000*4096 {
		t.Errorf("count %d bytes %d", st.Count, st.Bytes)
	}
	if st.P50 < 4990*int64(time.Microsecond) || st.P50 > 5010*int64(time.Microsecond) {
		t.Errorf("p50 = %d ns, want about 5 ms", st.P50)
	}
	if want := int64(10000*10001/2) * int64(time.Microsecond); st.Total != want {
		t.Errorf("total = %d, want %d", st.Total, want)
	}
}

func TestHlogRoundTrip(t *testing.T) {
	var run *results.Run
	for _, r := range resultstest.Runs(3, "", 1) {
		if r.Scenario == "snaptree" && r.Engine == "cow" {
			run = r
		}
	}
	dir := t.TempDir()
	path, err := results.Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(strings.TrimSuffix(path, ".json") + ".hlog")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	iv, err := results.ReadHlog(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fill/write", "restore/read", "steady/expire", "steady/read", "steady/snapshot", "steady/write"}
	if got := results.HlogTags(iv); !reflect.DeepEqual(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	for _, x := range iv {
		phase, op, _ := strings.Cut(x.Tag, "/")
		orig, err := run.Phase(phase).Ops[results.Op(op)].Histogram()
		if err != nil {
			t.Fatal(err)
		}
		if x.Histogram.TotalCount() != orig.TotalCount() || x.Histogram.ValueAtQuantile(99) != orig.ValueAtQuantile(99) {
			t.Errorf("%s: interval differs from the stored histogram", x.Tag)
		}
	}
	// Intervals start at the phase's offset in the run.
	if s, want := iv[len(iv)-1].Histogram.StartTimeMs(), run.Started.UnixMilli()+24000; s != want {
		t.Errorf("restore interval starts at %d ms, want %d (24 s into the run)", s, want)
	}
}

func TestLoadErrors(t *testing.T) {
	good, err := json.Marshal(resultstest.Runs(1, "", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data string
		is         error
		says       string
	}{
		{"empty", "", results.ErrMalformed, "unexpected end"},
		{"not json", "hello", results.ErrMalformed, "invalid character"},
		{"no schema", `{"engine":"cow"}`, results.ErrMalformed, "no \"schema\""},
		{"newer", `{"schema":99,"whatever":[1,2]}`, results.ErrNewerSchema, "schema 99"},
		{"zero schema", `{"schema":0}`, results.ErrMalformed, "invalid schema 0"},
		{"wrong type", `{"schema":1,"engine":5}`, results.ErrMalformed, "engine"},
		{"no engine", `{"schema":1,"scenario":"s","status":"ok"}`, results.ErrMalformed, "no engine"},
		{"bad status", `{"schema":1,"engine":"e","scenario":"s","status":"great"}`, results.ErrMalformed, "unknown status"},
		{"unnamed phase", `{"schema":1,"engine":"e","scenario":"s","status":"ok","phases":[{"name":"a"},{"seconds":1}]}`, results.ErrMalformed, "phase 1 has no name"},
		{"negative", `{"schema":1,"engine":"e","scenario":"s","status":"ok","phases":[{"name":"a","ops":{"read":{"count":-1}}}]}`, results.ErrMalformed, "negative count"},
		{"bad hist", `{"schema":1,"engine":"e","scenario":"s","status":"ok","phases":[{"name":"a","ops":{"read":{"count":1,"hdr":"HISTFAAA"}}}]}`, results.ErrMalformed, "phase a: op read"},
		{"truncated", string(good[:len(good)/2]), results.ErrMalformed, "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := results.Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q should name the file and say %q", err, tc.says)
			}
		})
	}
}

func TestLoadAllErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := results.LoadAll(empty); err == nil || !strings.Contains(err.Error(), "no result files") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := results.LoadAll(filepath.Join(empty, "nope")); err == nil {
		t.Error("missing path accepted")
	}
	if _, err := results.LoadAll(); err == nil {
		t.Error("no paths accepted")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "a.json"), []byte("{}"), 0o644)
	if _, err := results.LoadAll(bad); err == nil || !strings.Contains(err.Error(), "a.json") {
		t.Errorf("bad file: %v", err)
	}
}

func TestWriteDropsNonFinite(t *testing.T) {
	r := resultstest.Runs(1, "", 1)[0]
	r.Phases[0].Metrics = map[string]float64{"ok": 1, "bad": math.NaN()}
	path, err := results.Write(t.TempDir(), r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := results.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Phases[0].Metrics["bad"]; ok || got.Phases[0].Metrics["ok"] != 1 {
		t.Errorf("metrics %v", got.Phases[0].Metrics)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "bad") {
		t.Errorf("warnings %v", got.Warnings)
	}
}

func TestCollectEnv(t *testing.T) {
	e := results.CollectEnv("v1.2.3", "abc")
	if e.Version != "v1.2.3" || e.Commit != "abc" || e.Cores < 1 || e.GoVersion == "" {
		t.Errorf("env %+v", e)
	}
	if e.Kernel == "" || e.MemBytes <= 0 {
		t.Errorf("kernel %q mem %d: uname or /proc/meminfo not read", e.Kernel, e.MemBytes)
	}
	if _, err := os.Stat("/proc/cpuinfo"); err == nil && e.CPU == "" {
		data, _ := os.ReadFile("/proc/cpuinfo")
		if bytes.Contains(data, []byte("model name")) {
			t.Error("CPU model not read from /proc/cpuinfo")
		}
	}
}
