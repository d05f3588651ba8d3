package workloads

import (
	"github.com/snapbench/snapbench/results"
)

// The headline table's metrics (results.Headline), declared by the
// scenarios that measure them (scenarioDef.headline; register passes them
// to results.RegisterHeadline). Orders: 1xx the deterministic mechanism
// costs, which lead the table, then the timings by scenario (2xx
// overwrite, 3xx snaptree, 4xx clonebush, 5xx chainread). Where each comes
// from:
//
//	device writes and bytes per base write
//	    phases named "overwrite" (any scenario, normally scenario
//	    "overwrite"), at the highest fan-out: Device.Writes /
//	    Logical.Writes and the write amplification; fan-out =
//	    Metrics["fanout"], else the run's Params["fanout"].
//	base write latency against fan-out
//	    the same phases: Ops["write"].P50 at the lowest and highest
//	    fan-out, P99 at the highest, and the Mean at both with its growth
//	    (with N dependents only the first write to a chunk pays the N
//	    copies, so the median hides them and the mean carries them).
//	base write latency in a snapshot tree
//	    scenario "snaptree", phase "steady" (runs that are not sweep
//	    points): Series "base_write_p50" and "base_write_p99" (x = live
//	    snapshots). Shown: p50 at the fewest and the most live snapshots,
//	    p99 at the most.
//	clone burst: device writes and space per clone, burst time, boot storm
//	    scenario "clonebush", one run (results.HeadlineRun: an unlabelled
//	    one, else any that is not a sweep point, else the sweep point with
//	    the largest value). Phase "burst": Device.Writes /
//	    Metrics["clones"], Metrics["space_per_clone_bytes"],
//	    Metrics["burst_s"] (else the phase's Seconds) over
//	    Metrics["clones"] clones (else Ops["clone"].Count). Phase "boot":
//	    Metrics["space_per_clone_bytes"], Ops["read"].P99 and
//	    Ops["write"].P99 (an Ops["boot"], one clone's whole boot, shows in
//	    the phase table).
//	template deleted
//	    the same run: Metrics["template_deleted"] of any phase, 1 = yes,
//	    0 = no; a phase named "delete-template" that is Unsupported shows
//	    "unsupported".
//	chain-depth read cost
//	    scenario "chainread", every phase named "read": depth =
//	    Metrics["depth"], else the run's Params["depth"]; cost =
//	    Ops["read"].P50. Shown: p50 at the lowest and highest depth and
//	    their growth.

// overwriteHeadline: the base volume's write cost against its number of
// live dependents.
func overwriteHeadline() []results.HeadlineMetric {
	curve := func(y results.PhaseValue, hi bool) func([]*results.Run) results.Measure {
		return func(runs []*results.Run) results.Measure {
			return results.PhaseCurve(runs, "", "overwrite", "fanout", y).End(hi)
		}
	}
	const s = "overwrite"
	return []results.HeadlineMetric{
		{Order: 100, Label: "base write: device writes per write, most dependents", Key: "base_write_device_writes_high_fanout", Unit: "IOs",
			Format: results.FormatNumber, Scenario: s, Get: curve(results.DeviceWritesPerWrite, true),
			Note: "base write: device IOs and bytes per write to the base volume with N live dependent snapshots/clones (overwrite, @N); deterministic at QD 1"},
		{Order: 110, Label: "base write: device bytes per byte, most dependents", Key: "base_write_amp_high_fanout", Unit: "x",
			Format: results.FormatTimes, Scenario: s, Get: curve(results.WriteAmp, true)},
		{Order: 200, Label: "base write p50, fewest dependents", Key: "base_write_p50_low_fanout", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(results.OpP50(results.OpWrite), false),
			Note: "base write p50/p99: latency of the base volume's writes with N live dependents (overwrite, @N)"},
		{Order: 210, Label: "base write p50, most dependents", Key: "base_write_p50_high_fanout", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(results.OpP50(results.OpWrite), true)},
		{Order: 220, Label: "base write p99, most dependents", Key: "base_write_p99_high_fanout", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(results.OpP99(results.OpWrite), true), Noise: results.NoiseTail},
		{Order: 230, Label: "base write mean, fewest dependents", Key: "base_write_mean_low_fanout", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(results.OpMean(results.OpWrite), false),
			Note: "base write mean: only the first write to a shared chunk pays the copies to its N dependents, so the mean, beside p50 and p99, carries that cost; growth is the ratio of the medians across trials of the mean at the most and the fewest dependents"},
		{Order: 240, Label: "base write mean, most dependents", Key: "base_write_mean_high_fanout", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(results.OpMean(results.OpWrite), true)},
		{Order: 250, Label: "base write mean growth, fewest to most dependents", Key: "base_write_fanout_growth", Unit: "x", Timing: true,
			Format: results.FormatGrowth, Scenario: s, Growth: [2]string{"base_write_mean_high_fanout", "base_write_mean_low_fanout"}},
	}
}

// snaptreeHeadline: the base volume's write latency under a periodic
// snapshot tree.
func snaptreeHeadline() []results.HeadlineMetric {
	series := func(name string, hi bool) func([]*results.Run) results.Measure {
		return func(runs []*results.Run) results.Measure {
			return results.SeriesCurve(runs, "snaptree", "steady", name).End(hi)
		}
	}
	const s = "snaptree"
	return []results.HeadlineMetric{
		{Order: 300, Label: "tree: base write p50, fewest snapshots", Key: "tree_base_write_p50_few", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: series("base_write_p50", false)},
		{Order: 310, Label: "tree: base write p50, most snapshots", Key: "tree_base_write_p50_most", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: series("base_write_p50", true)},
		{Order: 320, Label: "tree: base write p99, most snapshots", Key: "tree_base_write_p99_most", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: series("base_write_p99", true), Noise: results.NoiseTail,
			Note: "tree: latency of the base volume's writes under a periodic snapshot tree at the fewest and the most live snapshots (snaptree, @N live)"},
	}
}

