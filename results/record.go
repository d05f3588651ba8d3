package results

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Op is a kind of timed operation.
type Op string

// The operation kinds every engine and scenario share.
const (
	OpRead     Op = "read"
	OpWrite    Op = "write"
	OpFlush    Op = "flush"
	OpCreate   Op = "create"
	OpSnapshot Op = "snapshot"
	OpClone    Op = "clone"
	OpDelete   Op = "delete"
	OpMerge    Op = "merge"  // consolidating deltas (linked)
	OpExpire   Op = "expire" // retention expiry of a snapshot
	OpReplica  Op = "replica"
	OpBoot     Op = "boot" // one clone's whole boot in a boot storm
)

// Histogram range: 100 ns to 1 hour, 3 significant digits.
const (
	histMin    = 100
	histMax    = int64(time.Hour)
	histDigits = 3
)

// NewHistogram returns an empty latency histogram in nanoseconds with the
// range and precision used everywhere in snapbench.
func NewHistogram() *hdr.Histogram { return hdr.New(histMin, histMax, histDigits) }

// OpRecord accumulates one operation kind.
type OpRecord struct {
	Hist   *hdr.Histogram
	Count  int64
	Bytes  int64
	Errors int64
	Total  time.Duration // sum of the latencies recorded (unclamped)

	// The current interval (when the recorder has an IntervalSink): its
	// index and histogram, handed to the sink when an operation completes
	// in a later interval or on FlushIntervals.
	cur    *hdr.Histogram
	curIdx int64
}

// Recorder accumulates latencies for one worker. It is NOT safe for
// concurrent use (neither is an HDR histogram): give each worker its own and
// Merge them at the end of the phase. Record does not allocate once an
// operation kind has been seen; the shared kinds (the constants above) are
// found by a switch into an array, other kinds in a map.
type Recorder struct {
	known [numKnownOps]*OpRecord
	other map[Op]*OpRecord // kinds that are not constants of this package
	// spare holds the emptied records of the known kinds after Reset, so
	// that a recorder reused across IO runs allocates no histogram again.
	spare [numKnownOps]*OpRecord
	sink  *IntervalSink // nil: no intervals
}

// knownOps lists the constants in their array order.
var knownOps = [...]Op{OpRead, OpWrite, OpFlush, OpCreate, OpSnapshot, OpClone, OpDelete, OpMerge, OpExpire, OpReplica, OpBoot}

const numKnownOps = len(knownOps)

// opIndex is op's index in knownOps, or -1.
func opIndex(op Op) int {
	switch op {
	case OpRead:
		return 0
	case OpWrite:
		return 1
	case OpFlush:
		return 2
	case OpCreate:
		return 3
	case OpSnapshot:
		return 4
	case OpClone:
		return 5
	case OpDelete:
		return 6
	case OpMerge:
		return 7
	case OpExpire:
		return 8
	case OpReplica:
		return 9
	case OpBoot:
		return 10
	}
	return -1
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{} }

func (r *Recorder) rec(op Op) *OpRecord {
	if i := opIndex(op); i >= 0 {
		o := r.known[i]
		if o == nil {
			if o = r.spare[i]; o != nil {
				r.spare[i] = nil
			} else {
				o = &OpRecord{Hist: NewHistogram()}
			}
			r.known[i] = o
		}
		return o
	}
	o := r.other[op]
	if o == nil {
		if r.other == nil {
			r.other = make(map[Op]*OpRecord)
		}
		o = &OpRecord{Hist: NewHistogram()}
		r.other[op] = o
	}
	return o
}

// SetIntervals makes the recorder also record latency over time into
// sink (nil: stop). Call it on an empty recorder (new or Reset).
func (r *Recorder) SetIntervals(sink *IntervalSink) { r.sink = sink }

// Record adds one successful operation of kind op that took d and moved
// bytes bytes. Latencies outside the histogram range are clamped. With an
// IntervalSink, the operation counts in the interval of the sink's Now;
// hot paths that know the completion time use RecordAt.
func (r *Recorder) Record(op Op, d time.Duration, bytes int64) {
	var at time.Duration
	if r.sink != nil {
		at = r.sink.now()
	}
	r.RecordAt(op, d, bytes, at)
}

// RecordAt is Record of an operation that completed at time at on the
// IntervalSink's clock (ignored without a sink). It does not allocate once
// op has been seen, except once per interval when the finished interval is
// handed to the sink (under its lock).
func (r *Recorder) RecordAt(op Op, d time.Duration, bytes int64, at time.Duration) {
	o := r.rec(op)
	ns := int64(d)
	if ns < histMin {
		ns = histMin
	} else if ns > histMax {
		ns = histMax
	}
	_ = o.Hist.RecordValue(ns)
	if r.sink != nil {
		idx := r.sink.index(at)
		if o.cur == nil {
			o.cur, o.curIdx = NewHistogram(), idx
		} else if idx != o.curIdx {
			if o.cur.TotalCount() > 0 {
				r.sink.add(op, o.curIdx, o.cur)
				o.cur.Reset()
			}
			o.curIdx = idx
		}
		_ = o.cur.RecordValue(ns)
	}
	o.Total += d
	o.Count++
	o.Bytes += bytes
}

// RecordError counts a failed operation of kind op (not in the histogram).
func (r *Recorder) RecordError(op Op) { r.rec(op).Errors++ }

// FlushIntervals hands the recorder's current intervals to its sink (a
// no-op without one). Call it when the recorder's operations are done,
// before the sink's Intervals.
func (r *Recorder) FlushIntervals() {
	if r.sink == nil {
		return
	}
	for op, o := range r.Ops() {
		if o.cur != nil && o.cur.TotalCount() > 0 {
			r.sink.add(op, o.curIdx, o.cur)
			o.cur.Reset()
		}
	}
}

// Merge adds o's records into r. Intervals are not merged: they go to the
// sink of each recorder (FlushIntervals).
func (r *Recorder) Merge(o *Recorder) {
	for op, src := range o.Ops() {
		dst := r.rec(op)
		dst.Hist.Merge(src.Hist)
		dst.Count += src.Count
		dst.Bytes += src.Bytes
		dst.Errors += src.Errors
		dst.Total += src.Total
	}
}

// Ops returns the records by kind: a new map of the recorder's records
// (which it shares), each kind that has been seen once.
func (r *Recorder) Ops() map[Op]*OpRecord {
	m := make(map[Op]*OpRecord, len(r.other)+4)
	for i, o := range r.known {
		if o != nil {
			m[knownOps[i]] = o
		}
	}
	for op, o := range r.other {
		m[op] = o
	}
	return m
}

// Reset empties the recorder as if new: no kind has been seen (Ops is
// empty), but the histograms of the shared kinds are kept and reused, so a
// recorder Reset between IO runs does not allocate. Records returned by
// Ops before the Reset must not be used after it. Reset drops the
// IntervalSink and any interval not flushed.
func (r *Recorder) Reset() {
	for i, o := range r.known {
		if o != nil {
			o.Hist.Reset()
			if o.cur != nil {
				o.cur.Reset()
			}
			o.Count, o.Bytes, o.Errors, o.Total = 0, 0, 0, 0
			r.spare[i], r.known[i] = o, nil
		}
	}
	r.other = nil
	r.sink = nil
}
