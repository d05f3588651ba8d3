// Package calibrate measures snapbench's IO path against fio on the same
// device: fio (libaio, direct=1) and snapbench's raw engine run back to
// back, interleaved, on the same workloads, and the table shows each tool's
// median and the snapbench/fio ratio. It is a benchmark: it writes the
// device and takes seconds per workload; it is not a test.
//
// It is not a general fio front end: the workloads are fixed (Default), and
// the snapbench side always runs the io scenario on the raw engine through
// the same workers, device path and IO engine as snapbench run.
package calibrate
