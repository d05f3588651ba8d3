package linked_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// The benchmarks run on a sparse file in b.TempDir() opened with direct IO,
// so they measure the device, not the page cache.

const benchVol = 64 << 20 // volume size

func benchEngine(b *testing.B, devSize int64, opts strategies.Options) strategies.Engine {
	b.Helper()
	dev, err := device.Open(filepath.Join(b.TempDir(), "linked.img"), device.Options{Size: devSize})
	if err != nil {
		b.Skipf("direct-IO file device: %v", err)
	}
	eng, err := strategies.Format("linked", dev, opts)
	if err != nil {
		dev.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close(); dev.Close() })
	return eng
}

// fillVolume writes every byte of a volume in 1 MiB IOs and flushes.
func fillVolume(b *testing.B, eng strategies.Engine, id strategies.VolumeID, n int64) {
	b.Helper()
	v, err := eng.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	buf := device.Alloc(1 << 20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for off := int64(0); off < n; off += int64(len(buf)) {
		if _, err := v.WriteAt(buf[:min(int64(len(buf)), n-off)], off); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Flush(); err != nil {
		b.Fatal(err)
	}
}

func stat(eng strategies.Engine, name string) int64 { return eng.(strategies.Statser).Stats()[name] }

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCloneFirst: the first clone of a 64 MiB template, which makes
// its replica (a full copy) and then the clone.
func BenchmarkCloneFirst(b *testing.B) {
	eng := benchEngine(b, 512<<20, strategies.Options{})
	base, err := eng.Create("tmpl", benchVol)
	must(b, err)
	fillVolume(b, eng, base, benchVol)
	bv, err := eng.Open(base)
	must(b, err)
	defer bv.Close()
	sector := device.Alloc(4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_, err := bv.WriteAt(sector, 0) // the template changes: its replica is stale
		must(b, err)
		b.StartTimer()
		id, err := eng.Clone(base, fmt.Sprintf("c%d", i))
		must(b, err)
		b.StopTimer()
		must(b, eng.Delete(id)) // and the replica with it
		b.StartTimer()
	}
	b.ReportMetric(float64(stat(eng, "replica_bytes"))/float64(b.N), "replica-B/op")
}

// BenchmarkCloneLater: clones of a template whose replica exists: a new
// empty delta and a catalog commit each. Clones are deleted 256 at a time
// (untimed) so the catalog stays the same size.
func BenchmarkCloneLater(b *testing.B) {
	eng := benchEngine(b, 512<<20, strategies.Options{})
	base, err := eng.Create("tmpl", benchVol)
	must(b, err)
	fillVolume(b, eng, base, benchVol)
	_, err = eng.Clone(base, "first")
	must(b, err)
	var live []strategies.VolumeID
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := eng.Clone(base, fmt.Sprintf("c%d", i))
		must(b, err)
		live = append(live, id)
		if len(live) == 256 {
			b.StopTimer()
			for _, id := range live {
				must(b, eng.Delete(id))
			}
			live = live[:0]
			b.StartTimer()
		}
	}
	if n := stat(eng, "replicas_made"); n != 1 {
		b.Fatalf("%d replicas made, want 1", n)
	}
}

// BenchmarkCloneMany100: a burst of 100 clones committed once.
func BenchmarkCloneMany100(b *testing.B) {
	eng := benchEngine(b, 512<<20, strategies.Options{})
	base, err := eng.Create("tmpl", benchVol)
	must(b, err)
	fillVolume(b, eng, base, benchVol)
	_, err = eng.Clone(base, "first")
	must(b, err)
	names := make([]string, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range names {
			names[j] = fmt.Sprintf("c%d-%d", i, j)
		}
		ids, err := strategies.CloneMany(eng, base, names)
		must(b, err)
		b.StopTimer()
		for _, id := range ids {
			must(b, eng.Delete(id))
		}
		b.StartTimer()
	}
}

// BenchmarkReadDepth: 4 KiB random reads of a volume whose data sits at
// the bottom of a chain of depth deltas (each upper delta holds one grain,
// so its table page is present and must be consulted).
func BenchmarkReadDepth(b *testing.B) {
	for _, depth := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			eng := benchEngine(b, 256<<20, strategies.Options{})
			base, err := eng.Create("b", benchVol)
			must(b, err)
			fillVolume(b, eng, base, benchVol)
			v, err := eng.Open(base)
			must(b, err)
			defer v.Close()
			buf := device.Alloc(4096)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 1; i < depth; i++ {
				_, err := eng.Snapshot(base, fmt.Sprintf("s%d", i))
				must(b, err)
				_, err = v.WriteAt(buf, rng.Int64N(benchVol/4096)*4096)
				must(b, err)
			}
			if d := stat(eng, "chain_depth_max"); d != int64(depth) {
				b.Fatalf("chain depth %d, want %d", d, depth)
			}
			b.SetBytes(4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.ReadAt(buf, rng.Int64N(benchVol/4096)*4096); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeleteMiddleSnapshot: base <- s1 (1 MiB) <- s2 (delta of the
// given size) <- the base's top; deleting s2 merges its delta into the top.
func BenchmarkDeleteMiddleSnapshot(b *testing.B) {
	for _, mib := range []int64{1, 8, 32} {
		b.Run(fmt.Sprintf("delta=%dMiB", mib), func(b *testing.B) {
			eng := benchEngine(b, 256<<20, strategies.Options{})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				base, err := eng.Create(fmt.Sprintf("b%d", i), benchVol)
				must(b, err)
				fillVolume(b, eng, base, 1<<20)
				s1, err := eng.Snapshot(base, fmt.Sprintf("s1-%d", i))
				must(b, err)
				fillVolume(b, eng, base, mib<<20)
				s2, err := eng.Snapshot(base, fmt.Sprintf("s2-%d", i))
				must(b, err)
				b.StartTimer()
				must(b, eng.Delete(s2))
				b.StopTimer()
				must(b, eng.Delete(base))
				must(b, eng.Delete(s1))
				b.StartTimer()
			}
			b.ReportMetric(float64(stat(eng, "merge_bytes"))/float64(b.N), "merge-B/op")
		})
	}
}

// BenchmarkCloneReadReplicaDevice: 4 KiB random reads of a clone whose data
// is all in its template's replica, with the replica in the main pool
// (replica-device unset) and on a second device (a second direct-IO file:
// in this benchmark both files are on the same disk, so the two should be
// close; on real tiers the second is the faster device).
func BenchmarkCloneReadReplicaDevice(b *testing.B) {
	for _, where := range []string{"same-device", "second-device"} {
		b.Run(where, func(b *testing.B) { // no "=" in the name: it is in TempDir, and option values cannot hold one
			opts := strategies.Options{}
			if where == "second-device" {
				path := filepath.Join(b.TempDir(), "replica.img")
				f, err := device.Open(path, device.Options{Size: 128 << 20})
				if err != nil {
					b.Skipf("direct-IO file device: %v", err)
				}
				f.Close()
				opts.Params = map[string]string{"replica-device": path}
			}
			eng := benchEngine(b, 256<<20, opts)
			base, err := eng.Create("tmpl", benchVol)
			must(b, err)
			fillVolume(b, eng, base, benchVol)
			c, err := eng.Clone(base, "c")
			must(b, err)
			v, err := eng.Open(c)
			must(b, err)
			defer v.Close()
			buf := device.Alloc(4096)
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := v.ReadAt(buf, rng.Int64N(benchVol/4096)*4096); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
