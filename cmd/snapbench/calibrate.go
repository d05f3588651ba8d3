package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/snapbench/snapbench/calibrate"
	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/workloads"
)

func init() {
	registerVerb(verb{name: "calibrate", summary: "measure snapbench's IO path against fio on a device", run: runCalibrate})
}

const calibrateHelp = `
Run fio (libaio, direct=1) and snapbench's raw engine on the same device,
back to back and interleaved: 4 KiB random reads and writes at queue depth 1
and 32, 1 MiB sequential reads and writes at queue depth 4. Each tool writes
the measured region once, untimed, before each run. Prints each tool's median
IOPS, MB/s and p50/p99 latency and the snapbench/fio IOPS ratio: near 1, the
numbers of snapbench run on this device are the device's, not the harness's.
snapbench's IOPS are over its time doing IO: the flush that ends its phase
is left out, as fio's run has none.

The device is written. Devices are refused as format refuses them (mounted,
held, partitioned, carrying a signature or a snapbench engine) unless --force;
calibrate erases the raw engine it formats, so calibrating the same device
again needs no --force. Needs fio in $PATH.

Example:
  snapbench calibrate --device /var/tmp/cal.img --size 2G
  snapbench calibrate --device /dev/loop7 --runtime 5s --repeat 3
  snapbench calibrate --device /var/tmp/cal.img --only qd32 --repeat 5`

func runCalibrate(args []string) int {
	fs := newFlags("calibrate", "calibrate --device PATH [--size SIZE] [--runtime D] [--repeat N] [--only TEXT] [--force]", calibrateHelp)
	path := fs.String("device", "", "block device or file to measure (required; it is written)")
	sizeFlag := fs.String("size", "", "create the file if missing, or extend it, to this size (regular files)")
	region := fs.String("region", "1G", "bytes of the device both tools do IO on (at most half the device)")
	runtime := fs.Duration("runtime", 5e9, "duration of each run")
	repeat := fs.Int("repeat", 3, "runs per tool and workload; the median is shown")
	ioEngine := fs.String("io-engine", "auto", "snapbench's IO engine: uring, psync or auto")
	fioPath := fs.String("fio", "fio", "the fio binary")
	force := fs.Bool("force", false, "write a device the safety rules refuse")
	only := fs.String("only", "", "run only the workloads whose name contains this text (e.g. qd32, \"randwrite qd1\", 1m)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError("calibrate", "unexpected argument %q", fs.Arg(0))
	case *path == "":
		return usageError("calibrate", "--device is required")
	case *repeat < 1 || *runtime <= 0:
		return usageError("calibrate", "--repeat and --runtime must be positive")
	}
	engine, err := device.ParseIOEngine(*ioEngine)
	if err != nil {
		return usageError("calibrate", "%v", err)
	}
	suite := calibrate.Select(calibrate.Default, *only)
	if len(suite) == 0 {
		return usageError("calibrate", "--only %q matches no workload (%s)", *only, calibrate.Names(calibrate.Default))
	}
	var size int64
	if *sizeFlag != "" {
		if size, err = parseSize(*sizeFlag); err != nil || size <= 0 {
			return usageError("calibrate", "--size: %s", orValue(err, "must be positive"))
		}
	}
	if _, err := os.Stat(*path); os.IsNotExist(err) && size == 0 {
		return usageError("calibrate", "%s does not exist; give --size to create it", *path)
	}
	reg, err := parseSize(*region)
	if err != nil || reg <= 0 || reg%(1<<20) != 0 {
		return usageError("calibrate", "--region: %s", orValue(err, "a positive multiple of 1M"))
	}
	devSize, err := calibrate.CheckDevice(*path, size, *force)
	if err != nil {
		code := fail(err)
		if errors.Is(err, device.ErrRefused) {
			code = 2
		}
		return code
	}
	// The raw engine needs room for its metadata beside the volume.
	reg = min(reg, (devSize/2)/(1<<20)*(1<<20))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	snap := &calibrate.Snapbench{Device: *path, Region: reg, IOEngine: engine}
	cfg := calibrate.Config{Workloads: suite, Runtime: *runtime, Repeat: *repeat, Progress: stderr}
	rows, err := calibrate.Run(ctx, cfg, &calibrate.Fio{Path: *fioPath, Device: *path, Region: reg}, snap)
	if err != nil {
		return fail(err)
	}
	stdoutf("device %s, region %s, snapbench IO engine %s\n", *path, workloads.FormatSize(reg), snap.Used)
	calibrate.WriteTable(stdout, rows, *repeat, *runtime)
	return 0
}
