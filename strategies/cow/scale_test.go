package cow_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/cow"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestScale is the clone-bush scale measurement (strategytest.ScaleCloneBush):
//
//	SNAPBENCH_SCALE=100000 go test -run 'TestScale$' -v -timeout 0 ./strategies/cow/
func TestScale(t *testing.T) {
	strategytest.ScaleCloneBush(t, strategytest.ScaleConfig{Engine: "cow", Options: strategies.Options{Params: map[string]string{
		// every clone's delta holds the whole (one-chunk) base: no overflow
		"delta-percent": "100", "delta-min": "0"}}})
}
