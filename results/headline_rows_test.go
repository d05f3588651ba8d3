package results_test

// The headline's rows are declared by the scenarios that measure them
// (package workloads registers them with results.RegisterHeadline). The
// tests of this package, internal ones included (one test binary), read
// the headline through them, as snapbench does.
import _ "github.com/snapbench/snapbench/workloads"
