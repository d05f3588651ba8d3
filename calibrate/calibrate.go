package calibrate

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/snapbench/snapbench/device"
)

// Workload is one IO pattern both tools run.
type Workload struct {
	Name string
	RW   string // fio's rw: randread, randwrite, read, write
	BS   int64  // block size in bytes
	QD   int    // queue depth
}

// Read reports whether the workload reads.
func (w Workload) Read() bool { return w.RW == "randread" || w.RW == "read" }

// Random reports whether the workload is random.
func (w Workload) Random() bool { return w.RW == "randread" || w.RW == "randwrite" }

// Default is the calibration suite: 4 KiB random at queue depth 1 and 32,
// and 1 MiB sequential.
var Default = []Workload{
	{"4k randread qd1", "randread", 4 << 10, 1},
	{"4k randread qd32", "randread", 4 << 10, 32},
	{"4k randwrite qd1", "randwrite", 4 << 10, 1},
	{"4k randwrite qd32", "randwrite", 4 << 10, 32},
	{"1m read qd4", "read", 1 << 20, 4},
	{"1m write qd4", "write", 1 << 20, 4},
}

// Select is the workloads of ws whose name contains sub (all of them for
// "").
func Select(ws []Workload, sub string) []Workload {
	var out []Workload
	for _, w := range ws {
		if strings.Contains(w.Name, sub) {
			out = append(out, w)
		}
	}
	return out
}

// Names lists the workloads' names, comma-separated.
func Names(ws []Workload) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

// Measure is what one run of one tool gave.
type Measure struct {
	IOPS     float64
	MBps     float64 // 10^6 bytes per second
	P50, P99 time.Duration
}

// Tool runs a workload for a duration on the device it was set up for.
type Tool interface {
	Name() string
	Run(ctx context.Context, w Workload, d time.Duration) (Measure, error)
}

// Config is one calibration.
type Config struct {
	Workloads []Workload
	Runtime   time.Duration // per run of one tool on one workload
	Repeat    int           // runs per tool and workload; the median is shown
	// Progress, when set, gets one line per run.
	Progress io.Writer
}

// Row is one workload's result: each tool's median over the repeats.
type Row struct {
	Workload  Workload
	Fio, Snap Measure
	FioAll    []Measure
	SnapAll   []Measure
}

// Ratio is snapbench's IOPS over fio's (0 when fio did nothing).
func (r Row) Ratio() float64 {
	if r.Fio.IOPS == 0 {
		return 0
	}
	return r.Snap.IOPS / r.Fio.IOPS
}

// Run measures every workload with both tools, cfg.Repeat times each. Runs
// are interleaved: for each repeat, each workload runs on both tools back
// to back, fio first on even repeats and snapbench first on odd ones, so
// that drift on a shared machine hits both alike.
func Run(ctx context.Context, cfg Config, fio, snap Tool) ([]Row, error) {
	if cfg.Repeat < 1 {
		cfg.Repeat = 1
	}
	rows := make([]Row, len(cfg.Workloads))
	for i, w := range cfg.Workloads {
		rows[i].Workload = w
	}
	for rep := 0; rep < cfg.Repeat; rep++ {
		for i, w := range cfg.Workloads {
			tools := []Tool{fio, snap}
			if rep%2 == 1 {
				tools[0], tools[1] = snap, fio
			}
			for _, t := range tools {
				if err := ctx.Err(); err != nil {
					return rows, err
				}
				m, err := t.Run(ctx, w, cfg.Runtime)
				if err != nil {
					return rows, fmt.Errorf("calibrate: %s, %s: %w", t.Name(), w.Name, err)
				}
				if t == fio {
					rows[i].FioAll = append(rows[i].FioAll, m)
				} else {
					rows[i].SnapAll = append(rows[i].SnapAll, m)
				}
				if cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "%d/%d %-18s %-9s %9.0f IOPS %8.1f MB/s p99 %v\n", rep+1, cfg.Repeat,
						w.Name, t.Name(), m.IOPS, m.MBps, m.P99)
				}
			}
		}
	}
	for i := range rows {
		rows[i].Fio, rows[i].Snap = Median(rows[i].FioAll), Median(rows[i].SnapAll)
	}
	return rows, nil
}

// Median is the per-field median of ms (the mean of the two middle values
// for an even count).
func Median(ms []Measure) Measure {
	if len(ms) == 0 {
		return Measure{}
	}
	med := func(get func(Measure) float64) float64 {
		v := make([]float64, len(ms))
		for i, m := range ms {
			v[i] = get(m)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Measure{
		IOPS: med(func(m Measure) float64 { return m.IOPS }),
		MBps: med(func(m Measure) float64 { return m.MBps }),
		P50:  time.Duration(med(func(m Measure) float64 { return float64(m.P50) })),
		P99:  time.Duration(med(func(m Measure) float64 { return float64(m.P99) })),
	}
}

// WriteTable prints rows as an aligned text table.
func WriteTable(w io.Writer, rows []Row, repeat int, runtime time.Duration) {
	if repeat == 1 {
		fmt.Fprintf(w, "one run of %v each; ratio = snapbench IOPS / fio IOPS\n", runtime)
	} else {
		fmt.Fprintf(w, "median of %d runs of %v each, interleaved; ratio = snapbench IOPS / fio IOPS\n", repeat, runtime)
	}
	fmt.Fprintf(w, "%-18s %10s %10s %9s %9s %9s %9s %9s %9s %6s\n", "workload", "fio IOPS", "sb IOPS",
		"fio MB/s", "sb MB/s", "fio p50", "sb p50", "fio p99", "sb p99", "ratio")
	for _, r := range rows {
		fmt.Fprintf(w, "%-18s %10.0f %10.0f %9.1f %9.1f %9s %9s %9s %9s %5.2fx\n", r.Workload.Name,
			r.Fio.IOPS, r.Snap.IOPS, r.Fio.MBps, r.Snap.MBps, lat(r.Fio.P50), lat(r.Snap.P50),
			lat(r.Fio.P99), lat(r.Snap.P99), r.Ratio())
	}
}

// lat formats a latency with three significant digits.
func lat(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	}
}

// CheckDevice applies the device safety rules before anything is written:
// the same as format (device.Open's rules: mounted, held, partitioned or
// carrying a signature is refused), plus a device holding a snapbench
// engine. force overrides both. size creates or extends a regular file.
func CheckDevice(path string, size int64, force bool) (int64, error) {
	d, err := device.Open(path, device.Options{Size: size, Force: force})
	if err != nil {
		return 0, fmt.Errorf("calibrate: %w", err)
	}
	defer d.Close()
	if !force && holdsEngine(d) {
		return 0, fmt.Errorf("calibrate: %w: %s holds a snapbench engine, which calibration would destroy (use --force)",
			device.ErrRefused, path)
	}
	return d.Size(), nil
}
