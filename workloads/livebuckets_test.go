package workloads

import (
	"testing"
	"time"

	"github.com/snapbench/snapbench/results"
)

// liveBucketIndex: exact below liveExact, never decreasing, contiguous,
// each bucket at most 1/liveSubBuckets of its counts wide, and few.
func TestLiveBucketIndex(t *testing.T) {
	for _, tc := range []struct{ live, want int }{
		{0, 0}, {1, 1}, {15, 15}, {16, 16}, {17, 16}, {18, 17}, {31, 23}, {32, 24}, {63, 31}, {64, 32},
	} {
		if got := liveBucketIndex(tc.live); got != tc.want {
			t.Errorf("liveBucketIndex(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
	prev, lo := 0, 0
	for live := 1; live <= 200000; live++ {
		i := liveBucketIndex(live)
		switch {
		case i == prev:
			if w := live - lo + 1; live >= liveExact && w*liveSubBuckets > lo*2 {
				t.Fatalf("bucket %d spans %d..%d: wider than 1/%d of its counts", i, lo, live, liveSubBuckets)
			}
		case i == prev+1:
			lo = live
		default:
			t.Fatalf("liveBucketIndex(%d) = %d after %d: not contiguous", live, i, prev)
		}
		prev = i
	}
	for _, tc := range []struct{ live, most int }{{1000, 64}, {100000, 120}} {
		if n := liveBucketIndex(tc.live) + 1; n > tc.most {
			t.Errorf("%d live snapshots use %d buckets, want at most %d", tc.live, n, tc.most)
		}
	}
}

// A bucket's x is the mean live count of its writes; buckets without
// writes are left out.
func TestLiveBucketsSorted(t *testing.T) {
	lb := liveBuckets{}
	rec := func(n int) *results.OpRecord {
		r := results.NewRecorder()
		for range n {
			r.Record(results.OpWrite, time.Microsecond, 4096)
		}
		return r.Ops()[results.OpWrite]
	}
	lb.add(3, rec(2), 100)
	lb.add(16, rec(1), 0)
	lb.add(17, rec(3), 0) // same bucket as 16: mean (16+51)/4 = 16.75 -> 17
	lb.add(40, nil, 7)    // device bytes, no writes
	xs, bs := lb.sorted()
	if len(xs) != 2 || xs[0] != 3 || xs[1] != 17 || bs[1].writes != 4 || bs[0].deviceBytes != 100 || bs[1].hist.TotalCount() != 4 {
		t.Fatalf("sorted: %v %+v", xs, bs)
	}
}
