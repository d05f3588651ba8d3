package results

import (
	"os"
	"testing"
)

// SetMaxIntervals lowers s's cap on intervals per op (MaxIntervals) so a
// test can reach coarsening with few intervals.
func SetMaxIntervals(s *IntervalSink, n int) { s.max = int64(n) }

// TestMain presents the engines as the snapbench binary does (its
// engines register themselves; results names none).
func TestMain(m *testing.M) {
	SetEngines([]string{"raw", "full", "cow", "row", "linked", "mirror"}, "raw")
	os.Exit(m.Run())
}
