package results_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/results/resultstest"
)

// rec is one recorded operation: which worker, which op, completed when
// (on the sink's clock), how long it took.
type rec struct {
	worker int
	op     results.Op
	at, d  time.Duration
}

// record feeds recs to one recorder per worker (all on sink), flushes them
// and merges them into a phase recorder, which it returns.
func record(t *testing.T, sink *results.IntervalSink, workers int, recs []rec) *results.Recorder {
	t.Helper()
	ws := make([]*results.Recorder, workers)
	for i := range ws {
		ws[i] = results.NewRecorder()
		ws[i].SetIntervals(sink)
	}
	for _, r := range recs {
		ws[r.worker].RecordAt(r.op, r.d, 4096, r.at)
	}
	phase := results.NewRecorder()
	for _, w := range ws {
		w.FlushIntervals()
		phase.Merge(w)
	}
	return phase
}

func hist(ns ...int64) *hdr.Histogram {
	h := results.NewHistogram()
	for _, v := range ns {
		_ = h.RecordValue(v)
	}
	return h
}

// TestIntervalSink: operations of several workers at known completion
// times land in the interval of their completion; the workers' intervals
// with the same start are summed; the last interval is cut at the phase's
// end; intervals with no operation are left out.
func TestIntervalSink(t *testing.T) {
	ms, us := time.Millisecond, time.Microsecond
	origin := 5 * time.Second // the sink's clock need not start at 0
	type want struct {
		op            results.Op
		start, length int64
		values        []int64 // ns recorded in the interval
	}
	for _, tc := range []struct {
		name    string
		length  time.Duration
		phase   time.Duration
		workers int
		recs    []rec
		want    []want
	}{
		{name: "one worker, three intervals", length: time.Second, phase: 2500 * ms, workers: 1,
			recs: []rec{
				{0, results.OpWrite, origin + 10*ms, 100 * us},
				{0, results.OpWrite, origin + 999*ms, 300 * us},
				{0, results.OpWrite, origin + 1000*ms, 2 * ms},
				{0, results.OpWrite, origin + 2400*ms, 7 * ms},
			},
			want: []want{
				{results.OpWrite, 0, 1000, []int64{100e3, 300e3}},
				{results.OpWrite, 1000, 1000, []int64{2e6}},
				{results.OpWrite, 2000, 500, []int64{7e6}},
			}},
		{name: "three workers summed, ops apart, gap left out", length: 100 * ms, phase: 450 * ms, workers: 3,
			recs: []rec{
				{0, results.OpWrite, origin + 5*ms, 10 * us},
				{1, results.OpWrite, origin + 50*ms, 20 * us},
				{2, results.OpRead, origin + 60*ms, 30 * us},
				{2, results.OpWrite, origin + 99*ms, 40 * us},
				// nothing in [100, 200) ms
				{0, results.OpWrite, origin + 250*ms, 50 * us},
				{1, results.OpWrite, origin + 260*ms, 60 * us},
				{1, results.OpRead, origin + 440*ms, 70 * us},
			},
			want: []want{
				// ops in display order (write before read), then time
				{results.OpWrite, 0, 100, []int64{10e3, 20e3, 40e3}},
				{results.OpWrite, 200, 100, []int64{50e3, 60e3}},
				{results.OpRead, 0, 100, []int64{30e3}},
				{results.OpRead, 400, 50, []int64{70e3}},
			}},
		{name: "a lagging worker reopens an encoded interval", length: 10 * ms, phase: 100 * ms, workers: 2,
			recs: []rec{
				{0, results.OpWrite, origin + 1*ms, 10 * us},
				{0, results.OpWrite, origin + 11*ms, 10 * us},
				{0, results.OpWrite, origin + 21*ms, 10 * us},
				{0, results.OpWrite, origin + 31*ms, 10 * us},
				{0, results.OpWrite, origin + 95*ms, 10 * us}, // hands in 31 ms: interval 0 is encoded
				{1, results.OpWrite, origin + 2*ms, 5 * ms},   // a slow op finishing in interval 0
				{1, results.OpWrite, origin + 96*ms, 10 * us}, // hands it in late
			},
			want: []want{
				{results.OpWrite, 0, 10, []int64{10e3, 5e6}},
				{results.OpWrite, 10, 10, []int64{10e3}},
				{results.OpWrite, 20, 10, []int64{10e3}},
				{results.OpWrite, 30, 10, []int64{10e3}},
				{results.OpWrite, 90, 10, []int64{10e3, 10e3}},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := results.NewIntervalSink(tc.length, origin, func() time.Duration { return origin })
			record(t, sink, tc.workers, tc.recs)
			got, err := sink.Intervals(tc.phase)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d intervals, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				h, err := g.Histogram()
				if err != nil {
					t.Fatal(err)
				}
				e := hist(w.values...)
				if g.Op != w.op || g.Start != w.start || g.Length != w.length || g.Count != int64(len(w.values)) ||
					h.TotalCount() != g.Count || g.Max != e.Max() || h.Max() != e.Max() {
					t.Errorf("interval %d: %s at %d+%d ms count %d max %d; want %s at %d+%d count %d max %d",
						i, g.Op, g.Start, g.Length, g.Count, g.Max, w.op, w.start, w.length, len(w.values), e.Max())
				}
				for _, q := range []float64{50, 90, 99, 99.9} {
					if a, b := h.ValueAtQuantile(q), e.ValueAtQuantile(q); a != b {
						t.Errorf("interval %d: p%g %d, want %d", i, q, a, b)
					}
				}
			}
			if again, err := sink.Intervals(tc.phase); err != nil || len(again) != 0 {
				t.Errorf("second Intervals: %d intervals, %v; want none (the sink is emptied)", len(again), err)
			}
		})
	}
}

