// Package runner is what `snapbench run` does: it checks a whole benchmark
// configuration before touching the device, then for every engine formats
// the device afresh, runs each scenario (every point of a sweep) through the
// workloads package, and writes one result file per run. Interrupting it
// (context cancellation) stops the current phase, writes what was measured
// marked incomplete, and leaves the device closed.
//
// It is not a report generator: the caller renders tables from the result
// files (results.Headline), in keeping with "collect, then analyse".
package runner
