package cow

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// fanoutBench is a base of benchChunks chunks with n snapshots on a direct-IO
// file, behind a counting device.
type fanoutBench struct {
	b     *testing.B
	cnt   *device.Counting
	e     *Engine
	base  strategies.VolumeID
	vol   strategies.Volume
	n     int
	round int
	deps  []strategies.VolumeID
}

const benchChunks = 64

func newFanoutBench(b *testing.B, n int) *fanoutBench {
	opts := strategies.Options{ChunkSize: testChunk, Params: map[string]string{
		"delta-percent": "100", "delta-min": "0", "max-volumes": "1100"}}
	g, err := newGeometry(1<<40, strategies.Options{ChunkSize: testChunk, Params: map[string]string{
		"delta-percent": "100", "delta-min": "0", "max-volumes": "1100"}})
	if err != nil {
		b.Fatal(err)
	}
	size := strategies.ReservedBytes + g.dataStart + benchChunks*testChunk +
		int64(n)*roundUp(g.deltaLength(benchChunks), testChunk) + 1<<20
	f, err := device.Open(filepath.Join(b.TempDir(), "dev"), device.Options{Size: size})
	if err != nil {
		b.Skipf("no direct-IO file device here: %v", err)
	}
	fb := &fanoutBench{b: b, cnt: device.NewCounting(f), n: n}
	b.Cleanup(func() { f.Close() })
	eng, err := strategies.Format("cow", fb.cnt, opts)
	if err != nil {
		b.Fatal(err)
	}
	fb.e = eng.(*Engine)
	b.Cleanup(func() { fb.e.Close() })
	if fb.base, err = fb.e.Create("base", benchChunks*testChunk); err != nil {
		b.Fatal(err)
	}
	if fb.vol, err = fb.e.Open(fb.base); err != nil {
		b.Fatal(err)
	}
	if _, err := fb.vol.WriteAt(fill(1, benchChunks*testChunk), 0); err != nil {
		b.Fatal(err)
	}
	fb.snapshots()
	return fb
}

// snapshots replaces the dependents with n fresh snapshots (one volume-table
// commit per 100).
func (fb *fanoutBench) snapshots() {
	for _, id := range fb.deps {
		if err := fb.e.Delete(id); err != nil {
			fb.b.Fatal(err)
		}
	}
	fb.deps = fb.deps[:0]
	fb.round++
	for i := 0; i < fb.n; i += 100 {
		var names []string
		for j := i; j < min(i+100, fb.n); j++ {
			names = append(names, fmt.Sprintf("r%d-s%d", fb.round, j))
		}
		ids, err := fb.e.copies(fb.base, names, kindSnapshot)
		if err != nil {
			fb.b.Fatal(err)
		}
		fb.deps = append(fb.deps, ids...)
	}
}

// BenchmarkBaseWriteFanout measures what one 4 KiB base write costs on the
// device with N snapshots of the base (64 KiB chunks, file device, direct
// IO): "first" writes a chunk no snapshot has copied yet (N copies and N
// exception commits), "rewrite" a chunk every snapshot already holds.
func BenchmarkBaseWriteFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			fb := newFanoutBench(b, n)
			p := fill(2, 4096)
			b.Run("first", func(b *testing.B) {
				var sum device.Counters
				ops, c := 0, 0
				for b.Loop() {
					if c == benchChunks {
						b.StopTimer()
						fb.snapshots()
						c = 0
						b.StartTimer()
					}
					before := fb.cnt.Counters()
					if _, err := fb.vol.WriteAt(p, int64(c)*testChunk+int64(c%16)*4096); err != nil {
						b.Fatal(err)
					}
					sum = sum.Add(fb.cnt.Counters().Sub(before))
					ops++
					c++
				}
				report(b, sum, ops)
			})
			b.Run("rewrite", func(b *testing.B) {
				b.StopTimer()
				fb.snapshots()
				for c := 0; c < benchChunks; c++ { // every snapshot copies every chunk
					if _, err := fb.vol.WriteAt(p, int64(c)*testChunk); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				var sum device.Counters
				ops := 0
				for b.Loop() {
					before := fb.cnt.Counters()
					if _, err := fb.vol.WriteAt(p, int64(ops%benchChunks)*testChunk+int64(ops%16)*4096); err != nil {
						b.Fatal(err)
					}
					sum = sum.Add(fb.cnt.Counters().Sub(before))
					ops++
				}
				report(b, sum, ops)
			})
		})
	}
}

func report(b *testing.B, c device.Counters, ops int) {
	if ops == 0 {
		return
	}
	n := float64(ops)
	b.ReportMetric(float64(c.WriteBytes)/n, "dev_bytes_per_write")
	b.ReportMetric(float64(c.Writes)/n, "dev_writes_per_write")
	b.ReportMetric(float64(c.Flushes)/n, "dev_flushes_per_write")
	b.ReportMetric(float64(c.ReadBytes)/n, "dev_read_bytes_per_write")
	b.ReportMetric(float64(c.WriteBytes)/n/4096, "write_amp")
}
