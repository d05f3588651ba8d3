package cow_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/cow"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestConformance runs the shared suite with the default options.
func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "cow"})
}

// TestConformanceSmallDeltas runs the suite with deltas of 1% of the base,
// at least 4 chunks, so that snapshots and clones of 5 to 8 chunks are
// invalidated often. (The suite's scripted and concurrent cases treat
// invalidation as a failure; their bases have at most 4 chunks, so their
// deltas hold the whole base.)
func TestConformanceSmallDeltas(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "cow",
		Options:   strategies.Options{Params: map[string]string{"delta-percent": "1", "delta-min": "262144"}},
		Sequences: 250, CrashPoints: 100})
}

// TestConformance4K runs the suite with 4 KiB chunks on 4 KiB sectors: every
// exception-table block write is one sector, every chunk write a full chunk.
func TestConformance4K(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "cow", SectorSize: 4096,
		Options:   strategies.Options{ChunkSize: 4096, Params: map[string]string{"delta-min": "16384"}},
		Sequences: 250, CrashPoints: 100})
}
