package workloads

import "github.com/snapbench/snapbench/results"

// The figures `snapbench plot` draws by default (results.ThesisFigure),
// declared by the scenarios they illustrate (scenarioDef.figures; register
// passes them to results.RegisterThesis). Sections: overwrite, clonebush,
// snaptree, chainread.

const fanoutLabel = "fan-out: live snapshots or clones of the base"

// overwriteFigures: base write latency (p50 | p99) against fan-out, log x
// with 0 at the left; device bytes written per base write against fan-out,
// log–log; the base write latency distribution at the lowest and the
// highest fan-out.
func overwriteFigures() results.ThesisScenario {
	return results.ThesisScenario{Title: "Base volume overwrite", Order: 10, Figures: []results.ThesisFigure{
		{Name: "base-write-latency-vs-fanout", Title: "base write latency against fan-out",
			Caption: "Latency of writes to the base volume with N live dependents sharing all its chunks; a copy-on-write engine copies each first-written chunk into every dependent.",
			Draw:    results.LatencyAgainst("overwrite", "fanout", fanoutLabel, "base write latency", results.OpWrite)},
		{Name: "device-bytes-per-base-write-vs-fanout", Title: "device bytes written per base write against fan-out",
			Caption: "Device bytes written for each write to the base volume; deterministic for a seed at queue depth 1.",
			Draw:    results.BytesPerWriteAgainst("overwrite", "fanout", fanoutLabel, "device bytes written per base write")},
		{Name: "base-write-latency-percentiles", Title: "base write latency by percentile, lowest and highest fan-out",
			Caption: "Each line is one engine's base write latency distribution; the x axis stretches the tail (1/(1−p), log scale) so p99 and p99.9 are visible.",
			Draw:    results.DistributionAtEnds("overwrite", "fanout", "fan-out", "base write latency", results.OpWrite)},
	}}
}

// clonebushFigures: clone burst time against burst size where clones was
// swept; the boot storm's read and write latency distributions; read and
// write p99 of each phase over the run's time.
func clonebushFigures() results.ThesisScenario {
	return results.ThesisScenario{Title: "Clone bush", Order: 20, Figures: []results.ThesisFigure{
		{Name: "clone-burst-time-vs-clones", Title: "clone burst time against burst size",
			Caption: "Wall time to create a burst of N writable clones of one template.",
			Draw:    results.SecondsAgainst("burst", "clones", "burst_s", "clones in the burst", "burst time")},
		{Name: "boot-storm-latency-percentiles", Title: "boot storm latency by percentile",
			Caption: "Every clone boots at once: reads of the shared hot region and private writes. The x axis stretches the tail (1/(1−p), log scale).",
			Draw:    results.PhaseDistribution("boot", results.OpRead, results.OpWrite)},
		{Name: "latency-over-time", Title: "p99 latency over the run, phase by phase",
			Caption: "Each flat step is one phase (fill, boot storm, steady state, refresh...) drawn over its time span, at its p99.",
			Draw:    results.PhasesOverTime()},
	}}
}

// snaptreeFigures: base write latency (p50 | p99) and device bytes per
// base byte against live snapshots; live snapshots and data space over
// time; the steady phase's write latency distribution.
func snaptreeFigures() results.ThesisScenario {
	return results.ThesisScenario{Title: "Snapshot tree", Order: 30, Figures: []results.ThesisFigure{
		{Name: "base-write-latency-vs-live-snapshots", Title: "base write latency against live snapshots",
			Caption: "Latency of the base volume's writes while N snapshots of it are live.",
			Draw:    results.SeriesLatency("steady", "base_write_p50", "base_write_p99", "base write latency")},
		{Name: "device-bytes-per-base-byte-vs-live-snapshots", Title: "device bytes written per base byte against live snapshots",
			Caption: "Write amplification of the base volume's writes while N snapshots are live; deterministic for a seed at queue depth 1.",
			Draw: results.SeriesAgainst("steady", false,
				results.SeriesPanel{Series: "base_write_amp", YLabel: "device bytes per base byte written", Unit: "×"})},
		{Name: "snapshots-and-space-over-time", Title: "live snapshots and data space over time",
			Caption: "Snapshots are taken periodically and the oldest expire beyond the retention; the space the engine's data takes follows.",
			Draw: results.SeriesAgainst("steady", true,
				results.SeriesPanel{Series: "live_snapshots", Title: "live snapshots", YLabel: "live snapshots"},
				results.SeriesPanel{Series: "space_data", Title: "data space", YLabel: "data space used", Unit: "bytes"})},
		{Name: "steady-write-latency-percentiles", Title: "write latency by percentile under periodic snapshots",
			Caption: "Base volume writes while snapshots are taken and expired; the x axis stretches the tail (1/(1−p), log scale).",
			Draw:    results.PhaseDistribution("steady", results.OpWrite)},
	}}
}

// chainreadFigures: read latency (p50 | p99) against chain depth.
func chainreadFigures() results.ThesisScenario {
	return results.ThesisScenario{Title: "Chain read", Order: 40, Figures: []results.ThesisFigure{
		{Name: "read-latency-vs-depth", Title: "read latency against chain depth",
			Caption: "Latency of reads through a chain of N snapshots or clones.",
			Draw:    results.LatencyAgainst("read", "depth", "chain depth", "read latency", results.OpRead)},
	}}
}
