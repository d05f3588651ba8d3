package raw_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

const benchSize = 256 << 20

// openFile opens a prefilled sparse file device with direct IO.
func openFile(b *testing.B) *device.File {
	b.Helper()
	d, err := device.Open(filepath.Join(b.TempDir(), "dev"), device.Options{Size: benchSize + 2*strategies.ReservedBytes})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// rawVolume formats raw on a file device and prefills its volume.
func rawVolume(b *testing.B, d device.Device) strategies.Volume {
	e, err := strategies.Format("raw", d, strategies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	id, err := e.Create("bench", benchSize)
	if err != nil {
		b.Fatal(err)
	}
	v, err := e.Open(id)
	if err != nil {
		b.Fatal(err)
	}
	prefill(b, v, benchSize)
	return v
}

func prefill(b *testing.B, d device.Device, size int64) {
	buf := device.Alloc(1 << 20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := d.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		b.Fatal(err)
	}
}

// run4K does 4 KiB random IO over size bytes of d at queue depth 1.
func run4K(b *testing.B, d device.Device, base, size int64, write bool) {
	buf := device.Alloc(4096)
	rng := rand.New(rand.NewPCG(1, 2))
	blocks := size / 4096
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := base + rng.Int64N(blocks)*4096
		var err error
		if write {
			_, err = d.WriteAt(buf, off)
		} else {
			_, err = d.ReadAt(buf, off)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkRandom4K compares 4 KiB random IO through the raw engine with the
// same IO on the bare file device: the engine's overhead (target ratio ≥ 0.95).
func BenchmarkRandom4K(b *testing.B) {
	for _, write := range []bool{false, true} {
		kind := map[bool]string{false: "read", true: "write"}[write]
		b.Run(fmt.Sprintf("%s/device", kind), func(b *testing.B) {
			d := openFile(b)
			prefill(b, d, benchSize)
			run4K(b, d, 0, benchSize, write)
		})
		b.Run(fmt.Sprintf("%s/raw", kind), func(b *testing.B) {
			v := rawVolume(b, openFile(b))
			run4K(b, v, 0, benchSize, write)
		})
	}
}
