// Package resultstest makes synthetic but realistic result sets for tests
// of results and of the commands that read result files: every engine, the
// well-known scenarios, phases, metrics and sweeps documented in package
// results, with latencies drawn from log-normal distributions whose medians
// follow the mechanisms (classic COW writes grow with fan-out, linked reads
// with chain depth, ...). Runs are fully determined by the seed.
package resultstest

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/snapbench/snapbench/results"
)

// Engines are the engines Runs produces, in the order of results.SetEngines.
var Engines = []string{"raw", "full", "cow", "row", "linked", "mirror"}

// Fanouts and Depths are the sweep points of the overwrite and chainread
// scenarios.
var (
	Fanouts = []int{1, 10, 100, 1000}
	Depths  = []int{1, 8, 64}
)

// Epoch is the start time of every synthetic run.
var Epoch = time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)

// opSpec describes the synthetic latency of one operation kind.
type opSpec struct {
	op     results.Op
	count  int
	median time.Duration
	sigma  float64 // of the log-normal
	bytes  int64   // per operation
}

// gen draws latencies.
type gen struct{ rng *rand.Rand }

func (g *gen) phase(name string, start time.Time, seconds float64, specs ...opSpec) results.Phase {
	rec := results.NewRecorder()
	var lg results.LogicalIO
	for _, s := range specs {
		for i := 0; i < s.count; i++ {
			d := time.Duration(float64(s.median) * math.Exp(s.sigma*g.rng.NormFloat64()))
			rec.Record(s.op, d, s.bytes)
		}
		switch s.op {
		case results.OpRead:
			lg.Reads += int64(s.count)
			lg.ReadBytes += int64(s.count) * s.bytes
		case results.OpWrite:
			lg.Writes += int64(s.count)
			lg.WriteBytes += int64(s.count) * s.bytes
		}
	}
	p := results.Phase{Name: name, Started: start, Seconds: seconds, Ops: map[results.Op]results.OpStats{}, Logical: lg}
	for op, o := range rec.Ops() {
		st, err := results.Summarise(o)
		if err != nil {
			panic(err) // a histogram we just filled always encodes
		}
		p.Ops[op] = st
	}
	p.CPU = results.CPU{UserSeconds: seconds * 0.3, SysSeconds: seconds * 0.2, PeakRSS: 48 << 20}
	return p
}

// amplify sets device counters from the logical IO and amplification.
func amplify(p *results.Phase, wamp, ramp float64, iosPerIO float64) {
	p.Device = results.DeviceCounters{
		ReadBytes:  int64(float64(p.Logical.ReadBytes) * ramp),
		WriteBytes: int64(float64(p.Logical.WriteBytes) * wamp),
		Reads:      int64(float64(p.Logical.Reads) * iosPerIO * ramp),
		Writes:     int64(float64(p.Logical.Writes) * iosPerIO * wamp),
		Flushes:    p.Logical.Writes / 64,
	}
}

func space(capacity, data, meta int64) results.Space {
	return results.Space{Capacity: capacity, Data: data, Metadata: meta, Free: capacity - data - meta}
}

func baseRun(engine, scenario string, seed uint64) *results.Run {
	return &results.Run{
		Schema:   results.SchemaVersion,
		Engine:   engine,
		Scenario: scenario,
		Params:   map[string]string{"qd": "1", "duration": "0s", "block_size": "4096", "chunk_size": "65536"},
		Seed:     seed,
		Started:  Epoch,
		Env: results.Env{Version: "v0.0.0-test", Commit: "0000000", GoVersion: "go1.26", Kernel: "Linux 6.8.0 x86_64",
			CPU: "Synthetic CPU @ 3.0GHz", Cores: 2, MemBytes: 8 << 30},
		Device: results.DeviceInfo{Path: "/dev/loop0", Kind: "block", Size: 8 << 30, LogicalSector: 512,
			PhysicalSector: 4096, MemAlign: 512, DirectIO: true},
		Status: results.StatusOK,
	}
}

const (
	us = time.Microsecond
	ms = time.Millisecond
	gb = int64(1) << 30
	mb = int64(1) << 20
)

// Runs returns a complete synthetic result set: snaptree, clonebush, the
// overwrite sweep over Fanouts and the chainread sweep over Depths, for
// every engine (raw unsupported where it cannot snapshot). slow multiplies
// every latency of engine slowEngine (1 for none): a planted regression.
// The caller owns the runs returned (each call returns fresh copies of a
// set generated once per argument triple). Safe for concurrent use.
func Runs(seed uint64, slowEngine string, slow float64) []*results.Run {
	k := cacheKey{seed, slowEngine, slow}
	cacheMu.Lock()
	set, ok := cache[k]
	if !ok {
		set = generate(seed, slowEngine, slow)
		cache[k] = set
	}
	cacheMu.Unlock()
	out := make([]*results.Run, len(set))
	for i, r := range set {
		out[i] = clone(r)
	}
	return out
}

