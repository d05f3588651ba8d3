package workloads

import (
	"sync"
	"syscall"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// The phase meter lives with the code that runs phases: results only
// describes what a phase measured (results.Phase), it holds no live engine
// or device.

// phaseMeter measures one phase: wall time, device counters, CPU time and
// space, from Begin to End. Operation latencies come from the Recorders the
// workers filled. Not safe for concurrent use (one per phase, owned by the
// scenario's coordinator).
type phaseMeter struct {
	name     string
	start    time.Time
	dev      *device.Counting
	eng      strategies.Engine
	devAt    device.Counters
	kernelAt map[string]int64 // a peer engine's fs_* stats at Begin
	ruAt     syscall.Rusage
	space    strategies.Space
	kinds    map[string]results.KindSpace
	Metrics  map[string]float64
	Series   []results.Series
	samplers []*seriesSampler
	// intervals collects the phase's latency over time (nil: none); every
	// recorder that feeds it is flushed before End.
	intervals *results.IntervalSink
}

// beginPhase starts measuring a phase named name. dev is the counting device
// under the engine (may be nil), eng the engine (may be nil).
func beginPhase(name string, dev *device.Counting, eng strategies.Engine) *phaseMeter {
	m := &phaseMeter{name: name, dev: dev, eng: eng, Metrics: make(map[string]float64)}
	if dev != nil {
		m.devAt = dev.Counters()
	}
	if eng != nil {
		m.space = eng.Space()
		m.kinds = kindsOf(eng.Volumes())
		m.kernelAt = kernelStats(eng)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &m.ruAt)
	m.start = time.Now()
	return m
}

// End closes the phase with the merged recorder of its workers (may be nil)
// and the logical IO the workload did. It stops the phase's samplers. With
// an IntervalSink, rec is flushed into it and the phase gets its Intervals;
// the workers' recorders must have been flushed already (collect).
func (m *phaseMeter) End(rec *results.Recorder, logical results.LogicalIO) (results.Phase, error) {
	elapsed := time.Since(m.start)
	m.stopSamplers()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	p := results.Phase{Name: m.name, Started: m.start, Seconds: elapsed.Seconds(), Ops: make(map[results.Op]results.OpStats),
		Logical: logical, Metrics: m.Metrics, Series: m.Series}
	if m.dev != nil {
		p.Device = resultCounters(m.dev.Counters().Sub(m.devAt))
	}
	if m.kernelAt != nil && p.Device.Reads+p.Device.Writes == 0 {
		if now := kernelStats(m.eng); now != nil {
			d := func(k string) int64 { return now[k] - m.kernelAt[k] }
			p.Device = results.DeviceCounters{Reads: d("fs_read_ios"), Writes: d("fs_write_ios"),
				ReadBytes: d("fs_read_bytes"), WriteBytes: d("fs_write_bytes"), Flushes: d("fs_flush_ios"),
				Discards: d("fs_discard_ios"), DiscardBytes: d("fs_discard_bytes")}
			p.DeviceSource = "kernel"
			if _, ok := now["cluster_osds"]; ok {
				p.DeviceSource = "cluster"
			}
		}
	}
	if m.eng != nil {
		p.Space = results.SpaceChange{Before: resultSpace(m.space), After: resultSpace(m.eng.Space()),
			KindsBefore: m.kinds, KindsAfter: kindsOf(m.eng.Volumes())}
	}
	p.CPU = results.CPU{
		UserSeconds: tvSeconds(ru.Utime) - tvSeconds(m.ruAt.Utime),
		SysSeconds:  tvSeconds(ru.Stime) - tvSeconds(m.ruAt.Stime),
		PeakRSS:     ru.Maxrss * 1024,
	}
	if mr, ok := m.eng.(strategies.MemoryReporter); ok {
		p.CPU.EngineMemory = mr.MemoryBytes()
	}
	if rec != nil {
		for op, o := range rec.Ops() {
			s, err := results.Summarise(o)
			if err != nil {
				return results.Phase{}, err
			}
			p.Ops[op] = s
		}
	}
	if m.intervals != nil {
		if rec != nil {
			rec.FlushIntervals()
		}
		iv, err := m.intervals.Intervals(elapsed)
		if err != nil {
			return results.Phase{}, err
		}
		p.Intervals = iv
	}
	return p, nil
}

// kernelStats returns the kernel block-device counters a real-system peer
// reports (strategies.Statser keys fs_read_ios, fs_write_bytes, ...), or
// nil for an engine whose IO snapbench's counting device sees.
func kernelStats(eng strategies.Engine) map[string]int64 {
	st, ok := eng.(strategies.Statser)
	if !ok {
		return nil
	}
	s := st.Stats()
	if _, ok := s["fs_write_bytes"]; !ok {
		return nil
	}
	return s
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// Elapsed is the time since the phase began.
func (m *phaseMeter) Elapsed() time.Duration { return time.Since(m.start) }

// AddPoint appends (x, y) to the series named name, creating it with the
// given units. Use it for series keyed by scenario events, e.g. base write
// p99 (YUnit "ns") at each live snapshot count (XUnit "live snapshots").
func (m *phaseMeter) AddPoint(name, xUnit, yUnit string, x, y float64) {
	for i := range m.Series {
		if m.Series[i].Name == name {
			m.Series[i].Points = append(m.Series[i].Points, [2]float64{x, y})
			return
		}
	}
	m.Series = append(m.Series, results.Series{Name: name, XUnit: xUnit, YUnit: yUnit, Points: [][2]float64{{x, y}}})
}

// kindsOf sums the volumes' private space by kind.
func kindsOf(vols []strategies.VolumeInfo) map[string]results.KindSpace {
	if len(vols) == 0 {
		return nil
	}
	out := make(map[string]results.KindSpace, 4)
	for _, v := range vols {
		k := out[v.Kind.String()]
		k.Volumes++
		k.PrivateBytes += v.PrivateBytes
		if !v.Valid {
			k.Invalid++
		}
		out[v.Kind.String()] = k
	}
	return out
}

// seriesSampler appends a value to a series at a fixed interval from its own
// goroutine until stopped.
type seriesSampler struct {
	series results.Series
	stop   chan struct{}
	done   sync.WaitGroup
}

// SampleEvery samples fn every interval, from a goroutine of its own, into
// a series named name with x in seconds since the phase began and y in
// yUnit, until the returned stop function is called or the phase Ends
// (whichever is first; stop is idempotent). fn must be safe to call
// concurrently with the workload (read atomics or an engine's Space).
// SampleEvery itself, like every phaseMeter method, is for the phase's
// coordinator only. An interval <= 0 samples nothing.
func (m *phaseMeter) SampleEvery(interval time.Duration, name, yUnit string, fn func() float64) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	s := &seriesSampler{series: results.Series{Name: name, XUnit: "s", YUnit: yUnit}, stop: make(chan struct{})}
	start := m.start
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				s.series.Points = append(s.series.Points, [2]float64{now.Sub(start).Seconds(), fn()})
			}
		}
	}()
	m.samplers = append(m.samplers, s)
	var once sync.Once
	return func() { once.Do(func() { m.stopSampler(s) }) }
}

// stopSampler stops s and moves its series into the meter.
func (m *phaseMeter) stopSampler(s *seriesSampler) {
	for i, x := range m.samplers {
		if x == s {
			m.samplers = append(m.samplers[:i], m.samplers[i+1:]...)
			close(s.stop)
			s.done.Wait()
			m.Series = append(m.Series, s.series)
			return
		}
	}
}

func (m *phaseMeter) stopSamplers() {
	for len(m.samplers) > 0 {
		m.stopSampler(m.samplers[0])
	}
}
