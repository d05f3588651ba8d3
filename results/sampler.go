package results

import (
	"sync"
	"time"
)

// sampler appends a value to a series at a fixed interval from its own
// goroutine until stopped.
type sampler struct {
	series Series
	stop   chan struct{}
	done   sync.WaitGroup
}

// SampleEvery samples fn every interval, from a goroutine of its own, into
// a series named name with x in seconds since the phase began and y in
// yUnit, until the returned stop function is called or the phase Ends
// (whichever is first; stop is idempotent). fn must be safe to call
// concurrently with the workload (read atomics or an engine's Space).
// SampleEvery itself, like every PhaseMeter method, is for the phase's
// coordinator only. An interval <= 0 samples nothing.
func (m *PhaseMeter) SampleEvery(interval time.Duration, name, yUnit string, fn func() float64) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	s := &sampler{series: Series{Name: name, XUnit: "s", YUnit: yUnit}, stop: make(chan struct{})}
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
func (m *PhaseMeter) stopSampler(s *sampler) {
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

func (m *PhaseMeter) stopSamplers() {
	for len(m.samplers) > 0 {
		m.stopSampler(m.samplers[0])
	}
}
