package row_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/row"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "row"})
}

// TestConformance4K: 4 KiB chunks on a 4 KiB-sector device (no partial-chunk
// writes; many more chunks per volume tree).
func TestConformance4K(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "row", SectorSize: 4096, MaxVolumeChunks: 400,
		Options: strategies.Options{ChunkSize: 4096}, Sequences: 100, CrashPoints: 50})
}

// TestConformanceTinyCache: a 16-frame node cache, so dirty nodes and
// space-map pages are written back early and reloaded.
func TestConformanceTinyCache(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "row", MaxVolumeChunks: 40,
		Options:   strategies.Options{ChunkSize: 4096, Params: map[string]string{"cache-mb": "0.0625"}},
		Sequences: 100, CrashPoints: 60})
}

// TestConformanceFull: a device so small that writes, snapshots and
// clones run out of space.
func TestConformanceFull(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "row", DeviceSize: 3 << 20,
		Sequences: 150, CrashPoints: 60})
}

// TestConformanceMetadataFull: plenty of data chunks but only 64 node
// blocks, so the B-trees run out of space first.
func TestConformanceMetadataFull(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "row", MaxVolumeChunks: 600, DeviceSize: 64 << 20,
		Options:   strategies.Options{ChunkSize: 4096, Params: map[string]string{"metadata-percent": "0.01"}},
		Sequences: 60, CrashPoints: 40})
}
