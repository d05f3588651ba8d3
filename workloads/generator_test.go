package workloads

import (
	"strings"
	"testing"
)

func mustPattern(t testing.TB, bs, dist string, readPct float64, access Access) Pattern {
	t.Helper()
	b, err := ParseBlockSizes(bs)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDistribution(dist)
	if err != nil {
		t.Fatal(err)
	}
	return Pattern{ReadPct: readPct, BlockSizes: b, Access: access, Dist: d}
}

func TestGeneratorDeterministic(t *testing.T) {
	p := mustPattern(t, "4k:75,64k:25", "zipf:0.9", 30, Random)
	seq := func(seed uint64) []Op {
		g, err := NewGenerator(GenConfig{Pattern: p, Len: 64 << 20, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]Op, 1000)
		for i := range out {
			out[i] = g.Next()
		}
		return out
	}
	a, b, c := seq(7), seq(7), seq(8)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("op %d differs for one seed: %+v %+v", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same > 100 {
		t.Fatalf("seeds 7 and 8 share %d of 1000 ops", same)
	}
}

// Every op stays in its region, aligned to its size, inside one granule
// that its worker owns.
func TestGeneratorBoundsAndOwnership(t *testing.T) {
	const start, length, gran = 1 << 20, 32 << 20, 64 << 10
	for _, tc := range []struct {
		bs, dist string
		access   Access
	}{
		{"4k", "uniform", Random},
		{"4k:80,64k:20", "uniform", Random},
		{"4k,16k", "zipf:0.99", Random},
		{"8k", "zipf:1.2", Random},
		{"4k", "hotspot:90:10", Random},
		{"4k:50,64k:50", "uniform", Sequential},
		{"64k", "uniform", Sequential},
	} {
		p := mustPattern(t, tc.bs, tc.dist, 50, tc.access)
		for _, workers := range []int{1, 3} {
			for w := 0; w < workers; w++ {
				g, err := NewGenerator(GenConfig{Pattern: p, Start: start, Len: length, Granule: gran, Worker: w, Workers: workers, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 20000; i++ {
					op := g.Next()
					rel := op.Off - start
					switch {
					case rel < 0 || rel+int64(op.Len) > length:
						t.Fatalf("%s %s: op %+v outside the region", tc.bs, tc.dist, op)
					case tc.access == Random && rel%int64(op.Len) != 0:
						t.Fatalf("%s %s: op %+v not aligned to its size", tc.bs, tc.dist, op)
					case workers > 1 && rel/gran != (rel+int64(op.Len)-1)/gran:
						t.Fatalf("%s %s: op %+v crosses a granule", tc.bs, tc.dist, op)
					case workers > 1 && int(rel/gran)%workers != w:
						t.Fatalf("%s %s: worker %d of %d touched granule %d", tc.bs, tc.dist, w, workers, rel/gran)
					}
				}
			}
		}
	}
}

func TestGeneratorMixAndDistributions(t *testing.T) {
	const n = 200000
	const length = 64 << 20
	count := func(p Pattern, f func(Op) bool) float64 {
		g, err := NewGenerator(GenConfig{Pattern: p, Len: length, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		for i := 0; i < n; i++ {
			if f(g.Next()) {
				c++
			}
		}
		return float64(c) / n
	}
	near := func(name string, got, want, tol float64) {
		if got < want-tol || got > want+tol {
			t.Errorf("%s: %.3f, want %.3f±%.3f", name, got, want, tol)
		}
	}
	near("reads", count(mustPattern(t, "4k", "uniform", 30, Random), func(o Op) bool { return !o.Write }), 0.30, 0.01)
	near("64k share", count(mustPattern(t, "4k:80,64k:20", "uniform", 0, Random), func(o Op) bool { return o.Len == 64<<10 }), 0.20, 0.01)
	near("hot ops", count(mustPattern(t, "4k", "hotspot:90:10", 0, Random), func(o Op) bool { return o.Off < length/10 }), 0.90, 0.01)
	near("uniform first tenth", count(mustPattern(t, "4k", "uniform", 0, Random), func(o Op) bool { return o.Off < length/10 }), 0.10, 0.01)
	for _, theta := range []string{"0.99", "1.2"} {
		g, _ := NewGenerator(GenConfig{Pattern: mustPattern(t, "4k", "zipf:"+theta, 0, Random), Len: length, Seed: 3})
		hits := map[int64]int{}
		for i := 0; i < n; i++ {
			hits[g.Next().Off]++
		}
		top := 0
		for _, c := range hits {
			top = max(top, c)
		}
		// Uniform would give each of 16384 blocks about 12 hits.
		if top < n/100 || len(hits) < 100 {
			t.Errorf("zipf:%s: hottest block %d of %d ops, %d distinct", theta, top, n, len(hits))
		}
	}
	// Sequential: consecutive, wrapping at the end.
	g, _ := NewGenerator(GenConfig{Pattern: mustPattern(t, "1m", "uniform", 0, Sequential), Len: 4 << 20, Seed: 1})
	for i := 0; i < 10; i++ {
		if op := g.Next(); op.Off != int64(i%4)<<20 {
			t.Fatalf("seq op %d at %d", i, op.Off)
		}
	}
}

func TestGeneratorRejects(t *testing.T) {
	p := mustPattern(t, "4k,64k", "uniform", 0, Random)
	for name, c := range map[string]GenConfig{
		"granule not a multiple": {Pattern: p, Len: 1 << 20, Granule: 32 << 10},
		"region not granules":    {Pattern: p, Len: 100 << 10},
		"too many workers":       {Pattern: p, Len: 128 << 10, Workers: 3},
		"worker out of range":    {Pattern: p, Len: 1 << 20, Worker: 3, Workers: 2},
	} {
		if _, err := NewGenerator(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGeneratorDoesNotAllocate(t *testing.T) {
	for _, dist := range []string{"uniform", "zipf:0.9", "zipf:1.1", "hotspot:80:20"} {
		g, err := NewGenerator(GenConfig{Pattern: mustPattern(t, "4k:75,64k:25", dist, 50, Random), Len: 64 << 20, Workers: 2, Worker: 1, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(10000, func() { g.Next() }); a != 0 {
			t.Errorf("%s: %v allocations per op", dist, a)
		}
	}
}

var sinkOp Op

// BenchmarkGenerator measures op generation alone.
func BenchmarkGenerator(b *testing.B) {
	for _, bc := range []struct{ name, bs, dist string }{
		{"uniform-4k", "4k", "uniform"},
		{"split-uniform", "4k:80,64k:20", "uniform"},
		{"zipf0.99", "4k", "zipf:0.99"},
		{"hotspot", "4k", "hotspot:90:10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := NewGenerator(GenConfig{Pattern: mustPattern(b, bc.bs, bc.dist, 50, Random), Len: 1 << 30, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sinkOp = g.Next()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// A split's weights are percentages: given for every size or none, summing
// to 100; anything else is refused rather than silently renormalised.
func TestParseBlockSizesPercent(t *testing.T) {
	for _, c := range []struct {
		in, err string
	}{
		{"4k:80,64k:20", ""},
		{"4k,64k", ""},
		{"4k:100", ""},
		{"4k:90,64k:20", "sum to 110%"},
		{"4k:3,64k:1", "sum to 4%"},
		{"4k:80,64k", "for every block size or for none"},
		{"4k:0,64k:100", "positive integer"},
	} {
		_, err := ParseBlockSizes(c.in)
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseBlockSizes(%q) = %v, want %q", c.in, err, c.err)
		}
	}
}