// clonebushHeadline: what a burst of clones costs at creation and in the
// boot storm, and whether the template can go.
func clonebushHeadline() []results.HeadlineMetric {
	const s = "clonebush"
	phase := func(name string, get func(p *results.Phase) results.Measure) func([]*results.Run) results.Measure {
		return func(runs []*results.Run) results.Measure {
			p, why := results.HeadlinePhase(runs, s, name)
			if p == nil {
				return why
			}
			return get(p)
		}
	}
	metric := func(name, key string) func([]*results.Run) results.Measure {
		return phase(name, func(p *results.Phase) results.Measure {
			v, ok := p.Metrics[key]
			return results.Measure{Value: v, OK: ok}
		})
	}
	bootP99 := func(op results.Op) func([]*results.Run) results.Measure {
		return phase("boot", func(p *results.Phase) results.Measure {
			o, ok := p.Ops[op]
			if !ok || o.Count == 0 {
				return results.Measure{}
			}
			return results.MeasureOf(float64(o.P99))
		})
	}
	writesPerClone := phase("burst", func(p *results.Phase) results.Measure {
		clones := p.Metrics["clones"]
		if clones <= 0 {
			return results.Measure{}
		}
		return results.MeasureAt(float64(p.Device.Writes)/clones, clones)
	})
	burstSeconds := phase("burst", func(p *results.Phase) results.Measure {
		secs, ok := p.Metrics["burst_s"]
		if !ok {
			secs = p.Seconds
		}
		clones, ok := p.Metrics["clones"]
		if !ok {
			clones = float64(p.Ops[results.OpClone].Count)
		}
		return results.Measure{Value: secs, X: clones, HasX: clones > 0, OK: true}
	})
	templateDeleted := func(runs []*results.Run) results.Measure {
		r := results.HeadlineRun(runs, s)
		if r == nil {
			return results.Measure{}
		}
		if r.Status == results.StatusUnsupported {
			return results.Measure{State: results.Unsupported}
		}
		for _, p := range r.Phases {
			if v, ok := p.Metrics["template_deleted"]; ok {
				return results.MeasureOf(v)
			}
		}
		if p := r.Phase("delete-template"); p != nil && p.Unsupported != "" {
			return results.Measure{State: results.Unsupported}
		}
		return results.Measure{}
	}
	yesNo := func(v float64) string {
		if v != 0 {
			return "yes"
		}
		return "no"
	}
	return []results.HeadlineMetric{
		{Order: 120, Label: "clone burst: device writes per clone", Key: "clone_device_writes_per_clone", Unit: "IOs",
			Format: results.FormatNumber, Scenario: s, Get: writesPerClone,
			Note: "clone burst: metadata IO each clone costs at creation, device writes per clone (clonebush/burst); deterministic"},
		{Order: 130, Label: "space per clone at creation", Key: "space_per_clone_created_bytes", Unit: "bytes",
			Format: results.FormatBytes, Scenario: s, Get: metric("burst", "space_per_clone_bytes"),
			Note: "space per clone: device space used per clone right after the burst, and after the boot storm wrote to them (clonebush)"},
		{Order: 140, Label: "space per clone after boot storm", Key: "space_per_clone_booted_bytes", Unit: "bytes",
			Format: results.FormatBytes, Scenario: s, Get: metric("boot", "space_per_clone_bytes")},
		{Order: 150, Label: "template deleted", Key: "template_deleted", Format: yesNo, Scenario: s, Get: templateDeleted,
			Note: "template deleted: whether the template could be deleted with its clones alive (clonebush)"},
		{Order: 400, Label: "clone burst time", Key: "clone_burst_s", Unit: "s", Timing: true,
			Format: results.FormatSeconds, Scenario: s, Get: burstSeconds, Noise: results.NoiseWallTime,
			Note: "clone burst time: wall time to create the burst of clones (clonebush/burst, @clones)"},
		{Order: 410, Label: "boot-storm read p99", Key: "boot_read_p99", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: bootP99(results.OpRead), Noise: results.NoiseStorm,
			Note: "boot-storm p99: per-IO latency while every clone boots at once (clonebush/boot)"},
		{Order: 420, Label: "boot-storm write p99", Key: "boot_write_p99", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: bootP99(results.OpWrite), Noise: results.NoiseStorm},
	}
}

// chainreadHeadline: read latency against the depth of a snapshot chain.
func chainreadHeadline() []results.HeadlineMetric {
	curve := func(hi bool) func([]*results.Run) results.Measure {
		return func(runs []*results.Run) results.Measure {
			return results.PhaseCurve(runs, "chainread", "read", "depth", results.OpP50(results.OpRead)).End(hi)
		}
	}
	const s = "chainread"
	return []results.HeadlineMetric{
		{Order: 500, Label: "read p50, shallowest chain", Key: "chain_read_p50_low_depth", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(false),
			Note: "chain read: read p50 at the shallowest and deepest chain, and its growth (chainread, @depth)"},
		{Order: 510, Label: "read p50, deepest chain", Key: "chain_read_p50_high_depth", Unit: "ns", Timing: true,
			Format: results.FormatNanos, Scenario: s, Get: curve(true)},
		{Order: 520, Label: "read p50 growth with depth", Key: "chain_read_depth_growth", Unit: "x", Timing: true,
			Format: results.FormatGrowth, Scenario: s, Growth: [2]string{"chain_read_p50_high_depth", "chain_read_p50_low_depth"}},
	}
}
