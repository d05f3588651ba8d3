package workloads

import (
	"math/bits"
	"sort"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/snapbench/snapbench/results"
)

// liveExact is the number of live-snapshot counts that get a bucket each;
// above it, each doubling of the count is split into liveSubBuckets
// buckets of equal width (at most 1/liveSubBuckets of the count wide).
const (
	liveExact      = 16
	liveSubBuckets = 8
)

// liveBucketIndex maps a live-snapshot count to its bucket: counts below
// liveExact map to themselves; above, log-linear buckets as an HDR
// histogram lays out its values. The number of buckets for counts up to n
// is about liveExact + liveSubBuckets*log2(n/liveExact): 64 for 1,000
// snapshots, 120 for 100,000.
func liveBucketIndex(live int) int {
	if live < liveExact {
		return live
	}
	k := bits.Len(uint(live)) - 1 // 2^k <= live < 2^(k+1), k >= 4
	width := 1 << k / liveSubBuckets
	return liveExact + (k-bits.Len(liveExact)+1)*liveSubBuckets + (live-1<<k)/width
}

// liveBucket accumulates the base writes made while the number of live
// base snapshots was in one bucket's range.
type liveBucket struct {
	hist        *hdr.Histogram
	writes      int64
	bytes       int64
	deviceBytes int64
	liveWrites  int64 // sum of the live count over the bucket's writes, for its mean
}

// liveBuckets is snaptree's base-write latency by live-snapshot count,
// with memory bounded by the logarithm of the count (one histogram per
// bucket, ~220 KB each) rather than one histogram per count.
type liveBuckets map[int]*liveBucket

// add records the write records of rec made with live snapshots alive and
// the device bytes they caused.
func (lb liveBuckets) add(live int, w *results.OpRecord, deviceBytes int64) {
	i := liveBucketIndex(live)
	b := lb[i]
	if b == nil {
		b = &liveBucket{hist: results.NewHistogram()}
		lb[i] = b
	}
	if w != nil {
		b.hist.Merge(w.Hist)
		b.writes += w.Count
		b.bytes += w.Bytes
		b.liveWrites += int64(live) * w.Count
	}
	b.deviceBytes += deviceBytes
}

// sorted returns the buckets that saw writes, by live count, each with
// its x: the live count the writes saw on average, rounded (exact below
// liveExact).
func (lb liveBuckets) sorted() (xs []float64, bs []*liveBucket) {
	idx := make([]int, 0, len(lb))
	for i, b := range lb {
		if b.writes > 0 {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	for _, i := range idx {
		b := lb[i]
		xs = append(xs, float64((b.liveWrites+b.writes/2)/b.writes))
		bs = append(bs, b)
	}
	return xs, bs
}
