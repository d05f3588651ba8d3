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
	a.Reset()
	if a.Ops()[OpWrite].Count != 0 || a.Ops()["custom"].Count != 0 {
		t.Errorf("Reset left counts")
	}
}
