package row_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/raw"
)

// The benchmarks run on sparse files opened with direct IO in a temporary
// directory, 64 KiB chunks, default options. Typical runs (2 cores):
//
//	go test -run '^$' -bench 'Creation' -benchtime 100x -count 3 ./strategies/row/
//	go test -run '^$' -bench 'CloneBurst' -benchtime 1x ./strategies/row/
//	go test -run '^$' -bench 'RandomWrite4K' -benchtime 20000x -count 3 ./strategies/row/
//	go test -run '^$' -bench 'ReadDepth' -benchtime 20000x -count 2 ./strategies/row/
//
// BenchmarkCloneBurst/single/n=10000 makes 10,000 commits (two device
// flushes each, 8-15 s here); leave it out with -bench 'CloneBurst/many',
// or run it alone with -bench 'CloneBurst/single'.

const benchChunk = 64 << 10

// openFile opens a sparse file device of size bytes with direct IO, behind
// a counting device.
func openFile(b *testing.B, size int64) *device.Counting {
	b.Helper()
	f, err := device.Open(filepath.Join(b.TempDir(), "dev"), device.Options{Size: size})
	if err != nil {
		b.Skipf("no direct-IO file device here: %v", err)
	}
	b.Cleanup(func() { f.Close() })
	return device.NewCounting(f)
}

