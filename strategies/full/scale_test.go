package full_test

import (
	"testing"

	_ "github.com/snapbench/snapbench/strategies/full"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestScale is the clone-bush scale measurement (strategytest.ScaleCloneBush):
//
//	SNAPBENCH_SCALE=100000 go test -run 'TestScale$' -v -timeout 0 ./strategies/full/
func TestScale(t *testing.T) {
	strategytest.ScaleCloneBush(t, strategytest.ScaleConfig{Engine: "full"})
}
