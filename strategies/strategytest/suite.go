package strategytest

import (
	"flag"
	"os"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

var (
	flagLong = flag.Bool("strategytest.long", false, "run 100x more random sequences and crash points")
	flagSeed = flag.Uint64("strategytest.seed", 0, "replay one random sequence (and crash point) with this seed, verbosely")
)

// Config selects an engine and the suite's budget. Zero values take defaults.
type Config struct {
	Engine  string
	Options strategies.Options
	// DeviceSize of the memory device (default 48 MiB).
	DeviceSize int64
	// SectorSize of the memory device (default 512, so sub-chunk writes and
	// read-modify-write paths are exercised).
	SectorSize int
	// MaxVolumeChunks bounds the size of created volumes (default 8 chunks).
	MaxVolumeChunks int
	// MaxVolumes bounds live volumes in random sequences (default 10).
	MaxVolumes int
	// Sequences, OpsPerSequence and CrashPoints set the random budget
	// (defaults 500, 40 and 200; half under the race detector; 100x with
	// -strategytest.long).
	Sequences      int
	OpsPerSequence int
	CrashPoints    int
	// NewDevice, when set, makes every device the suite runs on, instead of
	// a device.Mem of DeviceSize bytes with SectorSize sectors: for engines
	// that need a real file or block device under them (the real-system
	// peers: btrfs, xfs-reflink, qcow2). SectorSize must then be the
	// devices' sector size. The suite closes each device when it is done
	// with it, and reopens an engine on the same device (a clean shutdown
	// instead of a memory device's clean copy).
	NewDevice func() (device.Device, error)
	// NoCrash, when non-empty, skips the crash tests with this reason. Only
	// for engines that cannot be crashed by the suite's memory device (a
	// kernel file system under a real-system peer keeps its own state and
	// caches); NewDevice engines cannot run them anyway. Every other part of
	// the suite still runs.
	NoCrash string
}

func (c Config) withDefaults() Config {
	if c.DeviceSize == 0 {
		c.DeviceSize = 48 << 20
	}
	if c.SectorSize == 0 {
		c.SectorSize = 512
	}
	if c.Options.ChunkSize == 0 {
		c.Options.ChunkSize = strategies.DefaultChunkSize
	}
	if c.MaxVolumeChunks == 0 {
		c.MaxVolumeChunks = 8
	}
	if c.MaxVolumes == 0 {
		c.MaxVolumes = 10
	}
	if c.Sequences == 0 {
		c.Sequences = 500
	}
	if c.OpsPerSequence == 0 {
		c.OpsPerSequence = 40
	}
	if c.CrashPoints == 0 {
		c.CrashPoints = 200
	}
	if long() {
		c.Sequences *= 100
		c.CrashPoints *= 100
	}
	if raceEnabled && !long() {
		// Under the race detector (make test) every op costs 5-10 times
		// more; races need the concurrent cases, not more random
		// sequences: half the random and crash budget keeps make test
		// within its time. go test without -race runs the full budget.
		c.Sequences = max(c.Sequences/2, 1)
		c.CrashPoints = max(c.CrashPoints/2, 1)
	}
	if testing.Short() {
		c.Sequences = max(c.Sequences/10, 1)
		c.CrashPoints = max(c.CrashPoints/10, 1)
	}
	return c
}

func long() bool { return *flagLong || os.Getenv("SNAPBENCH_LONG") != "" }

// Run runs the whole suite against cfg.Engine.
func Run(t *testing.T, cfg Config) {
	cfg = cfg.withDefaults()
	if _, err := strategies.LookupFactory(cfg.Engine); err != nil {
		t.Fatalf("strategytest: %v", err)
	}
	t.Run("Scripted", func(t *testing.T) { runScripted(t, cfg) })
	t.Run("Random", func(t *testing.T) { runRandom(t, cfg) })
	t.Run("Crash", func(t *testing.T) {
		if cfg.NoCrash != "" {
			t.Skipf("%s: crash tests skipped: %s", cfg.Engine, cfg.NoCrash)
		}
		if cfg.NewDevice != nil {
			t.Skipf("%s: crash tests need the suite's memory device; the engine runs on its own devices (set NoCrash to say why)", cfg.Engine)
		}
		runCrash(t, cfg)
	})
	t.Run("Concurrent", func(t *testing.T) { runConcurrent(t, cfg) })
}

// newDevice returns an empty device for cfg: a memory device, or one made
// by cfg.NewDevice.
func newDevice(t testing.TB, cfg Config) device.Device {
	t.Helper()
	d, err := newDeviceOf(cfg)
	if err != nil {
		t.Fatalf("strategytest: %v", err)
	}
	return d
}

// format lays the engine on dev.
func format(t testing.TB, cfg Config, dev device.Device) strategies.Engine {
	t.Helper()
	e, err := strategies.Format(cfg.Engine, dev, cfg.Options)
	if err != nil {
		t.Fatalf("strategytest: format %s: %v", cfg.Engine, err)
	}
	if err := e.Check(); err != nil {
		e.Close() // an engine on a real device holds mounts
		t.Fatalf("strategytest: Check after format: %v", err)
	}
	return e
}

// volSize picks a volume size: the whole usable space for single-volume
// engines would be wasteful, so every engine gets 1..MaxVolumeChunks chunks.
func (c Config) volSize(n int) int64 { return int64(n) * int64(c.Options.ChunkSize) }
