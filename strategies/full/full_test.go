package full_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/full"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "full"})
}

func TestConformance4K(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "full", SectorSize: 4096,
		Options: strategies.Options{ChunkSize: 4096}, Sequences: 100, CrashPoints: 50})
}