type cacheKey struct {
	seed uint64
	slow string
	by   float64
}

var (
	cacheMu sync.Mutex
	cache   = map[cacheKey][]*results.Run{}
)

// clone deep-copies everything a test may change (histogram encodings are
// immutable strings and stay shared).
func clone(r *results.Run) *results.Run {
	c := *r
	c.Params = maps.Clone(r.Params)
	c.Phases = make([]results.Phase, len(r.Phases))
	for i, p := range r.Phases {
		p.Ops = maps.Clone(p.Ops)
		p.Metrics = maps.Clone(p.Metrics)
		series := make([]results.Series, len(p.Series))
		for j, s := range p.Series {
			s.Points = slices.Clone(s.Points)
			series[j] = s
		}
		if p.Series != nil {
			p.Series = series
		}
		c.Phases[i] = p
	}
	return &c
}

func generate(seed uint64, slowEngine string, slow float64) []*results.Run {
	g := &gen{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	var runs []*results.Run
	lat := func(engine string, d time.Duration) time.Duration {
		if engine == slowEngine {
			return time.Duration(float64(d) * slow)
		}
		return d
	}
	for _, e := range Engines {
		runs = append(runs, snaptree(g, e, seed, lat), clonebushRun(g, e, seed, lat))
		for _, f := range Fanouts {
			runs = append(runs, overwrite(g, e, seed, f, lat))
		}
		if e != "raw" {
			for _, d := range Depths {
				runs = append(runs, chainread(g, e, seed, d, lat))
			}
		}
	}
	results.SortRuns(runs)
	return runs
}

type latFn func(engine string, d time.Duration) time.Duration

// writeCost is the median base write latency for an engine at a fan-out.
func writeCost(engine string, fanout int) time.Duration {
	switch engine {
	case "cow":
		return 60*us + time.Duration(fanout)*45*us // a copy into every delta
	case "mirror":
		return 60*us + time.Duration(fanout)*20*us // a write to every mirror
	case "row":
		return 85 * us
	case "linked":
		return 75 * us
	case "full":
		return 58 * us
	}
	return 55 * us
}

func snaptree(g *gen, e string, seed uint64, lat latFn) *results.Run {
	r := baseRun(e, "snaptree", seed)
	r.Params["snapshot_every"] = "1000"
	r.Params["retain"] = "16"
	fill := g.phase("fill", Epoch, 4, opSpec{results.OpWrite, 800, lat(e, 50*us), 0.3, 64 << 10})
	amplify(&fill, 1, 0, 1)
	fill.Space = results.SpaceChange{Before: space(8*gb, 0, 4*mb), After: space(8*gb, 1*gb, 4*mb)}
	r.Phases = append(r.Phases, fill)
	if e == "raw" {
		r.Phases = append(r.Phases,
			results.Phase{Name: "steady", Unsupported: "raw: no snapshots"},
			results.Phase{Name: "restore", Unsupported: "raw: no snapshots"})
		r.Seconds = 4
		return r
	}
	w := writeCost(e, 8)
	steady := g.phase("steady", Epoch.Add(4*time.Second), 20,
		opSpec{results.OpWrite, 1200, lat(e, w), 0.5, 4096},
		opSpec{results.OpRead, 600, lat(e, 70*us), 0.4, 4096},
		opSpec{results.OpSnapshot, 16, lat(e, 3*ms), 0.3, 0},
		opSpec{results.OpExpire, 8, lat(e, 5*ms), 0.3, 0})
	wamp := map[string]float64{"full": 1.0, "cow": 3.5, "row": 1.3, "linked": 1.2, "mirror": 9}[e]
	amplify(&steady, wamp, 1.1, 1.2)
	steady.Space = results.SpaceChange{Before: fill.Space.After, After: space(8*gb, 1*gb+int64(wamp*200)*mb, 12*mb)}
	steady.Metrics = map[string]float64{"snapshots_taken": 16, "live_snapshots": 8}
	var pts, means [][2]float64
	for n := 1; n <= 16; n++ {
		pts = append(pts, [2]float64{float64(n), float64(lat(e, writeCost(e, n))) * 2.5})
		means = append(means, [2]float64{float64(n), float64(lat(e, writeCost(e, n)))})
	}
	steady.Series = []results.Series{{Name: "base_write_p99", XUnit: "live snapshots", YUnit: "ns", Points: pts},
		{Name: "base_write_mean", XUnit: "live snapshots", YUnit: "ns", Points: means}}
	restore := g.phase("restore", Epoch.Add(24*time.Second), 6, opSpec{results.OpRead, 800, lat(e, 90*us), 0.4, 64 << 10})
	amplify(&restore, 1, 1.05, 1.1)
	restore.Space = results.SpaceChange{Before: steady.Space.After, After: steady.Space.After}
	r.Phases = append(r.Phases, steady, restore)
	r.Seconds = 30
	return r
}

func clonebushRun(g *gen, e string, seed uint64, lat latFn) *results.Run {
	r := baseRun(e, "clonebush", seed)
	r.Params["clones"] = "1000"
	if e == "raw" {
		r.Status = results.StatusUnsupported
		r.Reason = "raw: no clones"
		return r
	}
	fill := g.phase("fill", Epoch, 4, opSpec{results.OpWrite, 400, lat(e, 50*us), 0.3, 64 << 10})
	amplify(&fill, 1, 0, 1)
	fill.Space = results.SpaceChange{Before: space(64*gb, 0, 4*mb), After: space(64*gb, 2*gb, 4*mb)}
	cloneCost := map[string]time.Duration{"full": 900 * ms, "cow": 2 * ms, "row": 150 * us, "linked": 400 * us, "mirror": 950 * ms}[e]
	perClone := map[string]float64{"full": 2 << 30, "cow": 256 << 20, "row": 64 << 10, "linked": 1 << 20, "mirror": 2 << 30}[e]
	burstS := float64(lat(e, cloneCost)) * 1000 / 1e9
	burst := g.phase("burst", Epoch.Add(4*time.Second), burstS, opSpec{results.OpClone, 1000, lat(e, cloneCost), 0.2, 0})
	burst.Metrics = map[string]float64{"clones": 1000, "burst_s": burstS, "space_per_clone_bytes": perClone}
	burst.Space = results.SpaceChange{Before: fill.Space.After, After: space(64*gb, 2*gb+int64(perClone)*1000/16, 40*mb)}
	r.Phases = append(r.Phases, fill, burst)
	del := results.Phase{Name: "delete-template", Seconds: 0.01, Metrics: map[string]float64{"template_deleted": 1}}
	switch e {
	case "cow", "mirror":
		del = results.Phase{Name: "delete-template", Unsupported: e + ": the source has dependent clones"}
	case "full":
		del.Metrics["template_deleted"] = 1
	}
	r.Phases = append(r.Phases, del)
	bootR := map[string]time.Duration{"full": 90 * us, "cow": 180 * us, "row": 110 * us, "linked": 95 * us, "mirror": 90 * us}[e]
	bootW := map[string]time.Duration{"full": 70 * us, "cow": 900 * us, "row": 120 * us, "linked": 130 * us, "mirror": 75 * us}[e]
	boot := g.phase("boot", Epoch.Add(10*time.Second), 30,
		opSpec{results.OpRead, 1600, lat(e, bootR), 0.8, 4096},
		opSpec{results.OpWrite, 800, lat(e, bootW), 0.9, 4096})
	amplify(&boot, map[string]float64{"full": 1, "cow": 4, "row": 1.2, "linked": 1.5, "mirror": 1}[e], 1.1, 1.2)
	boot.Metrics = map[string]float64{"space_per_clone_bytes": perClone + 8<<20}
	r.Phases = append(r.Phases, boot)
	r.Seconds = 40 + burstS
	return r
}

func overwrite(g *gen, e string, seed uint64, fanout int, lat latFn) *results.Run {
	r := baseRun(e, "overwrite", seed)
	r.Params["sweep_param"] = "fanout"
	r.Params["fanout"] = strconv.Itoa(fanout)
	w := writeCost(e, fanout)
	p := g.phase("overwrite", Epoch, 10, opSpec{results.OpWrite, 800, lat(e, w), 0.35, 4096})
	wamp := 1.0
	switch e {
	case "cow":
		wamp = 1 + float64(fanout)*16 // one 64 KiB chunk copy per delta, per 4 KiB write
	case "mirror":
		wamp = 1 + float64(fanout)
	case "row":
		wamp = 1.3
	}
	amplify(&p, wamp, 0, 1)
	p.Metrics = map[string]float64{"fanout": float64(fanout)}
	r.Phases = []results.Phase{p}
	r.Seconds = 10
	return r
}

func chainread(g *gen, e string, seed uint64, depth int, lat latFn) *results.Run {
	r := baseRun(e, "chainread", seed)
	r.Params["sweep_param"] = "depth"
	r.Params["depth"] = strconv.Itoa(depth)
	if e == "cow" && depth > 1 {
		r.Status = results.StatusUnsupported
		r.Reason = "cow: snapshots of snapshots"
		return r
	}
	cost := 70 * us
	switch e {
	case "linked":
		cost += time.Duration(depth) * 12 * us
	case "row":
		cost += time.Duration(math.Log2(float64(depth))+1) * 4 * us
	}
	p := g.phase("read", Epoch, 8, opSpec{results.OpRead, 800, lat(e, cost), 0.3, 4096})
	amplify(&p, 1, 1, 1+float64(depth)*0.05)
	p.Metrics = map[string]float64{"depth": float64(depth)}
	r.Phases = []results.Phase{p}
	r.Seconds = 8
	return r
}
