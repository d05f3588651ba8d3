package workloads

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// ioTarget is an open volume the workers do IO on, with its oracle view.
type ioTarget struct {
	vol     strategies.Volume
	id      strategies.VolumeID
	name    string
	ov      *ovol // nil when verification is off
	lineage uint32
}

// stream is one worker's source of ops for one IO run. next is called by
// that worker only, after its previous op completed; ok false ends the
// worker's part.
type stream interface {
	next(w *worker) (t *ioTarget, op Op, ok bool)
}

// patternStream issues left ops (-1: unbounded) of a generator on one target.
type patternStream struct {
	g    *Generator
	t    *ioTarget
	left int64
}

func (p *patternStream) next(*worker) (*ioTarget, Op, bool) {
	if p.left == 0 {
		return nil, Op{}, false
	}
	p.left--
	return p.t, p.g.Next(), true
}

// spreadStream sends each op of a generator to a target drawn uniformly
// from ts. The targets must be this worker's alone, or read-only, or the
// generator must respect granule ownership.
type spreadStream struct {
	g    *Generator
	ts   []*ioTarget
	r    rng
	left int64
}

func (p *spreadStream) next(*worker) (*ioTarget, Op, bool) {
	if p.left == 0 || len(p.ts) == 0 {
		return nil, Op{}, false
	}
	p.left--
	t := p.ts[0]
	if len(p.ts) > 1 {
		t = p.ts[p.r.Uint64n(uint64(len(p.ts)))]
	}
	return t, p.g.Next(), true
}

// worker is one of the scenario's queue-depth workers. It lives for the
// whole scenario; it gets a fresh recorder for each IO run, which the
// coordinator merges into the phase's.
type worker struct {
	idx     int
	s       *session
	buf     []byte
	rec     *results.Recorder
	logical results.LogicalIO
	// generations: this worker stamps genNext, genNext+genStride, ...
	genNext, genStride, gensUsed uint64
	done                         atomic.Int64 // ops completed in the current run, for progress
	noSpace, invalid             int64        // tolerated write failures
	_                            [64]byte
}

// ioRun is one concurrent burst of IO: one stream per worker.
type ioRun struct {
	streams  []stream
	total    int64         // ops expected, for progress (0: unknown)
	deadline time.Duration // on the mono clock; 0: none
	rate     float64       // ops/s over all streams; 0: unlimited
	// IO on a volume the engine invalidated (ErrInvalidated) is always
	// counted rather than fatal: the engine's policy, not a failure.
	// tolerate: writes failing with ErrNoSpace are counted too, and their
	// range marked uncertain in the oracle; with stopOnFull the first one
	// ends the run.
	tolerate, stopOnFull bool
	// apart: the run's ops are collected into a recorder of their own, not
	// the phase's (snaptree's branch writes), so they stay out of the
	// phase's latency-over-time intervals too.
	apart bool
}

// ioResult is what the run's workers counted.
type ioResult struct {
	noSpace, invalid int64
}

// epoch anchors the mono clock: time.Since of a monotonic time reads one
// clock, where time.Now reads two.
var epoch = time.Now()

func mono() time.Duration { return time.Since(epoch) }

// runIO runs r on the first len(r.streams) workers and waits for them. The
// workers' recorders are left for the caller to collect.
func (s *session) runIO(r ioRun) (ioResult, error) {
	n := len(r.streams)
	if n > len(s.workers) {
		panic("workloads: more streams than workers")
	}
	var stop atomic.Bool
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		stop.Store(true)
	}
	quit := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { // cancellation and progress
		defer bg.Done()
		var tick <-chan time.Time
		if s.env.Progress != nil {
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-s.ctx.Done():
				stop.Store(true)
				return
			case <-quit:
				return
			case <-tick:
				s.progress(r.total, n)
			}
		}
	}()
	for i := 0; i < n; i++ {
		w := s.workers[i]
		// An empty recorder per run, so that a phase lists only the kinds
		// of operation it did; Reset keeps the histograms' memory, so a
		// phase of many short runs (snaptree's epochs) does not allocate
		// one per run.
		w.rec.Reset()
		if s.ph != nil && s.ph.m.intervals != nil && !r.apart {
			w.rec.SetIntervals(s.ph.m.intervals)
		}
		w.genNext, w.genStride, w.gensUsed = s.nextGen+uint64(i), uint64(n), 0
		w.noSpace, w.invalid = 0, 0
		w.done.Store(0)
	}
	if n == 1 {
		if err := s.workers[0].loop(r.streams[0], &r, n, &stop); err != nil {
			fail(err)
		}
	} else {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(w *worker, st stream) {
				defer wg.Done()
				if err := w.loop(st, &r, n, &stop); err != nil {
					fail(err)
				}
			}(s.workers[i], r.streams[i])
		}
		wg.Wait()
	}
	close(quit)
	bg.Wait()
	var res ioResult
	used := uint64(0)
	for _, w := range s.workers[:n] {
		used = max(used, w.gensUsed)
		res.noSpace += w.noSpace
		res.invalid += w.invalid
		s.opsDone += w.done.Load()
	}
	s.nextGen += uint64(n) * (used + 1)
	if s.nextGen > maxGen {
		return res, fmt.Errorf("workloads: more than %d writes in one run", maxGen)
	}
	if firstErr != nil {
		return res, firstErr
	}
	return res, s.ctx.Err()
}

