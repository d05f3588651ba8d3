package btrfs_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies/btrfs"
	"github.com/snapbench/snapbench/strategies/internal/peer/peertest"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, peertest.Config(t, "btrfs", btrfs.Requirements))
}

func TestLifecycle(t *testing.T) {
	peertest.Lifecycle(t, "btrfs", btrfs.Requirements)
}
