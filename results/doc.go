// Package results is what a run leaves behind and everything that reads it:
// per-worker latency recording (HDR histograms), per-phase measurements
// (operation latency and counts, device counters and amplification, space,
// CPU and memory, time series), the versioned JSON result file, and the
// readers that only analyse files: report tables, plots and compare.
//
// Collect, then analyse: workloads fill a Run through Recorders and phases;
// report, plot and compare never run anything.
//
// It is not a workload driver and never touches a device or an engine: the
// phase meter that reads counters and space while a phase runs is the
// workloads package's; results receives what it measured as a Phase.
//
// # Well-known names (the contract with workloads)
//
// Report tables work for any phase and any Phase.Metrics key. A phase name
// may repeat within a run (overwrite at each fan-out of a list, read at
// each depth): readers tell the occurrences apart by the Metrics whose
// values differ between them (Run.PhaseRefs), so give each occurrence its
// parameter (Metrics["fanout"], Metrics["depth"]). Runs of one scenario
// that a spec names differently (Params["label"]) are different runs: the
// label replaces the scenario in tables, file names and compare. The headline
// table, plots and compare additionally look for the names below; a name
// that is absent shows as "-", a Run or Phase marked unsupported as
// "unsupported". Names are case-sensitive.
//
// Metric keys (Phase.Metrics) end with their unit; report turns the suffix
// into the column header unit:
//
//	_s, _ms, _us, _ns   seconds, milli-, micro-, nanoseconds   "burst_s"
//	_bytes              bytes (shown in MiB)                    "space_per_clone_bytes"
//	_pct                percent                                 "hit_pct"
//	_per_s              per second                              "clones_per_s"
//	(no suffix)         a plain count or ratio                  "clones", "fanout"
//
// Operation kinds (Phase.Ops keys) are the Op constants: read, write,
// flush, create, snapshot, clone, delete, merge, expire, replica, boot.
//
// Scenarios (Run.Scenario): snaptree, clonebush, overwrite, chainread,
// exhaust. The engine named "raw" is the baseline that compare divides
// timings by: a raw run of the same scenario (and sweep point) with a phase
// of the same name and operation kind.
//
// Params compare reads: "qd" (or "queue_depth") and "duration". Device,
// space and operation counters are compared exactly only at qd 1 without a
// time budget (duration absent or 0), with the same seed and Params.
//
// Sweeps: a Run that is one point of a sweep sets
//
//	Run.Params["sweep_param"] = "fanout"   // the swept parameter's name
//	Run.Params["fanout"]      = "100"      // its value in this run (a number)
//
// and the file is named <scenario>-<engine>-<param><value>.json (FileName;
// the label, when set, replaces the scenario).
// Plots draw each phase's key metrics against the swept value (log x axis
// for fanout, depth and chunk-size-like parameters spanning a decade).
//
// Headline table (one column per engine, one row per metric). The scenarios
// declare their metrics (HeadlineMetric, RegisterHeadline; package
// workloads says where each comes from): results reads them through the
// Measure building blocks (PhaseCurve, SeriesCurve, HeadlineRun,
// HeadlinePhase) and never names a scenario or phase for them. Trials of
// a point (runs with one Key, Trial 1..Trials) each give a value; a timing
// cell shows their median and min–max range and is marked against the
// row's lowest median (see HeadlineNote); a cell whose runs were degraded
// or failed (Condition) shows that condition first and its value only in
// brackets. The deterministic rows lead.
//
// Series (Phase.Series) are plotted as given, one line per engine, one chart
// per (scenario, phase, series name). Conventional names:
//
//	"base_write_p99"  XUnit "live snapshots", YUnit "ns"  (snaptree)
//	"live_snapshots"  XUnit "s",              YUnit "snapshots"
//	"space_data"      XUnit "s",              YUnit "bytes"
//
// Plots scale time units ("ns", "us", "µs", "ms", "s") to a readable one;
// any other unit is shown verbatim in the axis label.
package results
