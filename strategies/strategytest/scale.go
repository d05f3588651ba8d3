package strategytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// ScaleConfig describes an engine to ScaleCloneBush.
type ScaleConfig struct {
	Engine  string
	Options strategies.Options
	// BaseSize is the size of the volume cloned (default: one chunk, so
	// that an engine that copies whole volumes measures its metadata, not
	// its copies).
	BaseSize int64
	// DeviceSize is the size of the (sparse) device for n clones (default:
	// 192 KiB per clone plus 256 MiB).
	DeviceSize func(n int) int64
}

// ScaleCloneBush measures how an engine's metadata costs grow with the
// number of volumes (issue #22): it makes SNAPBENCH_SCALE clones of one
// base (a multiple of 1,000), one Clone call at a time and in CloneMany
// bursts of 1,000, and logs the time and device bytes written per clone of
// the first and the last 1,000 (and every tenth of the way) with the
// engine's memory; after the bursts it refreshes 1,000 clones (DeleteMany,
// then CloneMany) and compares with the burst; then Check, and reopen +
// list. The device is a sparse device.Mem (default: no device latency, the
// engine's own work alone) or, with SNAPBENCH_SCALE_DEV=file, a sparse
// direct-IO file in SNAPBENCH_SCALE_DIR (default /var/tmp).
//
// It is a measurement, not a test: it fails only when an operation fails,
// asserts nothing about time, and skips without SNAPBENCH_SCALE:
//
//	SNAPBENCH_SCALE=100000 go test -run TestScale -v -timeout 0 ./strategies/row/
func ScaleCloneBush(t *testing.T, cfg ScaleConfig) {
	s := os.Getenv("SNAPBENCH_SCALE")
	if s == "" {
		t.Skip("set SNAPBENCH_SCALE=<clones> to run the scale measurement")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		t.Fatalf("SNAPBENCH_SCALE=%q: want a number of clones >= 1000", s)
	}
	n = n / 1000 * 1000
	chunk := int64(cfg.Options.ChunkSize)
	if chunk == 0 {
		chunk = strategies.DefaultChunkSize
	}
	if cfg.BaseSize == 0 {
		cfg.BaseSize = chunk
	}
	if cfg.DeviceSize == nil {
		cfg.DeviceSize = func(n int) int64 { return int64(192<<10)*int64(n+16) + 256<<20 }
	}
	for _, mode := range []string{"single", "many"} {
		t.Run(mode, func(t *testing.T) {
			dev, reopen := ScaleDevice(t, cfg.DeviceSize(n))
			eng, err := strategies.Format(cfg.Engine, dev, cfg.Options)
			if err != nil {
				t.Fatal(err)
			}
			base, err := eng.Create("base", cfg.BaseSize)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d clones %s, base %d bytes, device %d bytes (%s)", cfg.Engine, n, mode,
				cfg.BaseSize, dev.Size(), device.Describe(dev).Kind)
			if !scaleClones(t, eng, dev, base, n, mode == "many") {
				eng.Close()
				return
			}
			if mode == "many" {
				scaleRefresh(t, eng, dev, base)
			}
			start := time.Now()
			if err := eng.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			t.Logf("check of %d volumes: %v", n+1, time.Since(start))
			eng.Close()
			dev.Close()
			f := reopen()
			defer f.Close()
			start = time.Now()
			e2, err := strategies.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			vs := e2.Volumes()
			mem := int64(0)
			if m, ok := e2.(strategies.MemoryReporter); ok {
				mem = m.MemoryBytes()
			}
			t.Logf("reopen + list of %d volumes: %v, engine memory %.1f MiB", len(vs), time.Since(start), float64(mem)/(1<<20))
			e2.Close()
		})
	}
}