// loop is the hot path: no allocation, no lock, two clock reads per op.
func (w *worker) loop(st stream, r *ioRun, n int, stop *atomic.Bool) error {
	s := w.s
	stamping := s.mode != VerifyOff
	var interval, due time.Duration
	if r.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(n) / r.rate)
		due = mono()
	}
	var done int64
	defer func() { w.done.Store(done) }()
	for !stop.Load() {
		t, op, ok := st.next(w)
		if !ok {
			break
		}
		if interval > 0 {
			due += interval
			if wait := due - mono(); wait > 50*time.Microsecond {
				time.Sleep(wait)
			}
		}
		buf := w.buf[:op.Len]
		var end time.Duration
		if op.Write {
			var gen uint64
			if stamping {
				gen = w.genNext
				w.genNext += w.genStride
				w.gensUsed++
				s.tab.stamp(buf, t.lineage, op.Off, gen)
			}
			start := mono()
			_, err := t.vol.WriteAt(buf, op.Off)
			end = mono()
			if err != nil {
				if err := w.writeFailed(t, op, gen, err, r, stop); err != nil {
					return err
				}
			} else {
				w.rec.RecordAt(results.OpWrite, end-start, int64(op.Len), end)
				w.logical.Writes++
				w.logical.WriteBytes += int64(op.Len)
				if stamping {
					s.o.record(t.ov, op.Off, op.Len, pack(t.lineage, gen))
				}
			}
		} else {
			start := mono()
			_, err := t.vol.ReadAt(buf, op.Off)
			end = mono()
			switch {
			case err == nil:
				w.rec.RecordAt(results.OpRead, end-start, int64(op.Len), end)
				w.logical.Reads++
				w.logical.ReadBytes += int64(op.Len)
				if stamping {
					if err := w.verifyRead(t, buf, op.Off); err != nil {
						return err
					}
				}
			case errors.Is(err, strategies.ErrInvalidated):
				w.rec.RecordError(results.OpRead)
				w.invalid++
			default:
				w.rec.RecordError(results.OpRead)
				return fmt.Errorf("workloads: read %d bytes at %d of %q: %w", op.Len, op.Off, t.name, err)
			}
		}
		done++
		if done&127 == 0 {
			w.done.Store(done)
		}
		if r.deadline > 0 && end >= r.deadline {
			break
		}
	}
	return nil
}

// writeFailed handles a failed write: fatal unless the run tolerates
// running out of space.
func (w *worker) writeFailed(t *ioTarget, op Op, gen uint64, err error, r *ioRun, stop *atomic.Bool) error {
	w.rec.RecordError(results.OpWrite)
	full := errors.Is(err, strategies.ErrNoSpace)
	inval := errors.Is(err, strategies.ErrInvalidated)
	if !(inval || r.tolerate && full) {
		return fmt.Errorf("workloads: write %d bytes at %d of %q: %w", op.Len, op.Off, t.name, err)
	}
	if full {
		w.noSpace++
	} else {
		w.invalid++
	}
	if w.s.mode != VerifyOff {
		w.s.o.recordUncertain(t.ov, op.Off, op.Len, pack(t.lineage, gen))
	}
	if r.stopOnFull && full {
		stop.Store(true)
	}
	return nil
}

// collect merges the first n workers' recorders and logical IO into rec and
// lio, and hands their last intervals to the phase's IntervalSink.
func (s *session) collect(n int, rec *results.Recorder, lio *results.LogicalIO) {
	for _, w := range s.workers[:n] {
		w.rec.FlushIntervals()
		if rec != nil {
			rec.Merge(w.rec)
		}
		if lio != nil {
			lio.Reads += w.logical.Reads
			lio.Writes += w.logical.Writes
			lio.ReadBytes += w.logical.ReadBytes
			lio.WriteBytes += w.logical.WriteBytes
		}
		w.logical = results.LogicalIO{}
	}
}

// newWorkers allocates qd workers with buffers of maxBlock bytes.
func (s *session) newWorkers(qd int, maxBlock int64) {
	s.workers = make([]*worker, qd)
	for i := range s.workers {
		w := &worker{idx: i, s: s, buf: device.Alloc(int(maxBlock)), rec: results.NewRecorder()}
		// Speed runs write recognisable, incompressible data; stamped runs
		// overwrite it per op.
		copy(w.buf, pool())
		s.workers[i] = w
	}
}
