package full_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/full"
)

// TestScaleCloneBush measures the metadata cost of a clone bush of
// SNAPBENCH_SCALE clones of one small base (one chunk, so that the data
// part of a clone is constant and tiny): the mean time per clone and the
// device bytes written per clone for the first and the last 1,000 clones,
// one Clone call at a time (SNAPBENCH_SCALE_BURST unset or 1) or in CloneMany
// bursts of SNAPBENCH_SCALE_BURST. The device is a sparse device.Mem
// (SNAPBENCH_SCALE_DEV=mem, default: flushes cost nothing, so only the
// engine's own work shows) or a sparse direct-IO file in TMPDIR
// (SNAPBENCH_SCALE_DEV=file). It is a measurement, not a test: it
// only fails when an operation fails, and skips without SNAPBENCH_SCALE.
//
//	SNAPBENCH_SCALE=100000 SNAPBENCH_SCALE_BURST=1000 go test -run TestScaleCloneBush -v -timeout 0 ./strategies/full
func TestScaleCloneBush(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SNAPBENCH_SCALE"))
	if n <= 0 {
		t.Skip("set SNAPBENCH_SCALE=<clones> to run")
	}
	burst, _ := strconv.Atoi(os.Getenv("SNAPBENCH_SCALE_BURST"))
	burst = max(burst, 1)
	const chunk = 64 << 10
	size := int64(192<<10)*int64(n+16) + 256<<20
	var dev device.Device
	if os.Getenv("SNAPBENCH_SCALE_DEV") == "file" {
		f, err := device.Open(filepath.Join(t.TempDir(), "scale.img"), device.Options{Size: size})
		if err != nil {
			t.Skipf("no direct-IO file here: %v", err)
		}
		defer f.Close()
		dev = f
	} else {
		dev = device.MustMem(size)
	}
	cnt := device.NewCounting(dev)
	opts := strategies.Options{ChunkSize: chunk}
	e, err := strategies.Format("full", cnt, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	base, err := e.Create("base", chunk)
	if err != nil {
		t.Fatal(err)
	}
	bc, isBatch := e.(strategies.BatchCloner)
	if burst > 1 && !isBatch {
		t.Skipf("%s has no CloneMany", e.Name())
	}
	const window = 1000
	type span struct {
		d     time.Duration
		bytes int64
		n     int
	}
	var first, last span
	names := make([]string, 0, burst)
	t.Logf("%s: %d clones, burst %d, device %d bytes (%s)", e.Name(), n, burst, size, device.Describe(dev).Kind)
	for done := 0; done < n; {
		k := min(burst, n-done)
		names = names[:0]
		for i := 0; i < k; i++ {
			names = append(names, "c"+strconv.Itoa(done+i))
		}
		before := cnt.Counters()
		start := time.Now()
		if k == 1 {
			_, err = e.Clone(base, names[0])
		} else {
			_, err = bc.CloneMany(base, names)
		}
		el := time.Since(start)
		if err != nil {
			t.Fatalf("clone %d: %v", done, err)
		}
		wb := cnt.Counters().Sub(before).WriteBytes
		if done < window {
			first.d += el
			first.bytes += wb
			first.n += k
		}
		if done+k > n-window {
			last.d += el
			last.bytes += wb
			last.n += k
		}
		done += k
		if done%10000 == 0 {
			t.Logf("%d clones: %v per clone in the last op", done, el/time.Duration(k))
		}
	}
	per := func(s span) (time.Duration, int64) { return s.d / time.Duration(s.n), s.bytes / int64(s.n) }
	fd, fb := per(first)
	ld, lb := per(last)
	t.Logf("first %d: %v and %d B written per clone; last %d: %v and %d B per clone; ratio %.2f",
		first.n, fd, fb, last.n, ld, lb, float64(ld)/float64(fd))
	if ch, ok := e.(interface{ Check() error }); ok && n <= 20000 {
		if err := ch.Check(); err != nil {
			t.Fatal(err)
		}
	}
}
