package xfsreflink_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies/internal/peer/peertest"
	"github.com/snapbench/snapbench/strategies/strategytest"
	"github.com/snapbench/snapbench/strategies/xfsreflink"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, peertest.Config(t, "xfs-reflink", xfsreflink.Requirements))
}

func TestLifecycle(t *testing.T) {
	peertest.Lifecycle(t, "xfs-reflink", xfsreflink.Requirements)
}