// formatRow formats row on d with default options and closes it at cleanup.
func formatRow(b *testing.B, d device.Device) strategies.Engine {
	b.Helper()
	e, err := strategies.Format("row", d, strategies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// pattern is a direct-IO buffer of n bytes filled from seed.
func pattern(seed byte, n int) []byte {
	p := device.Alloc(n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

// sparseBase creates a base of size bytes with one 4 KiB write in each of
// chunks chunks spread evenly over it, flushed.
func sparseBase(b *testing.B, e strategies.Engine, size int64, chunks int) strategies.VolumeID {
	b.Helper()
	id, err := e.Create("base", size)
	if err != nil {
		b.Fatal(err)
	}
	v, err := e.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	p := pattern(1, 4096)
	stride := size / benchChunk / int64(chunks) * benchChunk
	for i := range int64(chunks) {
		if _, err := v.WriteAt(p, i*stride); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Flush(); err != nil {
		b.Fatal(err)
	}
	return id
}

// fill writes the whole of v in 1 MiB writes and flushes.
func fill(b *testing.B, v device.Device, size int64) {
	b.Helper()
	p := pattern(3, 1<<20)
	for off := int64(0); off < size; off += int64(len(p)) {
		if _, err := v.WriteAt(p, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCreation measures Snapshot and Clone of a sparsely written base
// (256 chunks mapped) of 1 GiB and of 64 GiB: creation shares the root, so
// the two sizes should be within 2x. Each new volume is deleted, untimed,
// before the next. meta_bytes/op is what the creation wrote to the device.
func BenchmarkCreation(b *testing.B) {
	for _, gib := range []int64{1, 64} {
		for _, kind := range []string{"snapshot", "clone"} {
			b.Run(fmt.Sprintf("size=%dGiB/%s", gib, kind), func(b *testing.B) {
				size := gib << 30
				d := openFile(b, size+size/16+64<<20)
				e := formatRow(b, d)
				base := sparseBase(b, e, size, 256)
				create := e.Snapshot
				if kind == "clone" {
					create = e.Clone
				}
				var written, flushes int64
				i := 0
				for b.Loop() {
					before := d.Counters()
					id, err := create(base, fmt.Sprintf("s%d", i))
					if err != nil {
						b.Fatal(err)
					}
					c := d.Counters().Sub(before)
					written += c.WriteBytes
					flushes += c.Flushes
					b.StopTimer()
					if err := e.Delete(id); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					i++
				}
				b.ReportMetric(float64(written)/float64(i), "meta_bytes/op")
				b.ReportMetric(float64(flushes)/float64(i), "flushes/op")
			})
		}
	}
}

// BenchmarkCloneBurst makes n clones of one base (sparse, 64 chunks mapped)
// with one CloneMany ("many") or n Clone calls ("single"), on a freshly
// formatted device each iteration. It reports per clone: time, bytes
// written to the device (all metadata: no data moves), device flushes,
// engine memory (MemoryBytes) and Go heap growth.
func BenchmarkCloneBurst(b *testing.B) {
	const n = 10000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("clone-%05d", i)
	}
	for _, mode := range []string{"many", "single"} {
		b.Run(fmt.Sprintf("%s/n=%d", mode, n), func(b *testing.B) {
			var elapsed time.Duration
			var written, flushes, mem, heap int64
			iters := 0
			for b.Loop() {
				b.StopTimer()
				d := openFile(b, 512<<20)
				e := formatRow(b, d)
				base := sparseBase(b, e, 256<<20, 64)
				mr := e.(strategies.MemoryReporter)
				mem0, heap0 := mr.MemoryBytes(), heapBytes()
				before := d.Counters()
				b.StartTimer()
				t0 := time.Now()
				if mode == "many" {
					if _, err := strategies.CloneMany(e, base, names); err != nil {
						b.Fatal(err)
					}
				} else {
					for _, name := range names {
						if _, err := e.Clone(base, name); err != nil {
							b.Fatal(err)
						}
					}
				}
				elapsed += time.Since(t0)
				b.StopTimer()
				c := d.Counters().Sub(before)
				written += c.WriteBytes
				flushes += c.Flushes
				mem += mr.MemoryBytes() - mem0
				heap += heapBytes() - heap0
				if err := e.Check(); err != nil {
					b.Fatal(err)
				}
				if got := len(e.Volumes()); got != n+1 {
					b.Fatalf("%d volumes, want %d", got, n+1)
				}
				e.Close()
				iters++
				b.StartTimer()
			}
			clones := float64(iters * n)
			b.ReportMetric(float64(elapsed.Nanoseconds())/clones, "ns/clone")
			b.ReportMetric(float64(written)/clones, "meta_bytes/clone")
			b.ReportMetric(float64(flushes)/clones, "flushes/clone")
			b.ReportMetric(float64(mem)/clones, "mem_bytes/clone")
			b.ReportMetric(float64(heap)/clones, "heap_bytes/clone")
		})
	}
}

// heapBytes is the live Go heap after a collection.
func heapBytes() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// BenchmarkRandomWrite4K compares 4 KiB random writes to unshared data
// (a fully written base with no snapshot: every write goes in place) on row
// and on raw, each on its own direct-IO file, queue depth 1. The two
// alternate op by op so that both see the same machine; it reports each
// one's ops/s and row/raw (target ≥ 0.8).
func BenchmarkRandomWrite4K(b *testing.B) {
	const size = 256 << 20
	vols := make([]strategies.Volume, 2)
	var rowStats strategies.Statser
	for i, name := range []string{"raw", "row"} {
		d := openFile(b, size+size/16+64<<20)
		e, err := strategies.Format(name, d, strategies.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		if name == "row" {
			rowStats = e.(strategies.Statser)
		}
		id, err := e.Create("bench", size)
		if err != nil {
			b.Fatal(err)
		}
		if vols[i], err = e.Open(id); err != nil {
			b.Fatal(err)
		}
		fill(b, vols[i], size)
	}
	buf := pattern(5, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	var dur [2]time.Duration
	inPlace0 := rowStats.Stats()["in_place_writes"]
	ops := 0
	for b.Loop() {
		off := rng.Int64N(size/4096) * 4096
		for k := range 2 {
			i := (ops + k) % 2 // alternate which engine goes first
			t0 := time.Now()
			if _, err := vols[i].WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
			dur[i] += time.Since(t0)
		}
		ops++
	}
	if got := rowStats.Stats()["in_place_writes"] - inPlace0; got != int64(ops) {
		b.Fatalf("row: %d of %d writes went in place", got, ops)
	}
	raw, row := float64(ops)/dur[0].Seconds(), float64(ops)/dur[1].Seconds()
	b.ReportMetric(raw, "raw_ops/s")
	b.ReportMetric(row, "row_ops/s")
	b.ReportMetric(row/raw, "row/raw")
}

// BenchmarkReadDepth measures 4 KiB random reads at queue depth 1 on a
// 64 MiB volume, fully written, after a chain of depth snapshots (snapshot,
// then 4 KiB writes to 4 random chunks, then the next snapshot...): "head"
// reads the writable base, "oldest" the first snapshot. Every volume has
// its own tree, so latency should not grow with depth.
func BenchmarkReadDepth(b *testing.B) {
	const size = 64 << 20
	for _, depth := range []int{1, 1000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			// 4 chunks and up to 5 nodes per snapshot: 1 GiB holds
			// 1000 of them in data and in the 2% node area.
			d := openFile(b, 1<<30)
			e := formatRow(b, d)
			id, err := e.Create("base", size)
			if err != nil {
				b.Fatal(err)
			}
			head, err := e.Open(id)
			if err != nil {
				b.Fatal(err)
			}
			fill(b, head, size)
			rng := rand.New(rand.NewPCG(3, 4))
			p := pattern(9, 4096)
			var first strategies.VolumeID
			for i := range depth {
				s, err := e.Snapshot(id, fmt.Sprintf("s%d", i))
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					first = s
				}
				for range 4 {
					if _, err := head.WriteAt(p, rng.Int64N(size/4096)*4096); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := e.Flush(); err != nil {
				b.Fatal(err)
			}
			oldest, err := e.Open(first)
			if err != nil {
				b.Fatal(err)
			}
			for _, target := range []struct {
				name string
				v    strategies.Volume
			}{{"head", head}, {"oldest", oldest}} {
				b.Run(target.name, func(b *testing.B) {
					buf := device.Alloc(4096)
					rng := rand.New(rand.NewPCG(5, 6))
					for b.Loop() {
						if _, err := target.v.ReadAt(buf, rng.Int64N(size/4096)*4096); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
