package linked

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkLookupDepth isolates the CPU cost of the chain walk of a read:
// a 64 MiB volume of 64 KiB grains whose data is in the bottom delta, under
// depth-1 deltas that each map one grain (so their table page exists and
// is consulted). BenchmarkReadDepth measures the same with the device read.
func BenchmarkLookupDepth(b *testing.B) {
	const n = 1024
	for _, depth := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var top *delta
			for i := 0; i < depth; i++ {
				d := newDeltaTable(uint64(i+1), n)
				d.parent = top
				if i == 0 {
					for g := uint32(0); g < n; g++ {
						d.set(g, g+1)
					}
				} else {
					d.set(rng.Uint32N(n), uint32(n+i))
				}
				top = d
			}
			b.ResetTimer()
			var sink uint32
			for i := 0; i < b.N; i++ {
				sink += lookup(top, uint32(i)%n)
			}
			_ = sink
		})
	}
}
