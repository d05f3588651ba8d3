package calibrate

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
)

// A trimmed fio 3.x --output-format=json --lat_percentiles=1 output, with a
// warning line before the JSON as fio prints on some systems.
const fioJSON = `fio: some warning
{
  "fio version" : "fio-3.36",
  "jobs" : [
    {
      "jobname" : "calibrate",
      "read" : {
        "io_bytes" : 0, "bw_bytes" : 0, "iops" : 0.000000, "total_ios" : 0,
        "clat_ns" : {"min": 0, "max": 0, "mean": 0.0},
        "lat_ns" : {"min": 0, "max": 0, "mean": 0.0}
      },
      "write" : {
        "io_bytes" : 4194304000, "bw_bytes" : 419430400, "iops" : 102400.500000, "total_ios" : 1024000,
        "clat_ns" : {"percentile" : {"50.000000" : 250000, "99.000000" : 900000}},
        "lat_ns" : {"percentile" : {"1.000000" : 100000, "50.000000" : 260000, "99.000000" : 950000}}
      }
    }
  ]
}`

func TestParseFio(t *testing.T) {
	cases := []struct {
		name    string
		out     string
		read    bool
		want    Measure
		wantErr bool
	}{
		{"write, total latency", fioJSON, false, Measure{IOPS: 102400.5, MBps: 419.4304, P50: 260 * time.Microsecond, P99: 950 * time.Microsecond}, false},
		{"completion latency when total is missing", strings.Replace(fioJSON, `"lat_ns" : {"percentile"`, `"lat_ns" : {"nope"`, 1), false,
			Measure{IOPS: 102400.5, MBps: 419.4304, P50: 250 * time.Microsecond, P99: 900 * time.Microsecond}, false},
		{"read side has no percentiles", fioJSON, true, Measure{}, true},
		{"not JSON", "fio: command not found", false, Measure{}, true},
		{"no jobs", `{"jobs": []}`, false, Measure{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseFio([]byte(c.out), c.read)
			if (err != nil) != c.wantErr {
				t.Fatalf("ParseFio error %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && got != c.want {
				t.Errorf("ParseFio = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestFioArgs(t *testing.T) {
	f := &Fio{Device: "/dev/x", Region: 1 << 30}
	args := strings.Join(f.Args(Workload{"4k randwrite qd32", "randwrite", 4096, 32}, 5*time.Second), " ")
	for _, want := range []string{"--filename=/dev/x", "--direct=1", "--ioengine=libaio", "--rw=randwrite",
		"--bs=4096", "--iodepth=32", "--size=1073741824", "--runtime=5", "--time_based", "--output-format=json"} {
		if !strings.Contains(args, want) {
			t.Errorf("fio args %q lack %s", args, want)
		}
	}
}

func TestMedian(t *testing.T) {
	ms := []Measure{{IOPS: 3, P99: 30}, {IOPS: 1, P99: 10}, {IOPS: 2, P99: 50}}
	if got := Median(ms); got.IOPS != 2 || got.P99 != 30 {
		t.Errorf("Median of 3 = %+v", got)
	}
	if got := Median(ms[:2]); got.IOPS != 2 || got.P99 != 20 {
		t.Errorf("Median of 2 = %+v", got)
	}
	if got := Median(nil); got != (Measure{}) {
		t.Errorf("Median of none = %+v", got)
	}
}

// fakeTool returns IOPS from a list and records the order it was run in.
type fakeTool struct {
	name  string
	iops  []float64
	order *[]string
	fail  bool
}

func (f *fakeTool) Name() string { return f.name }
func (f *fakeTool) Run(_ context.Context, w Workload, _ time.Duration) (Measure, error) {
	*f.order = append(*f.order, f.name+" "+w.Name)
	if f.fail {
		return Measure{}, errors.New("boom")
	}
	v := f.iops[0]
	f.iops = f.iops[1:]
	return Measure{IOPS: v, MBps: v / 100, P50: time.Millisecond, P99: 2 * time.Millisecond}, nil
}

// TestRunInterleavesAndTables: the tools alternate which goes first, the
// medians and the ratio are right, and the table shows them.
func TestRunInterleavesAndTables(t *testing.T) {
	var order []string
	fio := &fakeTool{name: "fio", iops: []float64{100, 300, 200}, order: &order}
	snap := &fakeTool{name: "snapbench", iops: []float64{95, 290, 190}, order: &order}
	w := Workload{"4k randread qd1", "randread", 4096, 1}
	rows, err := Run(context.Background(), Config{Workloads: []Workload{w}, Runtime: time.Second, Repeat: 3}, fio, snap)
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := "fio 4k randread qd1,snapbench 4k randread qd1,snapbench 4k randread qd1,fio 4k randread qd1,fio 4k randread qd1,snapbench 4k randread qd1"
	if got := strings.Join(order, ","); got != wantOrder {
		t.Errorf("run order %s, want %s", got, wantOrder)
	}
	if len(rows) != 1 || rows[0].Fio.IOPS != 200 || rows[0].Snap.IOPS != 190 || rows[0].Ratio() != 0.95 {
		t.Fatalf("rows %+v", rows)
	}
	var b bytes.Buffer
	WriteTable(&b, rows, 3, time.Second)
	out := b.String()
	for _, want := range []string{"median of 3 runs of 1s", "workload", "ratio", "4k randread qd1", "200", "190", "1ms", "2ms", "0.95x"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteTable(&b, rows, 1, time.Second)
	if out := b.String(); !strings.HasPrefix(out, "one run of 1s each;") {
		t.Errorf("table of one run begins %q", strings.SplitN(out, "\n", 2)[0])
	}
	// A failing tool fails the calibration with both names in the error.
	order = nil
	_, err = Run(context.Background(), Config{Workloads: []Workload{w}, Repeat: 1}, &fakeTool{name: "fio", fail: true, order: &order}, snap)
	if err == nil || !strings.Contains(err.Error(), "fio, 4k randread qd1") {
		t.Errorf("a failing tool gave %v", err)
	}
}

func TestLat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		123456 * time.Nanosecond: "123µs", 2500 * time.Microsecond: "2.5ms", 1500 * time.Millisecond: "1.5s",
	} {
		if got := lat(d); got != want {
			t.Errorf("lat(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		sub  string
		want []string
	}{
		{"", []string{"4k randread qd1", "4k randread qd32", "4k randwrite qd1", "4k randwrite qd32", "1m read qd4", "1m write qd4"}},
		{"qd32", []string{"4k randread qd32", "4k randwrite qd32"}},
		{"randwrite qd1", []string{"4k randwrite qd1"}},
		{"1m", []string{"1m read qd4", "1m write qd4"}},
		{"qd64", nil},
	} {
		got := Select(Default, tc.sub)
		if names := Names(got); names != strings.Join(tc.want, ", ") {
			t.Errorf("Select(%q) = %s, want %s", tc.sub, names, strings.Join(tc.want, ", "))
		}
	}
}

// TestSnapbenchTool runs the snapbench side on a real file with both IO
// engines: it measures something, leaves no engine on the device (a second
// calibrate needs no --force) and restores GOMAXPROCS after psync raised it.
func TestSnapbenchTool(t *testing.T) {
	dir, err := os.MkdirTemp("/var/tmp", "calibrate-test-")
	if err != nil {
		t.Skipf("no /var/tmp: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "dev.img")
	if _, err := CheckDevice(path, 64<<20, false); err != nil {
		t.Skipf("no direct-IO file in %s: %v", dir, err)
	}
	w := Workload{"4k randwrite qd4", "randwrite", 4 << 10, 4}
	for _, e := range []device.IOEngine{device.IOEngineAuto, device.IOEnginePsync} {
		t.Run(string(e), func(t *testing.T) {
			procs := runtime.GOMAXPROCS(0)
			s := &Snapbench{Device: path, Region: 16 << 20, IOEngine: e}
			m, err := s.Run(context.Background(), w, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if m.IOPS <= 0 || m.P99 <= 0 {
				t.Errorf("measure %+v: nothing measured", m)
			}
			if got := runtime.GOMAXPROCS(0); got != procs {
				t.Errorf("GOMAXPROCS %d after the run, was %d", got, procs)
			}
			if _, err := CheckDevice(path, 0, false); err != nil {
				t.Errorf("a second calibrate is refused: %v", err)
			}
		})
	}
}

// TestPhaseMeasure: snapbench's rates leave out the flush that ends its
// phase, since fio's run has none.
func TestPhaseMeasure(t *testing.T) {
	phase := func(secs float64, flushNS int64) *results.Phase {
		return &results.Phase{Name: "io", Seconds: secs, Ops: map[results.Op]results.OpStats{
			results.OpWrite: {Count: 30000, Bytes: 30000 * 4096, P50: 40e3, P99: 90e3},
			results.OpRead:  {Count: 3000, Bytes: 3000 * 4096},
			results.OpFlush: {Count: 1, Total: flushNS},
		}}
	}
	for _, tc := range []struct {
		name    string
		p       *results.Phase
		read    bool
		iops    float64
		wantErr bool
	}{
		{"no flush", phase(3, 0), false, 10000, false},
		{"flush left out", phase(3.2, 200e6), false, 10000, false},
		{"reads", phase(3.2, 200e6), true, 1000, false},
		{"all flush", phase(0.2, 200e6), false, 0, true},
		{"no phase", nil, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := phaseMeasure(tc.p, tc.read)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if math.Abs(m.IOPS-tc.iops) > 1e-6 {
				t.Errorf("IOPS %.3f, want %.3f", m.IOPS, tc.iops)
			}
			if !tc.wantErr && m.MBps != m.IOPS*4096/1e6 {
				t.Errorf("MB/s %.3f, want %.3f", m.MBps, m.IOPS*4096/1e6)
			}
		})
	}
}
