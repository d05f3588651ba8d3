package mirror_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/strategies/mirror"
)

// The mechanism's costs on a direct-IO file device (64 KiB chunks, queue
// depth 1): what attached mirrors cost every base write, that a split of a
// synchronised mirror is independent of the volume size, and that
// re-establishing copies only the chunks changed since the split.

const benchChunk = strategies.DefaultChunkSize

// benchEngine formats the mirror engine with params on a sparse direct-IO
// file of size bytes in a temp dir, behind a counting device.
func benchEngine(b *testing.B, size int64, params map[string]string) (*mirror.Engine, *device.Counting) {
	b.Helper()
	f, err := device.Open(filepath.Join(b.TempDir(), "dev"), device.Options{Size: size + 2*strategies.ReservedBytes})
	if err != nil {
		b.Skipf("no file device here: %v", err)
	}
	b.Cleanup(func() { f.Close() })
	cnt := device.NewCounting(f)
	e, err := strategies.Format("mirror", cnt, strategies.Options{ChunkSize: benchChunk, Params: params})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e.(*mirror.Engine), cnt
}

// extentRoom is the device space a base of size bytes and n mirrors (or
// splits) need, with slack for the metadata area and the bitmaps.
func extentRoom(size int64, n int) int64 { return int64(n+1)*(size+benchChunk) + 32<<20 }

func fill(seed byte, n int) []byte {
	p := device.Alloc(n)
	for i := range p {
		p[i] = seed + byte(i*31)
	}
	return p
}

func openVol(b *testing.B, e *mirror.Engine, id strategies.VolumeID) strategies.Volume {
	b.Helper()
	v, err := e.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkBaseWrite4K measures 4 KiB random writes to a 16 MiB base with
// M attached, synchronised mirrors (auto-mirrors=M, so they are zeroed with
// the base and in sync at once): each write costs 1+M device writes. Every
// chunk of the base is written once first, so every write-intent bit is set
// and the loop sees the steady state between flushes (no intent writes); the
// loop does not flush. Metrics: ops/s, and device writes, bytes and flushes
// per write.
func BenchmarkBaseWrite4K(b *testing.B) {
	const size = 16 << 20
	for _, m := range []int{0, 1, 4, 16} {
		b.Run(fmt.Sprintf("mirrors=%d", m), func(b *testing.B) {
			e, cnt := benchEngine(b, extentRoom(size, m), map[string]string{"auto-mirrors": fmt.Sprint(m)})
			id, err := e.Create("base", size)
			if err != nil {
				b.Fatal(err)
			}
			if got := len(e.Mirrors(id)); got != m {
				b.Fatalf("%d mirrors attached, want %d", got, m)
			}
			v := openVol(b, e, id)
			defer v.Close()
			p := fill(2, 4096)
			for off := int64(0); off < size; off += benchChunk { // set every intent bit
				if _, err := v.WriteAt(p, off); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			before := cnt.Counters()
			b.SetBytes(4096)
			ops := 0
			for b.Loop() {
				if _, err := v.WriteAt(p, rng.Int64N(size/4096)*4096); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			c := cnt.Counters().Sub(before)
			b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
			b.ReportMetric(float64(c.Writes)/float64(ops), "dev_writes/op")
			b.ReportMetric(float64(c.WriteBytes)/float64(ops), "dev_write_bytes/op")
			b.ReportMetric(float64(c.Flushes)/float64(ops), "dev_flushes/op")
		})
	}
}

// BenchmarkSplit measures Clone of a base with one synchronised mirror
// attached, for a 1 MiB and a 256 MiB base: a flush and a table commit (the
// mirror's bitmap blocks, all zeros since its sync was checkpointed, become
// the clone's change bitmap without a write), so the time should not depend
// on the size. Between
// iterations (untimed) the clone is re-established, which copies nothing
// (neither side was written), so every split finds a synchronised mirror.
func BenchmarkSplit(b *testing.B) {
	for _, size := range []int64{1 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			e, cnt := benchEngine(b, extentRoom(size, 1), nil)
			id, err := e.Create("base", size)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Establish(id); err != nil {
				b.Fatal(err)
			}
			if _, err := e.Sync(id, 0); err != nil {
				b.Fatal(err)
			}
			var sum device.Counters
			var copied int64
			ops := 0
			for b.Loop() {
				before := cnt.Counters()
				c, err := e.Clone(id, "clone")
				if err != nil {
					b.Fatal(err)
				}
				sum = sum.Add(cnt.Counters().Sub(before))
				ops++
				b.StopTimer()
				n, err := e.Reestablish(c)
				if err != nil {
					b.Fatal(err)
				}
				copied += n
				b.StartTimer()
			}
			if copied != 0 {
				b.Fatalf("re-establishing unchanged clones copied %d bytes", copied)
			}
			b.ReportMetric(float64(sum.Writes)/float64(ops), "dev_writes/op")
			b.ReportMetric(float64(sum.WriteBytes)/float64(ops), "dev_write_bytes/op")
			b.ReportMetric(float64(sum.Flushes)/float64(ops), "dev_flushes/op")
		})
	}
}

// BenchmarkResync measures Reestablish of a clone of a 64 MiB base (1024
// chunks) after 4 KiB writes to 1% of its chunks (10 distinct chunks, at
// random), on the base's side, the clone's side, or both (1% on each side,
// 20 distinct chunks in all). Each iteration splits the
// synchronised mirror off again (untimed) and writes the chunks; the timed
// part is Reestablish. Metrics: resync bytes copied per Reestablish and as a
// fraction of the volume, chunks changed.
func BenchmarkResync(b *testing.B) {
	const size = 64 << 20
	const chunks = size / benchChunk
	const changed = chunks / 100
	for _, side := range []string{"base", "clone", "both"} {
		b.Run("side="+side, func(b *testing.B) {
			e, _ := benchEngine(b, extentRoom(size, 1), nil)
			id, err := e.Create("base", size)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Establish(id); err != nil {
				b.Fatal(err)
			}
			if _, err := e.Sync(id, 0); err != nil {
				b.Fatal(err)
			}
			base := openVol(b, e, id)
			defer base.Close()
			p := fill(3, 4096)
			rng := rand.New(rand.NewPCG(3, 4))
			var copied, dirty int64
			ops := 0
			for b.Loop() {
				b.StopTimer()
				c, err := e.Clone(id, "clone")
				if err != nil {
					b.Fatal(err)
				}
				clone := openVol(b, e, c)
				picked := rng.Perm(chunks)
				write := func(v strategies.Volume, cs []int) {
					for _, ch := range cs {
						if _, err := v.WriteAt(p, int64(ch)*benchChunk+rng.Int64N(benchChunk/4096)*4096); err != nil {
							b.Fatal(err)
						}
					}
				}
				switch side {
				case "base":
					write(base, picked[:changed])
				case "clone":
					write(clone, picked[:changed])
				case "both":
					write(base, picked[:changed])
					write(clone, picked[changed:2*changed])
				}
				if err := clone.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n, err := e.Reestablish(c)
				if err != nil {
					b.Fatal(err)
				}
				copied += n
				dirty += int64(changed)
				if side == "both" {
					dirty += int64(changed)
				}
				ops++
			}
			b.ReportMetric(float64(copied)/float64(ops), "resync_bytes/op")
			b.ReportMetric(float64(copied)/float64(ops)/size, "resync_fraction")
			b.ReportMetric(float64(dirty)/float64(ops), "changed_chunks/op")
		})
	}
}
