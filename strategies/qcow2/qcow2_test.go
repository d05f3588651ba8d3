package qcow2_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies/internal/peer/peertest"
	"github.com/snapbench/snapbench/strategies/qcow2"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	cfg := peertest.Config(t, "qcow2", qcow2.Requirements)
	cfg.Sequences = 8 // each volume opened starts a qemu-nbd: slower than the kernel peers
	strategytest.Run(t, cfg)
}

func TestLifecycle(t *testing.T) {
	peertest.Lifecycle(t, "qcow2", qcow2.Requirements)
}
