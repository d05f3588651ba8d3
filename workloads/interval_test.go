package workloads

import (
	"context"
	"testing"
	"time"

	"github.com/snapbench/snapbench/results"
)

// TestPhaseIntervals: every phase of a real run carries latency over time
// whose intervals sum, op by op, to the phase's counts; a rate-limited IO
// phase spans several intervals; hlog_interval=0 records none.
func TestPhaseIntervals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		engine   string
		scenario string
		kv       []string
		phase    string // a phase that must have several intervals ("": none)
		min      int
	}{
		{"io qd4 rate-limited", "raw", "io", []string{"volume_size=8m", "qd=4", "ops=400", "rate=4000", "hlog_interval=10ms"}, "io", 5},
		{"snaptree qd2", "wltest", "snaptree", []string{"volume_size=8m", "qd=2", "ops=2048", "every=128", "retain=8", "hlog_interval=20ms"}, "", 0},
		{"intervals off", "raw", "io", []string{"volume_size=8m", "qd=2", "ops=200", "hlog_interval=0"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustScenario(t, tc.scenario, tc.kv...)
			run := runOK(t, testEnv(t, tc.engine, 256<<20, nil), sc)
			for _, p := range run.Phases {
				if sc.HlogInterval == 0 {
					if len(p.Intervals) != 0 {
						t.Errorf("phase %s: %d intervals with hlog_interval=0", p.Name, len(p.Intervals))
					}
					continue
				}
				sum := make(map[results.Op]int64)
				n := make(map[results.Op]int)
				endMs := int64(p.Seconds*1000) + 1
				for _, iv := range p.Intervals {
					sum[iv.Op] += iv.Count
					n[iv.Op]++
					if iv.Start < 0 || iv.Length <= 0 || iv.Start+iv.Length > endMs+1 {
						t.Errorf("phase %s: interval %s at %d+%d ms outside the phase's %d ms", p.Name, iv.Op, iv.Start, iv.Length, endMs)
					}
				}
				for op, s := range p.Ops {
					if sum[op] != s.Count {
						t.Errorf("phase %s: %s intervals hold %d ops, the phase %d", p.Name, op, sum[op], s.Count)
					}
				}
				if p.Name == tc.phase && n[results.OpWrite]+n[results.OpRead] < tc.min {
					t.Errorf("phase %s: %d read and write intervals, want at least %d", p.Name, n[results.OpWrite]+n[results.OpRead], tc.min)
				}
			}
		})
	}
}

// TestQuickSuiteIntervals: in every scenario of the quick suite, with
// 1 ms intervals, each phase's intervals sum to its op counts: no op is
// left out of or counted twice in latency over time.
func TestQuickSuiteIntervals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick suite")
	}
	if raceEnabled {
		// Thousands of 1 ms intervals to compress per phase: minutes under
		// the race detector. TestPhaseIntervals checks intervals under
		// -race; plain go test runs this one.
		t.Skip("the quick suite with 1 ms intervals is too slow under -race")
	}
	for _, sc := range quickRuns(t) {
		t.Run(sc.Name, func(t *testing.T) {
			sc.HlogInterval = time.Millisecond
			run, err := RunScenario(context.Background(), testEnv(t, "wltest", 256<<20, nil), sc)
			if err != nil || run.Status != results.StatusOK {
				t.Skipf("%s: %v %s", run.Status, err, run.Reason) // the suite's own tests cover failures
			}
			for _, p := range run.Phases {
				sum := make(map[results.Op]int64)
				for _, iv := range p.Intervals {
					sum[iv.Op] += iv.Count
				}
				for op, s := range p.Ops {
					if sum[op] != s.Count {
						t.Errorf("phase %s: %s intervals hold %d ops, the phase %d", p.Name, op, sum[op], s.Count)
					}
				}
			}
		})
	}
}
