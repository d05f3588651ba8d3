package raw_test

import (
	"testing"

	_ "github.com/snapbench/snapbench/strategies/raw"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "raw"})
}