// ScaleDevice is a sparse device.Mem, or with SNAPBENCH_SCALE_DEV=file a
// sparse direct-IO file, of size bytes behind a counter; reopen opens the
// same content again after a Close.
func ScaleDevice(t *testing.T, size int64) (dev *device.Counting, reopen func() device.Device) {
	if os.Getenv("SNAPBENCH_SCALE_DEV") != "file" {
		m, err := device.NewMem(size, device.MemOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return device.NewCounting(m), func() device.Device { return m.Reopen() }
	}
	dir := os.Getenv("SNAPBENCH_SCALE_DIR")
	if dir == "" {
		dir = "/var/tmp"
	}
	d, err := os.MkdirTemp(dir, "snapbench-scale-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	path := filepath.Join(d, "dev")
	f, err := device.Open(path, device.Options{Size: size})
	if err != nil {
		t.Skipf("no direct-IO file in %s: %v", dir, err)
	}
	return device.NewCounting(f), func() device.Device {
		f, err := device.Open(path, device.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
}

// scaleClones makes n clones of base in blocks of 1,000 (one Clone at a
// time, or one CloneMany per block) and logs per-clone time and bytes; it
// reports false when the engine refused a clone (out of space: logged, not
// a failure).
func scaleClones(t *testing.T, eng strategies.Engine, dev *device.Counting, base strategies.VolumeID, n int, many bool) bool {
	var first, last time.Duration
	var firstB, lastB int64
	names := make([]string, 1000)
	for k := 0; k < n/1000; k++ {
		for i := range names {
			names[i] = fmt.Sprintf("c%d", k*1000+i)
		}
		b0 := dev.Counters().WriteBytes
		start := time.Now()
		if many {
			if _, err := strategies.CloneMany(eng, base, names); err != nil {
				t.Logf("CloneMany of clones %d-%d: %v", k*1000, k*1000+999, err)
				return false
			}
		} else {
			for i, name := range names {
				if _, err := eng.Clone(base, name); err != nil {
					t.Logf("Clone %d: %v", k*1000+i, err)
					return false
				}
			}
		}
		el := time.Since(start)
		wb := dev.Counters().WriteBytes - b0
		if k == 0 {
			first, firstB = el, wb
		}
		last, lastB = el, wb
		if k == 0 || (k+1)%max(1, n/10000) == 0 || k == n/1000-1 {
			mem := int64(0)
			if m, ok := eng.(strategies.MemoryReporter); ok {
				mem = m.MemoryBytes()
			}
			t.Logf("clones %6d-%6d: %8.1f µs/clone, %8d B written/clone, engine memory %.1f MiB",
				k*1000, k*1000+999, float64(el.Microseconds())/1000, wb/1000, float64(mem)/(1<<20))
		}
	}
	t.Logf("first 1000: %.1f µs/clone %d B/clone; last 1000: %.1f µs/clone %d B/clone; last/first %.2f",
		float64(first.Microseconds())/1000, firstB/1000, float64(last.Microseconds())/1000, lastB/1000,
		float64(last)/float64(first))
	return true
}

// scaleRefresh deletes the last 1,000 clones made (DeleteMany) and makes
// them again (CloneMany), and compares the two.
func scaleRefresh(t *testing.T, eng strategies.Engine, dev *device.Counting, base strategies.VolumeID) {
	vs := eng.Volumes()
	var ids []strategies.VolumeID
	var names []string
	for i := len(vs) - 1; i >= 0 && len(ids) < 1000; i-- {
		if vs[i].ID != base && vs[i].Kind == strategies.KindClone {
			ids = append(ids, vs[i].ID)
			names = append(names, vs[i].Name)
		}
	}
	b0 := dev.Counters().WriteBytes
	start := time.Now()
	if err := strategies.DeleteMany(eng, ids); err != nil {
		t.Fatalf("DeleteMany: %v", err)
	}
	del := time.Since(start)
	b1 := dev.Counters().WriteBytes
	start = time.Now()
	if _, err := strategies.CloneMany(eng, base, names); err != nil {
		t.Fatalf("CloneMany: %v", err)
	}
	cl := time.Since(start)
	t.Logf("refresh of %d clones: DeleteMany %v (%d B written), CloneMany %v (%d B written), delete/burst %.1f",
		len(ids), del, b1-b0, cl, dev.Counters().WriteBytes-b1, float64(del)/float64(cl))
}
