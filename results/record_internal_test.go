package results

import (
	"testing"
	"time"
)

// TestRecorderKnownAndOtherOps: the array-indexed kinds and kinds outside
// the constants are recorded, listed and merged alike.
func TestRecorderKnownAndOtherOps(t *testing.T) {
	for i, op := range knownOps {
		if opIndex(op) != i {
			t.Errorf("opIndex(%s) = %d, want %d", op, opIndex(op), i)
		}
	}
	a, b := NewRecorder(), NewRecorder()
	a.Record(OpWrite, time.Microsecond, 4096)
	a.Record("custom", time.Millisecond, 1)
	b.Record(OpWrite, 2*time.Microsecond, 4096)
	b.RecordError("custom")
	b.Record(OpBoot, time.Second, 0)
	a.Merge(b)
	ops := a.Ops()
	if len(ops) != 3 || ops[OpWrite].Count != 2 || ops[OpWrite].Bytes != 8192 ||
		ops["custom"].Count != 1 || ops["custom"].Errors != 1 || ops[OpBoot].Count != 1 {
		t.Errorf("merged records wrong: %d kinds, write %+v, custom %+v", len(ops), ops[OpWrite], ops["custom"])
	}
	h := ops[OpWrite].Hist
	a.Reset()
	if n := len(a.Ops()); n != 0 {
		t.Errorf("Reset left %d kinds", n)
	}
	a.Record(OpWrite, 3*time.Microsecond, 512)
	o := a.Ops()[OpWrite]
	if o.Hist != h || o.Count != 1 || o.Bytes != 512 || o.Hist.TotalCount() != 1 || len(a.Ops()) != 1 {
		t.Errorf("after Reset: hist reused %v, %+v", o.Hist == h, o)
	}
	if allocs := testing.AllocsPerRun(10, func() {
		a.Reset()
		a.Record(OpWrite, time.Microsecond, 1)
		a.Record(OpRead, time.Microsecond, 1)
	}); allocs != 0 {
		t.Errorf("Reset and Record allocate %.0f times per run, want 0", allocs)
	}
}