// TestRecordUsesSinkClock: Record (no completion time) counts an
// operation in the interval of the sink's clock.
func TestRecordUsesSinkClock(t *testing.T) {
	now := 2500 * time.Millisecond
	sink := results.NewIntervalSink(time.Second, 0, func() time.Duration { return now })
	r := results.NewRecorder()
	r.SetIntervals(sink)
	r.Record(results.OpClone, time.Millisecond, 0)
	now = 3100 * time.Millisecond
	r.Record(results.OpClone, 2*time.Millisecond, 0)
	r.FlushIntervals()
	got, err := sink.Intervals(4 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Start != 2000 || got[1].Start != 3000 || got[0].Count != 1 || got[1].Count != 1 {
		t.Errorf("got %+v, want one clone at 2000 ms and one at 3000 ms", got)
	}
}

// TestIntervalsCoarsen: a phase with more than MaxIntervals intervals of
// an op gets coarser ones, and loses no operation.
func TestIntervalsCoarsen(t *testing.T) {
	sink := results.NewIntervalSink(time.Millisecond, 0, nil)
	// A lower cap than MaxIntervals, same code path: 3600 intervals of
	// HDR encoding took two minutes under the race detector.
	const maxIntervals = 40
	results.SetMaxIntervals(sink, maxIntervals)
	var recs []rec
	n := 2*maxIntervals + 10 // needs a factor 3
	for i := 0; i < n; i++ {
		recs = append(recs, rec{i % 2, results.OpWrite, time.Duration(i)*time.Millisecond + 500*time.Microsecond, time.Duration(i+1) * time.Microsecond})
	}
	record(t, sink, 2, recs)
	got, err := sink.Intervals(time.Duration(n) * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > maxIntervals {
		t.Fatalf("%d intervals, want at most %d", len(got), maxIntervals)
	}
	var sum int64
	for i, iv := range got {
		sum += iv.Count
		if iv.Start != int64(3*i) || (i < len(got)-1 && (iv.Length != 3 || iv.Count != 3)) {
			t.Fatalf("interval %d: start %d length %d count %d; want start %d, length 3, count 3", i, iv.Start, iv.Length, iv.Count, 3*i)
		}
	}
	if sum != int64(n) {
		t.Errorf("intervals hold %d ops, want %d", sum, n)
	}
}

// TestIntervalsAgreeWithPhase: the intervals of an op sum, decoded and
// merged with hdrhistogram-go, to the phase's histogram: same count, and
// the phase's JSON percentiles are those of the merged intervals.
func TestIntervalsAgreeWithPhase(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sink := results.NewIntervalSink(250*time.Millisecond, 0, nil)
	var recs []rec
	for w := 0; w < 4; w++ {
		at := time.Duration(0)
		for at < 3*time.Second {
			d := time.Duration(r.ExpFloat64() * float64(200*time.Microsecond))
			if r.IntN(1000) == 0 {
				d = 50 * time.Millisecond // hiccups
			}
			at += d + 10*time.Microsecond
			op := results.OpWrite
			if r.IntN(3) == 0 {
				op = results.OpRead
			}
			recs = append(recs, rec{w, op, at, d})
		}
	}
	phase := record(t, sink, 4, recs)
	ivs, err := sink.Intervals(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []results.Op{results.OpRead, results.OpWrite} {
		st, err := results.Summarise(phase.Ops()[op])
		if err != nil {
			t.Fatal(err)
		}
		merged := results.NewHistogram()
		var n int
		for _, iv := range ivs {
			if iv.Op != op {
				continue
			}
			n++
			h, err := hdr.Decode([]byte(iv.Hist))
			if err != nil {
				t.Fatal(err)
			}
			merged.Merge(h)
		}
		if n < 12 {
			t.Errorf("%s: %d intervals, want 12 or 13", op, n)
		}
		ph, err := hdr.Decode([]byte(st.Hist))
		if err != nil {
			t.Fatal(err)
		}
		if merged.TotalCount() != st.Count || !merged.Equals(ph) {
			t.Errorf("%s: intervals sum to %d ops, phase has %d (histograms equal: %v)", op, merged.TotalCount(), st.Count, merged.Equals(ph))
		}
		for _, c := range []struct {
			q    float64
			json int64
		}{{50, st.P50}, {90, st.P90}, {99, st.P99}, {99.9, st.P999}, {100, st.Max}} {
			if v := merged.ValueAtQuantile(c.q); v != c.json {
				t.Errorf("%s: p%g of the merged intervals %d, JSON says %d", op, c.q, v, c.json)
			}
		}
	}
}

// TestHlogIntervalsRoundTrip: WriteHlog writes one line per interval and
// op, in time order, which ReadHlog gives back with the same tags, times
// and counts; a phase without intervals still writes one per op.
func TestHlogIntervalsRoundTrip(t *testing.T) {
	started := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	sink := results.NewIntervalSink(time.Second, 0, nil)
	var recs []rec
	for i := 0; i < 300; i++ {
		op := results.OpWrite
		if i%3 == 0 {
			op = results.OpRead
		}
		recs = append(recs, rec{i % 2, op, time.Duration(i) * 10 * time.Millisecond, time.Duration(i+1) * time.Microsecond})
	}
	phaseRec := record(t, sink, 2, recs)
	ivs, err := sink.Intervals(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := results.Phase{Name: "io", Started: started.Add(500 * time.Millisecond), Seconds: 3, Ops: map[results.Op]results.OpStats{}, Intervals: ivs}
	for op, o := range phaseRec.Ops() {
		if p.Ops[op], err = results.Summarise(o); err != nil {
			t.Fatal(err)
		}
	}
	create := results.Phase{Name: "create", Started: started, Seconds: 0.5, Ops: map[results.Op]results.OpStats{}}
	c := results.NewRecorder()
	c.Record(results.OpCreate, time.Millisecond, 0)
	create.Ops[results.OpCreate], _ = results.Summarise(c.Ops()[results.OpCreate])
	run := &results.Run{Schema: results.SchemaVersion, Engine: "row", Scenario: "io", Started: started,
		Status: results.StatusOK, Phases: []results.Phase{create, p}}
	var buf bytes.Buffer
	if err := results.WriteHlog(&buf, run); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"#[StartTime: ", "#[BaseTime: ", `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`,
		"Tag=io/read,0.500000,1.000000,", "Tag=io/write,2.500000,1.000000,"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("hlog lacks %q:\n%s", line, buf.String())
		}
	}
	got, err := results.ReadHlog(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		tag        string
		start, end int64
		count      int64
	}
	want := []line{{"create/create", started.UnixMilli(), started.UnixMilli() + 500, 1}}
	base := p.Started.UnixMilli()
	for s := int64(0); s < 3000; s += 1000 {
		for _, op := range []results.Op{results.OpWrite, results.OpRead} { // display order
			for _, iv := range ivs {
				if iv.Op == op && iv.Start == s {
					want = append(want, line{"io/" + string(op), base + s, base + s + iv.Length, iv.Count})
				}
			}
		}
	}
	if len(want) != 7 {
		t.Fatalf("test setup: %d lines expected, want 7", len(want))
	}
	var gotLines []line
	for _, g := range got {
		gotLines = append(gotLines, line{g.Tag, g.Histogram.StartTimeMs(), g.Histogram.EndTimeMs(), g.Histogram.TotalCount()})
	}
	if fmt.Sprint(gotLines) != fmt.Sprint(want) {
		t.Errorf("read back\n%v\nwant\n%v", gotLines, want)
	}
}

// TestRecordAtNoAlloc: recording within one interval does not allocate,
// nor does crossing into the next (the interval is merged into the sink's,
// whose histograms are recycled) once the sink has warmed up.
func TestRecordAtNoAlloc(t *testing.T) {
	sink := results.NewIntervalSink(time.Second, 0, nil)
	r := results.NewRecorder()
	r.SetIntervals(sink)
	at := time.Duration(0)
	for i := 0; i < 10; i++ { // warm up: the sink's map and free list
		r.RecordAt(results.OpWrite, time.Microsecond, 1, at)
		at += time.Second
	}
	if a := testing.AllocsPerRun(1000, func() { r.RecordAt(results.OpWrite, time.Microsecond, 1, at) }); a != 0 {
		t.Errorf("RecordAt within an interval allocates %.1f times, want 0", a)
	}
}

// TestCompareIgnoresHlogInterval: hlog_interval changes no counter, so a
// baseline without it (or with another value) still has its counters
// compared exactly; any other differing parameter stops that.
func TestCompareIgnoresHlogInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		base     map[string]string // params set on base runs ("" value: deleted)
		next     map[string]string
		compared bool
	}{
		{"baseline predates it", nil, map[string]string{"hlog_interval": "1s"}, true},
		{"other value", map[string]string{"hlog_interval": "0s"}, map[string]string{"hlog_interval": "1s"}, true},
		{"next lacks it", map[string]string{"hlog_interval": "1s"}, nil, true},
		{"another parameter differs", map[string]string{"hlog_interval": "1s"}, map[string]string{"hlog_interval": "1s", "extra": "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := resultstest.Runs(1, "", 1)
			next := resultstest.Runs(1, "", 1)
			for _, set := range []struct {
				runs []*results.Run
				kv   map[string]string
			}{{base, tc.base}, {next, tc.next}} {
				for _, r := range set.runs {
					for k, v := range set.kv {
						r.Params[k] = v
					}
				}
			}
			for _, r := range next {
				if r.Key() == "snaptree/cow" {
					r.Phase("steady").Device.WriteBytes += 4096 // flagged when counters are compared
				}
			}
			c := results.Compare(base, next, results.CompareOptions{})
			if got := c.Regressions() > 0; got != tc.compared {
				t.Errorf("planted counter change flagged %v, want %v; notes %v", got, tc.compared, c.Notes)
			}
		})
	}
}
