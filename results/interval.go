package results

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Interval is the latency histogram of one operation kind over one slice
// of a phase (latency over time): Start and Length are milliseconds from
// the phase's start. An operation belongs to the interval in which it
// completed. Hist is the HDR histogram in its V2 compressed encoding
// (base64), like OpStats.Hist; the intervals of one op sum to the phase's
// histogram of that op.
type Interval struct {
	Op     Op     `json:"op"`
	Start  int64  `json:"start_ms"`
	Length int64  `json:"length_ms"`
	Count  int64  `json:"count"`
	Max    int64  `json:"max_ns"`
	Hist   string `json:"hdr"`
}

// Histogram decodes the interval's histogram.
func (iv Interval) Histogram() (*hdr.Histogram, error) {
	return OpStats{Hist: iv.Hist}.Histogram()
}

// MaxIntervals bounds the intervals a phase keeps per operation kind: a
// longer phase's intervals are merged into coarser ones (2, 3, ... times
// the configured length) so that no op has more.
const MaxIntervals = 3600

// liveIntervals is how many intervals behind the newest one an
// IntervalSink keeps as live histograms before it encodes them (an
// uncompressed histogram of snapbench's range is about 220 KB).
const liveIntervals = 2

type ivKey struct {
	op  Op
	idx int64
}

// IntervalSink collects the interval histograms of one phase from the
// Recorders of its workers and coordinator (SetIntervals). It is safe for
// concurrent use; each Recorder hands it a finished interval once per
// interval and op, not per operation. Intervals are numbered from Origin,
// a time on the caller's clock (the one passed to RecordAt and returned by
// Now), in steps of Length. Memory is bounded: intervals more than a few
// behind the newest handed in are kept encoded (compressed), and a late
// one is decoded, merged and encoded again.
type IntervalSink struct {
	length time.Duration
	origin time.Duration
	now    func() time.Duration
	max    int64 // intervals kept per op: MaxIntervals (tests lower it)

	mu   sync.Mutex
	live map[ivKey]*hdr.Histogram
	done map[ivKey][]byte // encoded intervals
	top  int64            // newest index handed in
	free []*hdr.Histogram
	err  error
}

// NewIntervalSink returns a sink of intervals of length length (> 0)
// starting at origin on the clock now (used by Recorder.Record, which
// gets no completion time).
func NewIntervalSink(length, origin time.Duration, now func() time.Duration) *IntervalSink {
	if length <= 0 {
		panic("results: interval length must be positive")
	}
	return &IntervalSink{length: length, origin: origin, now: now, max: MaxIntervals,
		live: make(map[ivKey]*hdr.Histogram), done: make(map[ivKey][]byte)}
}

// Length is the sink's interval length.
func (s *IntervalSink) Length() time.Duration { return s.length }

// index is the interval of completion time at.
func (s *IntervalSink) index(at time.Duration) int64 {
	d := at - s.origin
	if d < 0 {
		return 0
	}
	return int64(d / s.length)
}

// add merges h, op's histogram of interval idx, into the sink. h is not
// retained.
func (s *IntervalSink) add(op Op, idx int64, h *hdr.Histogram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ivKey{op, idx}
	dst := s.live[k]
	if dst == nil {
		if n := len(s.free); n > 0 {
			dst, s.free = s.free[n-1], s.free[:n-1]
		} else {
			dst = NewHistogram()
		}
		if b, ok := s.done[k]; ok { // a late operation: reopen the interval
			old, err := hdr.Decode(b)
			if err != nil {
				s.fail(err)
			} else {
				dst.Merge(old)
			}
			delete(s.done, k)
		}
		s.live[k] = dst
	}
	dst.Merge(h)
	if idx > s.top {
		s.top = idx
	}
	for k, h := range s.live {
		if k.idx < s.top-liveIntervals {
			s.retire(k, h)
		}
	}
}

// retire encodes the live interval k and frees its histogram. s.mu held.
func (s *IntervalSink) retire(k ivKey, h *hdr.Histogram) {
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		s.fail(err)
	} else {
		s.done[k] = b
	}
	delete(s.live, k)
	h.Reset()
	s.free = append(s.free, h)
}

func (s *IntervalSink) fail(err error) {
	if s.err == nil {
		s.err = fmt.Errorf("results: intervals: %w", err)
	}
}

// Intervals returns the phase's intervals, by op (in display order) then
// start, for a phase that lasted phase from Origin: the last interval is
// cut at the phase's end (rounded to the millisecond, and at least 1 ms
// long), and an op with more than MaxIntervals intervals
// has them merged into coarser ones. Intervals in which an op completed
// nothing are left out. Call it once every Recorder has flushed
// (FlushIntervals); the sink is empty afterwards.
func (s *IntervalSink) Intervals(phase time.Duration) ([]Interval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, h := range s.live {
		s.retire(k, h)
	}
	s.free = nil
	if s.err != nil {
		return nil, s.err
	}
	byOp := make(map[Op][]int64)
	for k := range s.done {
		byOp[k.op] = append(byOp[k.op], k.idx)
	}
	ops := make([]Op, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sortOps(ops)
	lenMs := s.length.Milliseconds()
	endMs := int64(math.Round(phase.Seconds() * 1000))
	var out []Interval
	for _, op := range ops {
		idx := byOp[op]
		sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
		// Coarsen by the smallest factor that keeps the span of indices
		// within MaxIntervals.
		f := (idx[len(idx)-1]/s.max + 1)
		for i := 0; i < len(idx); {
			g := idx[i] / f
			j := i
			var h *hdr.Histogram
			for ; j < len(idx) && idx[j]/f == g; j++ {
				x, err := hdr.Decode(s.done[ivKey{op, idx[j]}])
				if err != nil {
					return nil, fmt.Errorf("results: intervals: %w", err)
				}
				if h == nil {
					h = x
				} else {
					h.Merge(x)
				}
			}
			i = j
			iv := Interval{Op: op, Start: g * f * lenMs, Length: f * lenMs, Count: h.TotalCount(), Max: h.Max()}
			if iv.Start+iv.Length > endMs {
				iv.Length = max(endMs-iv.Start, 1)
			}
			b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
			if err != nil {
				return nil, fmt.Errorf("results: intervals: %w", err)
			}
			iv.Hist = string(b)
			out = append(out, iv)
		}
	}
	s.done = make(map[ivKey][]byte)
	return out, nil
}
