package calibrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/raw" // the engine calibrated
	"github.com/snapbench/snapbench/workloads"
)

// Fio runs fio (libaio, direct=1) on [0, Region) of Device. Before each
// run it writes the region once, untimed, as the snapbench side's prefill
// does, so that both read and overwrite allocated blocks.
type Fio struct {
	Path   string // the fio binary ("" is "fio")
	Device string
	Region int64
}

func (f *Fio) Name() string { return "fio" }

func (f *Fio) bin() string {
	if f.Path == "" {
		return "fio"
	}
	return f.Path
}

// Args are fio's arguments for w during d.
func (f *Fio) Args(w Workload, d time.Duration) []string {
	return []string{"--name=calibrate", "--filename=" + f.Device, "--direct=1", "--ioengine=libaio",
		"--rw=" + w.RW, "--bs=" + strconv.FormatInt(w.BS, 10), "--iodepth=" + strconv.Itoa(w.QD),
		"--size=" + strconv.FormatInt(f.Region, 10), "--runtime=" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64),
		"--time_based", "--norandommap", "--randrepeat=0", "--lat_percentiles=1", "--group_reporting",
		"--output-format=json"}
}

func (f *Fio) Run(ctx context.Context, w Workload, d time.Duration) (Measure, error) {
	fill := exec.CommandContext(ctx, f.bin(), "--name=fill", "--filename="+f.Device, "--direct=1",
		"--ioengine=libaio", "--rw=write", "--bs=1m", "--iodepth=8", "--size="+strconv.FormatInt(f.Region, 10))
	if out, err := fill.CombinedOutput(); err != nil {
		return Measure{}, fmt.Errorf("fio prefill: %w: %s", err, lastLine(out))
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.bin(), f.Args(w, d)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Measure{}, fmt.Errorf("fio: %w: %s", err, lastLine(stderr.Bytes()))
	}
	return ParseFio(out, w.Read())
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// fioOutput is the part of fio's JSON output that calibrate reads.
type fioOutput struct {
	Jobs []struct {
		Read, Write fioDir
	} `json:"jobs"`
}

type fioDir struct {
	IOPS    float64 `json:"iops"`
	BWBytes float64 `json:"bw_bytes"`
	IOs     int64   `json:"total_ios"`
	Lat     fioLat  `json:"lat_ns"`
	Clat    fioLat  `json:"clat_ns"`
}

type fioLat struct {
	Percentile map[string]float64 `json:"percentile"`
}

// ParseFio reads the IOPS, bandwidth and total-latency percentiles of the
// first job of fio's --output-format=json (with --lat_percentiles=1;
// completion latency percentiles where total latency ones are missing).
// fio may print warnings before the JSON; they are skipped.
func ParseFio(out []byte, read bool) (Measure, error) {
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var o fioOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return Measure{}, fmt.Errorf("fio output: %w", err)
	}
	if len(o.Jobs) == 0 {
		return Measure{}, errors.New("fio output: no jobs")
	}
	d := o.Jobs[0].Write
	if read {
		d = o.Jobs[0].Read
	}
	pct := d.Lat.Percentile
	if len(pct) == 0 {
		pct = d.Clat.Percentile
	}
	p50, ok50 := pct["50.000000"]
	p99, ok99 := pct["99.000000"]
	if !ok50 || !ok99 {
		return Measure{}, errors.New("fio output: no 50th and 99th latency percentiles")
	}
	return Measure{IOPS: d.IOPS, MBps: d.BWBytes / 1e6, P50: time.Duration(p50), P99: time.Duration(p99)}, nil
}

// Snapbench runs the io scenario on a freshly formatted raw engine on
// Device, through the same workers and device path as snapbench run.
type Snapbench struct {
	Device   string
	Region   int64 // the volume size
	IOEngine device.IOEngine
	// Used is the IO engine the last run used.
	Used device.IOEngine
}

func (s *Snapbench) Name() string { return "snapbench" }

func (s *Snapbench) Run(ctx context.Context, w Workload, d time.Duration) (m Measure, err error) {
	dev, err := device.Open(s.Device, device.Options{Force: true}) // CheckDevice has applied the rules
	if err != nil {
		return Measure{}, err
	}
	defer dev.Close()
	if s.Used, err = dev.SetIOEngine(s.IOEngine); err != nil {
		return Measure{}, err
	}
	defer device.ProcsFor(s.Used, w.QD)() // as snapbench run does
	cnt := device.NewCounting(dev)
	eng, err := strategies.Format("raw", cnt, strategies.Options{})
	if err != nil {
		return Measure{}, err
	}
	defer func() {
		// Leave no engine behind: the next calibrate of this device needs no
		// --force for the raw engine this run formatted.
		cerr := eng.Close()
		if cerr == nil {
			cerr = strategies.EraseSuperblock(dev)
		}
		if err == nil && cerr != nil {
			err = fmt.Errorf("snapbench: %w", cerr)
		}
	}()
	readPct, access := "0", "seq"
	if w.Read() {
		readPct = "100"
	}
	if w.Random() {
		access = "random"
	}
	sc, err := workloads.NewScenario("io", map[string]string{"qd": strconv.Itoa(w.QD), "bs": strconv.FormatInt(w.BS, 10),
		"read_pct": readPct, "access": access, "verify": "off", "prefill": "true", "ops": "1000000000000",
		"duration": d.String(), "volume_size": strconv.FormatInt(s.Region, 10)})
	if err != nil {
		return Measure{}, err
	}
	run, err := workloads.RunScenario(ctx, workloads.Env{Engine: eng, Counting: cnt}, sc)
	if err != nil {
		return Measure{}, err
	}
	return phaseMeasure(run.Phase("io"), w.Read())
}

// phaseMeasure is what the io phase p measured for a read or write
// workload. The phase ends with the engine's commit, a device flush
// (hundreds of milliseconds on some devices); fio's run has none, so the
// rates are over the phase's time without it.
func phaseMeasure(p *results.Phase, read bool) (Measure, error) {
	if p == nil || p.Seconds <= 0 {
		return Measure{}, errors.New("snapbench: no io phase")
	}
	op := results.OpWrite
	if read {
		op = results.OpRead
	}
	secs := p.Seconds - float64(p.Ops[results.OpFlush].Total)/1e9
	if secs <= 0 {
		return Measure{}, errors.New("snapbench: the io phase spent all its time flushing")
	}
	st := p.Ops[op]
	return Measure{IOPS: float64(st.Count) / secs, MBps: float64(st.Bytes) / secs / 1e6,
		P50: time.Duration(st.P50), P99: time.Duration(st.P99)}, nil
}

// holdsEngine reports whether d carries a snapbench superblock.
func holdsEngine(d device.Device) bool {
	_, err := strategies.ReadSuperblock(d)
	return err == nil
}
