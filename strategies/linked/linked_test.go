package linked_test

import (
	"testing"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/linked"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestConformance runs the whole suite at its default budget.
func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "linked"})
}

// TestConformance4K: 4 KiB grains on a 4 KiB-sector device (GT blocks of
// 1023 entries, one block per table grain), at a smaller budget.
func TestConformance4K(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "linked", SectorSize: 4096,
		Options:   strategies.Options{ChunkSize: 4096},
		Sequences: 80, CrashPoints: 40})
}

// TestConformanceNoReplica: clones of bases stack on the base's frozen
// delta (qcow2 backing files), so layers and merges happen far more often.
func TestConformanceNoReplica(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "linked",
		Options:   strategies.Options{Params: map[string]string{"replica": "false"}},
		Sequences: 80, CrashPoints: 40})
}

// TestConformanceReplicaDevice: replicas (data and grain tables) on a
// second memory device, named through the test-only "mem:" hook
// (linked.RegisterMemReplicaDevice). The suite's crash tests crash the main
// device only, the replica device keeping its writes;
// TestReplicaDeviceCrash crashes both.
func TestConformanceReplicaDevice(t *testing.T) {
	linked.RegisterMemReplicaDevice(t, "conformance", 16<<20, 512)
	strategytest.Run(t, strategytest.Config{Engine: "linked",
		Options:   strategies.Options{Params: map[string]string{"replica-device": "mem:conformance"}},
		Sequences: 80, CrashPoints: 40})
}
