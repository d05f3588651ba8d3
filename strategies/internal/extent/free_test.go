package extent

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFreeSpace drives the free-space treap against a bitmap model: random
// allocations (first fit) and releases, and the extents and totals must
// always match.
func TestFree(t *testing.T) {
	const units, grain = 4096, 1
	rng := rand.New(rand.NewPCG(1, 2))
	f := NewFree(7)
	f.Release(0, units)
	used := make([]bool, units)
	type ext struct{ off, end int64 }
	var live []ext
	for step := 0; step < 20000; step++ {
		if rng.IntN(3) > 0 || len(live) == 0 {
			n := int64(1 + rng.IntN(40))
			off, ok := f.Alloc(n, grain)
			// First fit in the model.
			want, run := int64(-1), int64(0)
			for i := int64(0); i < units; i++ {
				if used[i] {
					run = 0
					continue
				}
				run++
				if run == n {
					want = i - n + 1
					break
				}
			}
			if ok != (want >= 0) || (ok && off != want) {
				t.Fatalf("step %d: alloc %d = %d %v, first fit is %d", step, n, off, ok, want)
			}
			if ok {
				for i := off; i < off+n; i++ {
					used[i] = true
				}
				live = append(live, ext{off, off + n})
			}
		} else {
			i := rng.IntN(len(live))
			x := live[i]
			live = slices.Delete(live, i, i+1)
			f.Release(x.off, x.end)
			for j := x.off; j < x.end; j++ {
				used[j] = false
			}
		}
		if step%97 == 0 {
			var got []ext
			var total int64
			f.Each(func(off, end int64) { got = append(got, ext{off, end}); total += end - off })
			var want []ext
			for i := int64(0); i < units; {
				if used[i] {
					i++
					continue
				}
				j := i
				for j < units && !used[j] {
					j++
				}
				want = append(want, ext{i, j})
				i = j
			}
			if !slices.Equal(got, want) || total != f.Bytes() || len(got) != f.Extents() {
				t.Fatalf("step %d: free extents %v (total %d count %d), want %v", step, got, f.Bytes(), f.Extents(), want)
			}
		}
	}
	if !f.Take(0, 0) && f.Take(-5, 3) {
		t.Fatal("take of a range outside the free space succeeded")
	}
}
