package device

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// The benchmarks do 4 KiB random IO at queue depth 1 over 256 MiB and report
// ops/s besides ns/op. File* is direct IO on a sparse file in b.TempDir()
// (read benchmarks fill it first, as reads of holes never reach the disk);
// Mem* and Null* are the in-memory references.

const (
	benchSize  = 256 << 20
	benchBlock = 4096
)

func benchFile(b *testing.B, fill bool) Device {
	b.Helper()
	d, err := Open(filepath.Join(b.TempDir(), "bench.img"), Options{Size: benchSize})
	if errors.Is(err, ErrNoDirectIO) {
		b.Skipf("%v: set TMPDIR to a directory on a disk", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if !d.Info().DirectIO {
		b.Logf("%s: no direct IO, numbers are page-cache numbers", d.Info().Path)
	}
	if fill {
		benchFill(b, d)
	}
	return d
}

func benchMem(b *testing.B, fill bool) Device {
	b.Helper()
	m := MustMem(benchSize)
	if fill {
		benchFill(b, m)
	}
	return m
}

func benchNull(b *testing.B, _ bool) Device {
	b.Helper()
	n, err := NewNull(benchSize, 512)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// benchFill writes the whole device in 1 MiB IOs and flushes.
func benchFill(b *testing.B, d Device) {
	b.Helper()
	buf := stamp(1<<20, d.SectorSize(), 1)
	for off := int64(0); off < d.Size(); off += int64(len(buf)) {
		if _, err := d.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		b.Fatal(err)
	}
}

// benchRandIO runs b.N random 4 KiB reads or writes on d. Writes to a Mem are
// flushed every 1024 so its crash-model log stays bounded.
func benchRandIO(b *testing.B, d Device, write bool) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := stamp(benchBlock, d.SectorSize(), 2)
	blocks := d.Size() / benchBlock
	_, isMem := d.(*Mem)
	b.SetBytes(benchBlock)
	for i := 0; b.Loop(); i++ { // b.Loop: the setup above runs once
		off := rng.Int64N(blocks) * benchBlock
		var err error
		if write {
			_, err = d.WriteAt(buf, off)
			if isMem && i%1024 == 1023 {
				err = d.Flush()
			}
		} else {
			_, err = d.ReadAt(buf, off)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkFile4KRandRead(b *testing.B)  { benchRandIO(b, benchFile(b, true), false) }
func BenchmarkFile4KRandWrite(b *testing.B) { benchRandIO(b, benchFile(b, false), true) }
func BenchmarkMem4KRandRead(b *testing.B)   { benchRandIO(b, benchMem(b, true), false) }
func BenchmarkMem4KRandWrite(b *testing.B)  { benchRandIO(b, benchMem(b, false), true) }
func BenchmarkNull4KRandRead(b *testing.B)  { benchRandIO(b, benchNull(b, true), false) }
func BenchmarkNull4KRandWrite(b *testing.B) { benchRandIO(b, benchNull(b, false), true) }
