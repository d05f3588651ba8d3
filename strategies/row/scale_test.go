package row_test

import (
	"testing"

	_ "github.com/snapbench/snapbench/strategies/row"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestScale is the clone-bush scale measurement (strategytest.ScaleCloneBush):
//
//	SNAPBENCH_SCALE=100000 go test -run 'TestScale$' -v -timeout 0 ./strategies/row/
func TestScale(t *testing.T) {
	strategytest.ScaleCloneBush(t, strategytest.ScaleConfig{Engine: "row", BaseSize: 1 << 30, DeviceSize: func(int) int64 { return 64 << 30 }})
}
