package row_test

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

// TestScale measures how the metadata costs grow with the number of
// volumes (issue #22): per-clone time and device bytes of the first and the
// last 1,000 of N clones made one Clone at a time and in CloneMany bursts
// of 1,000, refreshing 1,000 clones (DeleteMany + CloneMany) against the
// burst that made them, and reopen + list. It only reports (t.Log), it
// asserts nothing about time. It runs only with SNAPBENCH_SCALE=1, on a
// sparse direct-IO file in /var/tmp (SNAPBENCH_SCALE_DIR), with
// N = SNAPBENCH_SCALE_N (default 100000):
//
//	SNAPBENCH_SCALE=1 go test -run TestScale -v -timeout 2h ./strategies/row/
func TestScale(t *testing.T) {
	if os.Getenv("SNAPBENCH_SCALE") != "1" {
		t.Skip("set SNAPBENCH_SCALE=1 to run the scale measurement")
	}
	n := scaleEnvInt(t, "SNAPBENCH_SCALE_N", 100000)
	for _, mode := range []string{"single", "many"} {
		t.Run(mode, func(t *testing.T) {
			dev, reopen := scaleDevice(t, 64<<30)
			eng, err := strategies.Format("row", dev, strategies.Options{})
			if err != nil {
				t.Fatal(err)
			}
			base, err := eng.Create("base", 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			scaleClones(t, "row", eng, dev, base, n, mode == "many")
			if mode == "many" {
				scaleRefresh(t, eng, dev, base)
			}
			if err := eng.(interface{ Check() error }).Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			eng.Close()
			dev.Close()
			f := reopen()
			defer f.Close()
			start := time.Now()
			e2, err := strategies.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			vs := e2.Volumes()
			t.Logf("reopen + list of %d volumes: %v, engine memory %.1f MiB", len(vs), time.Since(start),
				float64(e2.(strategies.MemoryReporter).MemoryBytes())/(1<<20))
			e2.Close()
		})
	}
}

func scaleEnvInt(t *testing.T, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			t.Fatalf("%s=%q: want an integer >= 1000", name, s)
		}
		return n / 1000 * 1000
	}
	return def
}

// scaleDevice is a sparse direct-IO file of size bytes in
// SNAPBENCH_SCALE_DIR (default /var/tmp), or with SNAPBENCH_SCALE_DEV=mem a
// device.Mem (no device latency: the metadata CPU cost alone), behind a
// counter; reopen opens the same content again after a Close.
func scaleDevice(t *testing.T, size int64) (dev *device.Counting, reopen func() device.Device) {
	if os.Getenv("SNAPBENCH_SCALE_DEV") == "mem" {
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

// scaleClones makes n clones of base, one at a time or in bursts of 1,000,
// and logs the time and device bytes written per clone of each 1,000
// (first, last, and every tenth of the way), and the engine memory.
func scaleClones(t *testing.T, prefix string, eng strategies.Engine, dev *device.Counting, base strategies.VolumeID, n int, many bool) {
	var first, last time.Duration
	var firstB, lastB int64
	for k := 0; k < n/1000; k++ {
		names := make([]string, 1000)
		for i := range names {
			names[i] = fmt.Sprintf("%s-%d", prefix, k*1000+i)
		}
		b0 := dev.Counters().WriteBytes
		start := time.Now()
		if many {
			if _, err := strategies.CloneMany(eng, base, names); err != nil {
				t.Logf("CloneMany of clones %d-%d: %v", k*1000, k*1000+999, err)
				return
			}
		} else {
			for i, name := range names {
				if _, err := eng.Clone(base, name); err != nil {
					t.Logf("Clone %d: %v", k*1000+i, err)
					return
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
}

// scaleRefresh deletes the last 1,000 clones made (DeleteMany) and makes
// them again (CloneMany), and compares with the burst time.
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
