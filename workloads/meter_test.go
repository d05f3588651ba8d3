package workloads

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// fakeEngine reports space and volumes; nothing else is called.
type fakeEngine struct {
	strategies.Engine
	space strategies.Space
	vols  []strategies.VolumeInfo
}

func (f *fakeEngine) Space() strategies.Space          { return f.space }
func (f *fakeEngine) Volumes() []strategies.VolumeInfo { return f.vols }

func TestPhaseMeter(t *testing.T) {
	dev := device.NewCounting(device.MustMem(1 << 20))
	eng := &fakeEngine{space: strategies.Space{Capacity: 1 << 20, Data: 0, Metadata: 4096, Free: 1<<20 - 4096},
		vols: []strategies.VolumeInfo{{ID: 1, Kind: strategies.KindBase, PrivateBytes: 0, Valid: true}}}
	buf := make([]byte, 4096)
	dev.WriteAt(buf, 0) // before the phase: not counted

	m := beginPhase("steady", dev, eng)
	var live atomic.Int64
	var sampled atomic.Int64
	stop := m.SampleEvery(time.Millisecond, "live_snapshots", "snapshots", func() float64 {
		sampled.Add(1)
		return float64(live.Load())
	})
	rec := results.NewRecorder()
	for i := 0; i < 8; i++ {
		dev.WriteAt(buf, int64(i)*4096)
		rec.Record(results.OpWrite, 50*time.Microsecond, 4096)
	}
	dev.ReadAt(buf, 0)
	dev.Flush()
	live.Store(3)
	m.AddPoint("base_write_p99", "live snapshots", "ns", 1, 5e4)
	m.AddPoint("base_write_p99", "live snapshots", "ns", 2, 6e4)
	m.Metrics["snapshots_taken"] = 2
	for deadline := time.Now().Add(10 * time.Second); sampled.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // a loaded machine may delay the ticker
	}
	stop()
	stop() // idempotent
	eng.space.Data = 32768
	eng.vols = append(eng.vols, strategies.VolumeInfo{ID: 2, Kind: strategies.KindSnapshot, PrivateBytes: 8192, Valid: true},
		strategies.VolumeInfo{ID: 3, Kind: strategies.KindSnapshot, PrivateBytes: 4096})
	p, err := m.End(rec, results.LogicalIO{Writes: 8, WriteBytes: 8 * 4096})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "steady" || p.Seconds <= 0 || p.Started.IsZero() {
		t.Errorf("name %q seconds %v started %v", p.Name, p.Seconds, p.Started)
	}
	want := results.DeviceCounters{Writes: 8, WriteBytes: 8 * 4096, Reads: 1, ReadBytes: 4096, Flushes: 1}
	if p.Device != want {
		t.Errorf("device %+v, want %+v", p.Device, want)
	}
	if p.WriteAmp() != 1 || p.ReadAmp() != 0 {
		t.Errorf("write amp %v read amp %v", p.WriteAmp(), p.ReadAmp())
	}
	if p.Space.Before.Data != 0 || p.Space.After.Data != 32768 {
		t.Errorf("space %+v", p.Space)
	}
	if k := p.Space.KindsAfter["snapshot"]; k.Volumes != 2 || k.PrivateBytes != 12288 || k.Invalid != 1 {
		t.Errorf("snapshot kind space %+v", k)
	}
	if p.Space.KindsBefore["snapshot"].Volumes != 0 || p.Space.KindsBefore["base"].Volumes != 1 {
		t.Errorf("kinds before %+v", p.Space.KindsBefore)
	}
	if p.Ops[results.OpWrite].Count != 8 || p.Ops[results.OpWrite].Hist == "" {
		t.Errorf("write op %+v", p.Ops[results.OpWrite])
	}
	if p.CPU.PeakRSS <= 0 {
		t.Errorf("peak RSS %d", p.CPU.PeakRSS)
	}
	var series, hasSamples bool
	for _, s := range p.Series {
		switch s.Name {
		case "base_write_p99":
			series = len(s.Points) == 2 && s.Points[1] == [2]float64{2, 6e4} && s.XUnit == "live snapshots"
		case "live_snapshots":
			hasSamples = len(s.Points) >= 2 && s.XUnit == "s" && s.YUnit == "snapshots"
			for i := 1; i < len(s.Points); i++ {
				if s.Points[i][0] < s.Points[i-1][0] {
					t.Error("sample times go backwards")
				}
			}
		}
	}
	if !series || !hasSamples {
		t.Errorf("series %v samples %v: %+v", series, hasSamples, p.Series)
	}
	if p.Metrics["snapshots_taken"] != 2 {
		t.Errorf("metrics %v", p.Metrics)
	}
}

