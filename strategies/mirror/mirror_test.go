package mirror_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/mirror"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "mirror"})
}

func TestConformanceMirrored(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "mirror",
		Options: strategies.Options{Params: map[string]string{"auto-mirrors": "1"}}})
}
