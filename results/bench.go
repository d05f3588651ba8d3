package results

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteBench writes runs as Go benchmark result lines, which benchstat
// compares between two files:
//
//	BenchmarkSnapbench/<scenario>/<engine>[/<param>=<value>]/<phase>[/<key>=<v>]-<cores> 1 <ns> ns/op <v> <unit> ...
//
// One line per supported phase of every run that is not unsupported; a
// phase the run repeats adds the Metrics that tell its occurrences apart
// (see benchPhase). <scenario> is the run's Name (its label if it has one). ns/op
// is the phase's wall time; then per operation kind its p50 and p99
// ("write-p50-ns"), the device counters and amplification ("dev-writes",
// "dev-write-B", "write-amp"), the space after the phase ("data-B",
// "metadata-B") and every Phase.Metrics value under its key. A file
// header gives pkg and cpu, the configuration benchstat groups by.
func WriteBench(w io.Writer, runs []*Run) error {
	runs = sortedCopy(runs)
	inst := instanceKeys(runs)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "pkg: github.com/snapbench/snapbench\n")
	if len(runs) > 0 && runs[0].Env.CPU != "" {
		fmt.Fprintf(bw, "cpu: %s\n", runs[0].Env.CPU)
	}
	for _, r := range runs {
		if r.Status == StatusUnsupported {
			continue
		}
		cores := r.Env.Cores
		if cores < 1 {
			cores = 1
		}
		prefix := "BenchmarkSnapbench/" + benchName(r.Name()) + "/" + benchName(r.Engine)
		if p, v := r.SweepPoint(); p != "" {
			prefix += "/" + benchName(p) + "=" + benchName(v)
		}
		for _, ref := range r.phaseRefs(inst) {
			p := ref.Phase
			if p.Unsupported != "" {
				continue
			}
			fmt.Fprintf(bw, "%s/%s-%d\t1\t%s ns/op", prefix, benchPhase(ref), cores, fmtRaw(p.Seconds*1e9))
			for _, m := range benchMetrics(p) {
				fmt.Fprintf(bw, "\t%s %s", fmtRaw(m.v), m.unit)
			}
			fmt.Fprintln(bw)
		}
	}
	return bw.Flush()
}

type benchMetric struct {
	v    float64
	unit string
}

func benchMetrics(p *Phase) []benchMetric {
	var out []benchMetric
	ops := make([]Op, 0, len(p.Ops))
	for op, o := range p.Ops {
		if o.Count > 0 {
			ops = append(ops, op)
		}
	}
	sortOps(ops)
	for _, op := range ops {
		o := p.Ops[op]
		n := benchName(string(op))
		out = append(out, benchMetric{float64(o.P50), n + "-p50-ns"}, benchMetric{float64(o.P99), n + "-p99-ns"})
	}
	d := p.Device
	out = append(out,
		benchMetric{float64(d.Reads), "dev-reads"}, benchMetric{float64(d.Writes), "dev-writes"},
		benchMetric{float64(d.ReadBytes), "dev-read-B"}, benchMetric{float64(d.WriteBytes), "dev-write-B"},
		benchMetric{float64(d.Flushes), "dev-flushes"})
	if p.Logical.WriteBytes > 0 && p.DeviceCounted() {
		out = append(out, benchMetric{p.WriteAmp(), "write-amp"})
	}
	if p.Logical.ReadBytes > 0 && p.DeviceCounted() {
		out = append(out, benchMetric{p.ReadAmp(), "read-amp"})
	}
	if p.Space.After.Capacity > 0 {
		out = append(out, benchMetric{float64(p.Space.After.Data), "data-B"},
			benchMetric{float64(p.Space.After.Metadata), "metadata-B"})
	}
	keys := make([]string, 0, len(p.Metrics))
	for k := range p.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if isFinite(p.Metrics[k]) {
			out = append(out, benchMetric{p.Metrics[k], benchName(k)})
		}
	}
	return out
}

// benchPhase names a phase occurrence: "overwrite/fanout=4" (benchstat reads
// key=value parts as configuration), "check/n=2", or the plain name.
func benchPhase(ref PhaseRef) string {
	name := benchName(ref.Name)
	if ref.ID == ref.Name {
		return name
	}
	if len(ref.Keys) == 0 || strings.Contains(ref.ID, " #") {
		return name + "/n=" + strconv.Itoa(ref.Index+1)
	}
	for _, k := range ref.Keys {
		name += "/" + benchName(k) + "=" + fmtRaw(ref.Metrics[k])
	}
	return name
}

// benchName makes s usable in a benchmark name or unit: no spaces, and no
// '/' that benchstat would read as a sub-benchmark.
func benchName(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c <= ' ', c == '/', c == '\x7f':
			return '_'
		}
		return c
	}, s)
}