func TestSamplerStopsAtEnd(t *testing.T) {
	m := beginPhase("p", nil, nil)
	m.SampleEvery(time.Millisecond, "x", "", func() float64 { return 1 })
	m.SampleEvery(0, "never", "", func() float64 { return 1 })
	time.Sleep(3 * time.Millisecond)
	p, err := m.End(nil, results.LogicalIO{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Series) != 1 || p.Series[0].Name != "x" {
		t.Fatalf("series %+v", p.Series)
	}
}

// kernelEngine is a real-system peer as the phase meter sees it: its IO
// reaches the counting device not at all, its kernel block device's
// counters come through Stats.
type kernelEngine struct {
	fakeEngine
	stats map[string]int64
}

func (k *kernelEngine) Stats() map[string]int64 { return k.stats }

func TestPhaseTakesKernelCountersOfPeers(t *testing.T) {
	dev := device.NewCounting(device.MustMem(1 << 20))
	eng := &kernelEngine{stats: map[string]int64{"fs_write_ios": 10, "fs_write_bytes": 40960, "fs_read_ios": 1,
		"fs_read_bytes": 4096, "fs_flush_ios": 2}}
	m := beginPhase("steady", dev, eng)
	eng.stats = map[string]int64{"fs_write_ios": 14, "fs_write_bytes": 57344, "fs_read_ios": 1,
		"fs_read_bytes": 4096, "fs_flush_ios": 3}
	p, err := m.End(nil, results.LogicalIO{WriteBytes: 8192, Writes: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := results.DeviceCounters{Writes: 4, WriteBytes: 16384, Flushes: 1}
	if p.Device != want || p.DeviceSource != "kernel" || !p.DeviceCounted() || p.WriteAmp() != 2 {
		t.Errorf("device %+v from %q, counted %v, write amp %v; want %+v from the kernel, amp 2",
			p.Device, p.DeviceSource, p.DeviceCounted(), p.WriteAmp(), want)
	}

	// An engine whose IO the counting device sees keeps those counters.
	m = beginPhase("steady", dev, eng)
	dev.WriteAt(make([]byte, 4096), 0)
	eng.stats["fs_write_ios"] += 100
	if p, _ = m.End(nil, results.LogicalIO{}); p.Device.Writes != 1 || p.DeviceSource != "" {
		t.Errorf("counted IO replaced by kernel stats: %+v from %q", p.Device, p.DeviceSource)
	}
}

type memReportingEngine struct{ fakeEngine }

func (memReportingEngine) MemoryBytes() int64 { return 12345 }

func TestPhaseRecordsEngineMemory(t *testing.T) {
	p, err := beginPhase("p", nil, &memReportingEngine{}).End(nil, results.LogicalIO{})
	if err != nil || p.CPU.EngineMemory != 12345 {
		t.Fatalf("engine memory %d, %v; want 12345", p.CPU.EngineMemory, err)
	}
	if p, _ = beginPhase("p", nil, &fakeEngine{}).End(nil, results.LogicalIO{}); p.CPU.EngineMemory != 0 {
		t.Fatalf("an engine without MemoryBytes reported %d", p.CPU.EngineMemory)
	}
}

// A peer whose Stats carry cluster_osds (rbd) has its counters marked as
// the cluster's, not a kernel block device's.
func TestPhaseMarksClusterCounters(t *testing.T) {
	dev := device.NewCounting(device.MustMem(1 << 20))
	for _, tc := range []struct {
		stats map[string]int64
		want  string
	}{
		{map[string]int64{"fs_write_ios": 1, "fs_write_bytes": 1}, "kernel"},
		{map[string]int64{"fs_write_ios": 1, "fs_write_bytes": 1, "cluster_osds": 1}, "cluster"},
	} {
		eng := &kernelEngine{stats: map[string]int64{}}
		for k := range tc.stats {
			eng.stats[k] = 0
		}
		m := beginPhase("steady", dev, eng)
		eng.stats = tc.stats
		p, err := m.End(nil, results.LogicalIO{})
		if err != nil {
			t.Fatal(err)
		}
		if p.DeviceSource != tc.want || p.Device.Writes != 1 {
			t.Errorf("stats %v: device %+v from %q, want 1 write from %q", tc.stats, p.Device, p.DeviceSource, tc.want)
		}
	}
}
