package results_test

import (
	"testing"
	"time"

	"github.com/snapbench/snapbench/results"
)

func TestRecorderMerge(t *testing.T) {
	a, b := results.NewRecorder(), results.NewRecorder()
	for i := 0; i < 100; i++ {
		a.Record(results.OpRead, time.Millisecond, 512)
		b.Record(results.OpRead, 3*time.Millisecond, 512)
	}
	b.Record(results.OpClone, time.Second, 0)
	b.RecordError(results.OpWrite)
	a.Record(results.OpWrite, 10*time.Nanosecond, 1) // below the range: clamped
	a.Merge(b)
	ops := a.Ops()
	if r := ops[results.OpRead]; r.Count != 200 || r.Bytes != 200*512 || r.Hist.TotalCount() != 200 {
		t.Errorf("read: %+v", r)
	}
	if st, _ := results.Summarise(ops[results.OpRead]); st.P50 < int64(time.Millisecond)*99/100 || st.P99 < int64(3*time.Millisecond)*99/100 {
		t.Errorf("merged p50 %d p99 %d", st.P50, st.P99)
	}
	if w := ops[results.OpWrite]; w.Errors != 1 || w.Count != 1 || w.Hist.Max() < 100 {
		t.Errorf("write: count %d errors %d max %d (10 ns clamped to 100)", w.Count, w.Errors, w.Hist.Max())
	}
	if ops[results.OpClone].Count != 1 {
		t.Error("clone not merged")
	}
	a.Reset()
	if n := len(a.Ops()); n != 0 {
		t.Errorf("after Reset: %d kinds listed, want none", n)
	}
	a.Record(results.OpRead, time.Microsecond, 1)
	if r := a.Ops()[results.OpRead]; r.Count != 1 || r.Hist.TotalCount() != 1 || r.Total != time.Microsecond {
		t.Errorf("after Reset and one record: %+v", r)
	}
}
