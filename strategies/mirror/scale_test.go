package mirror_test

import (
	"testing"

	_ "github.com/snapbench/snapbench/strategies/mirror"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestScale is the clone-bush scale measurement (strategytest.ScaleCloneBush):
//
//	SNAPBENCH_SCALE=100000 go test -run 'TestScale$' -v -timeout 0 ./strategies/mirror/
func TestScale(t *testing.T) {
	strategytest.ScaleCloneBush(t, strategytest.ScaleConfig{Engine: "mirror"})
}
