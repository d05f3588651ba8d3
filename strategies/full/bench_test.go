package full_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// BenchmarkCloneCreation measures a full clone of a fully written volume as
// the volume grows: the cost is the copy, so time grows linearly with size.
func BenchmarkCloneCreation(b *testing.B) {
	for _, mib := range []int64{16, 64, 256} {
		b.Run(fmt.Sprintf("size=%dMiB", mib), func(b *testing.B) {
			size := mib << 20
			d, err := device.Open(filepath.Join(b.TempDir(), "dev"), device.Options{Size: 3*size + 64<<20})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			e, err := strategies.Format("full", d, strategies.Options{})
			if err != nil {
				b.Fatal(err)
			}
			id, err := e.Create("tmpl", size)
			if err != nil {
				b.Fatal(err)
			}
			v, _ := e.Open(id)
			buf := device.Alloc(1 << 20)
			for off := int64(0); off < size; off += 1 << 20 {
				if _, err := v.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
			v.Close()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := e.Clone(id, fmt.Sprintf("c%d", i))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := e.Delete(c); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/clone")
		})
	}
}
