package workloads

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// Every scenario of the quick suite runs, verified, on an engine with
// every capability.
func TestQuickSuiteOnMemEngine(t *testing.T) {
	for _, sc := range quickRuns(t) {
		name := sc.Name
		if sc.Label != "" {
			name = sc.Label
		}
		t.Run(name, func(t *testing.T) {
			env := testEnv(t, "wltest", 64<<20, map[string]string{"capacity": "200"})
			run := runOK(t, env, sc)
			t.Logf("%s: %s (%d reads verified)", name, phaseNames(run), reads(run))
			if sc.Name != "exhaust" && reads(run) == 0 && sc.Name != "overwrite" {
				t.Errorf("%s verified no reads", name)
			}
		})
	}
}

// Every scenario runs on raw: those that need snapshots or clones come back
// unsupported, with the phases that could run kept.
func TestScenariosOnRaw(t *testing.T) {
	want := map[string]string{
		"io": results.StatusOK, "snaptree": results.StatusUnsupported, "clonebush": results.StatusUnsupported,
		"overwrite": results.StatusUnsupported, "chainread": results.StatusUnsupported, "exhaust": results.StatusUnsupported,
	}
	for _, sc := range quickRuns(t) {
		if sc.Label != "" {
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			env := testEnv(t, "raw", 16<<20, nil)
			run, err := RunScenario(context.Background(), env, sc)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != want[sc.Name] {
				t.Fatalf("status %s (%s), want %s", run.Status, run.Reason, want[sc.Name])
			}
			if run.Status == results.StatusUnsupported {
				if !strings.Contains(run.Reason, "unsupported") || len(run.Phases) < 2 {
					t.Fatalf("reason %q, phases %s", run.Reason, phaseNames(run))
				}
				last := run.Phases[len(run.Phases)-1]
				if last.Unsupported == "" {
					t.Fatalf("last phase %s not marked unsupported: %s", last.Name, phaseNames(run))
				}
			}
			if err := env.Engine.Check(); err != nil {
				t.Fatal(err)
			}
			checkRunFile(t, run)
			t.Logf("%s: %s: %s", sc.Name, run.Status, phaseNames(run))
		})
	}
	// Depth 0 and fan-out 0 need no copies: those points run on raw.
	env := testEnv(t, "raw", 16<<20, nil)
	runOK(t, env, mustScenario(t, "chainread", "volume_size=4m", "depths=0", "ops=500"))
	env = testEnv(t, "raw", 16<<20, nil)
	run := runOK(t, env, mustScenario(t, "overwrite", "volume_size=4m", "fanout=0", "ops=500"))
	if p := run.Phase("overwrite"); p == nil || p.Metrics["device_writes_per_write"] != 1 {
		t.Fatalf("raw overwrite: %+v", p)
	}
}

// An engine without nested copies or deleting parents: the optional parts
// are reported, the rest runs.
func TestScenariosOnLimitedEngine(t *testing.T) {
	limited := map[string]string{"nested": "false", "delete_parent": "false", "batch": "false"}
	env := testEnv(t, "wltest", 64<<20, limited)
	run := runOK(t, env, mustScenario(t, "snaptree", "volume_size=2m", "ops=1024", "every=128", "retain=3", "branch=1", "restore_bs=64k"))
	if p := run.Phase("steady"); p.Metrics["branching_unsupported"] != 1 || p.Metrics["expired"] == 0 {
		t.Fatalf("steady metrics %v", p.Metrics)
	}

	env = testEnv(t, "wltest", 64<<20, limited)
	run = runOK(t, env, mustScenario(t, "clonebush", "volume_size=2m", "working_set=1m", "fill=1m", "boot_size=256k",
		"clones=5", "ops=200", "delete_template=true"))
	if p := run.Phase("delete-template"); p == nil || p.Unsupported == "" {
		t.Fatalf("delete-template: %s", phaseNames(run))
	}
	if p := run.Phase("burst"); p.Metrics["batched"] != 0 || p.Ops[results.OpClone].Count != 5 {
		t.Fatalf("unbatched burst: %v %v", p.Metrics, p.Ops[results.OpClone])
	}
	if run.Phase("refresh") == nil {
		t.Fatalf("refresh should run when the template survives: %s", phaseNames(run))
	}

	env = testEnv(t, "wltest", 64<<20, limited)
	run, err := RunScenario(context.Background(), env, mustScenario(t, "chainread", "volume_size=2m", "chain=clones", "depths=1,2", "ops=100"))
	if err != nil || run.Status != results.StatusUnsupported || !strings.Contains(run.Reason, "clones of clones") {
		t.Fatalf("chainread clones: %v %s %s", err, run.Status, run.Reason)
	}
	if run.Phase("read") == nil {
		t.Fatalf("depth 1 should have been read: %s", phaseNames(run))
	}
}

// The clone burst, boot storm and space metrics the report reads.
func TestClonebushMetrics(t *testing.T) {
	env := testEnv(t, "wltest", 64<<20, nil)
	sc := mustScenario(t, "clonebush", "volume_size=2m", "working_set=1m", "fill=1m", "boot_size=512k", "boot_bs=64k",
		"clones=10", "boot_writes=4", "ops=300", "delete_template=true", "qd=3")
	run := runOK(t, env, sc)
	burst := run.Phase("burst")
	if burst.Metrics["clones"] != 10 || burst.Metrics["burst_s"] <= 0 || burst.Metrics["batched"] != 1 {
		t.Fatalf("burst metrics %v", burst.Metrics)
	}
	boot := run.Phase("boot")
	if got := boot.Ops[results.OpBoot].Count; got != 10 {
		t.Fatalf("boot ops %d, want one per clone", got)
	}
	// Each boot: 8 reads of 64k and 4 writes of 4k.
	if r, w := boot.Ops[results.OpRead].Count, boot.Ops[results.OpWrite].Count; r != 80 || w != 40 {
		t.Fatalf("boot reads %d writes %d", r, w)
	}
	if boot.Metrics["space_per_clone_bytes"] <= 0 || boot.Metrics["all_booted_s"] <= 0 {
		t.Fatalf("boot metrics %v", boot.Metrics)
	}
	if p := run.Phase("delete-template"); p.Metrics["template_deleted"] != 1 {
		t.Fatalf("delete-template %v", p.Metrics)
	}
	if run.Phase("refresh") != nil {
		t.Fatal("refresh ran without a template")
	}
}

// snaptree records base write latency per live snapshot count.
func TestSnaptreeSeries(t *testing.T) {
	env := testEnv(t, "wltest", 64<<20, nil)
	run := runOK(t, env, mustScenario(t, "snaptree", "volume_size=2m", "ops=2048", "every=256", "retain=4",
		"branch=0.5", "branch_ops=16", "restore_bs=64k", "restore_ops=100"))
	steady := run.Phase("steady")
	var curve *results.Series
	for i := range steady.Series {
		if steady.Series[i].Name == "base_write_p99" {
			curve = &steady.Series[i]
		}
	}
	if curve == nil || curve.XUnit != "live snapshots" || curve.YUnit != "ns" || len(curve.Points) != 5 {
		t.Fatalf("base_write_p99 series: %+v", curve)
	}
	for i, pt := range curve.Points {
		if pt[0] != float64(i) {
			t.Fatalf("live counts %v", curve.Points)
		}
	}
	if steady.Metrics["snapshots"] != 8 || steady.Metrics["expired"] != 4 || steady.Metrics["live_snapshots"] != 4 {
		t.Fatalf("steady metrics %v", steady.Metrics)
	}
	if steady.Ops[results.OpWrite].Count != 2048 {
		t.Fatalf("base writes %d", steady.Ops[results.OpWrite].Count)
	}
	if p := run.Phase("restore-seq"); p.Ops[results.OpRead].Count != 32 {
		t.Fatalf("restore-seq reads %d, want 2m/64k", p.Ops[results.OpRead].Count)
	}
}

// exhaust fills the engine and verifies the survivors.
func TestExhaust(t *testing.T) {
	env := testEnv(t, "wltest", 64<<20, map[string]string{"capacity": "100"})
	run := runOK(t, env, mustScenario(t, "exhaust", "volume_size=2m", "round_ops=128", "clone_ops=32", "after_ops=64", "qd=2"))
	fu := run.Phase("fill-up")
	if fu.Metrics["full"] != 1 || fu.Metrics["rounds"] < 2 {
		t.Fatalf("fill-up %v", fu.Metrics)
	}
	v := run.Phase("verify")
	if v.Metrics["verified_volumes"] < 3 || v.Metrics["verified_volumes"] != v.Metrics["surviving_volumes"] {
		t.Fatalf("verify %v", v.Metrics)
	}
	t.Logf("fill-up %v after %v verify %v", fu.Metrics, run.Phase("after-full").Metrics, v.Metrics)
}

// Queue depth above 1, with verification, on every scenario.
func TestQueueDepth(t *testing.T) {
	for _, sc := range quickRuns(t) {
		if sc.Label != "" {
			continue
		}
		sc.QD = 2
		if sc.Name == "snaptree" || sc.Name == "overwrite" || sc.Name == "io" {
			sc.QD = 2
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		t.Run(sc.Name, func(t *testing.T) {
			env := testEnv(t, "wltest", 64<<20, map[string]string{"capacity": "200"})
			runOK(t, env, sc)
		})
	}
	env := testEnv(t, "raw", 64<<20, nil)
	runOK(t, env, mustScenario(t, "io", "volume_size=16m", "qd=4", "ops=20000", "bs=4k:75,16k:25", "prefill=true", "dist=zipf:0.9"))
}

// Same seed, qd 1: the same engine calls and device operations.
func TestDeterministic(t *testing.T) {
	counters := func(engine string, sc Scenario) ([]string, uint64) {
		env := testEnv(t, engine, 64<<20, nil)
		run := runOK(t, env, sc)
		var out []string
		for _, p := range run.Phases {
			out = append(out, p.Name+": "+device.Counters(p.Device).String()+" "+opsSummary(p))
		}
		var dig uint64
		if m, ok := env.Engine.(memBatchEngine); ok {
			dig = m.digest()
		}
		return out, dig
	}
	for _, sc := range quickRuns(t) {
		sc.Verify = VerifyStamp
		a, da := counters("wltest", sc)
		b, db := counters("wltest", sc)
		if strings.Join(a, "\n") != strings.Join(b, "\n") || da != db {
			t.Fatalf("%s: two runs differ:\n%s\n--\n%s", sc.Name, strings.Join(a, "\n"), strings.Join(b, "\n"))
		}
		sc.Seed++
		if _, dc := counters("wltest", sc); dc == da && sc.Name == "snaptree" {
			t.Errorf("%s: another seed gave the same content", sc.Name)
		}
	}
	io := mustScenario(t, "io", "volume_size=8m", "prefill=true", "ops=3000", "bs=4k,64k")
	a, _ := counters("raw", io)
	b, _ := counters("raw", io)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("raw io differs:\n%s\n--\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

func opsSummary(p results.Phase) string {
	var parts []string
	for _, op := range []results.Op{results.OpRead, results.OpWrite, results.OpSnapshot, results.OpClone, results.OpDelete} {
		if o, ok := p.Ops[op]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d/%d", op, o.Count, o.Bytes))
		}
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" logical=%+v", p.Logical)
}

// Cancelling the context stops the run cleanly: incomplete, measurements kept.
func TestCancel(t *testing.T) {
	env := testEnv(t, "raw", 64<<20, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.Progress = func(u ProgressUpdate) {
		if u.Phase == "io" && u.Done > 0 {
			cancel()
		}
	}
	sc := mustScenario(t, "io", "volume_size=16m", "ops=0", "duration=1h")
	run, err := RunScenario(ctx, env, sc)
	if !errors.Is(err, context.Canceled) || run.Status != results.StatusIncomplete {
		t.Fatalf("err %v status %s", err, run.Status)
	}
	p := run.Phase("io")
	if p == nil || p.Metrics["interrupted"] != 1 || p.Logical.Reads+p.Logical.Writes == 0 {
		t.Fatalf("io phase %+v", p)
	}
}

// The log and progress callbacks see every phase.
func TestLogAndProgress(t *testing.T) {
	env := testEnv(t, "wltest", 64<<20, nil)
	var log strings.Builder
	env.Log = &log
	var ends []string
	env.Progress = func(u ProgressUpdate) {
		if u.PhaseEnd {
			ends = append(ends, u.Phase)
		}
	}
	runOK(t, env, mustScenario(t, "overwrite", "volume_size=2m", "fanout=0,2", "ops=100"))
	if got := strings.Join(ends, ","); got != "create,prefill,overwrite,deps,overwrite,check" {
		t.Fatalf("progress phase ends %q", got)
	}
	if !strings.Contains(log.String(), "overwrite/deps:") || !strings.Contains(log.String(), "overwrite on wltest: ok") {
		t.Fatalf("log:\n%s", log.String())
	}
}

// A sweep expands into one point per value, each a run of its own with the
// sweep keys set in its Params.
func TestSweep(t *testing.T) {
	sc := mustScenario(t, "sweep", "of=overwrite", "param=fanout", "values=1,3", "volume_size=2m", "ops=64")
	pts, err := sc.Points()
	if err != nil || len(pts) != 2 {
		t.Fatal(pts, err)
	}
	runs, err := RunSweep(context.Background(), sc, func(pt Point) (Env, error) {
		return testEnv(t, "wltest", 64<<20, nil), nil
	})
	if err != nil || len(runs) != 2 {
		t.Fatal(err, len(runs))
	}
	for i, r := range runs {
		if r.Scenario != "overwrite" || r.Params[results.SweepParamKey] != "fanout" || r.Params["fanout"] != []string{"1", "3"}[i] {
			t.Fatalf("run %d: %s %v", i, r.Scenario, r.Params)
		}
		if v, ok := r.SweepValue(); !ok || v != []float64{1, 3}[i] {
			t.Fatalf("sweep value %v %v", v, ok)
		}
	}
	chunk := mustScenario(t, "sweep", "of=io", "param=chunk", "values=4k,1m", "ops=10")
	pts, err = chunk.Points()
	if err != nil || pts[0].ChunkSize != 4096 || pts[1].ChunkSize != 1<<20 || pts[1].Scenario.Values()["chunk"] != "1m" {
		t.Fatalf("chunk points %+v %v", pts, err)
	}
	if _, err := RunScenario(context.Background(), testEnv(t, "raw", 16<<20, nil), sc); err == nil {
		t.Fatal("RunScenario ran a sweep")
	}
}

// Run.Params is the full configuration.
func TestRunParams(t *testing.T) {
	env := testEnv(t, "raw", 16<<20, nil)
	run := runOK(t, env, mustScenario(t, "io", "volume_size=4m", "ops=10", "bs=4k:80,64k:20"))
	for k, v := range map[string]string{"bs": "4k:80,64k:20", "volume_size": "4m", "verify": "stamp", "qd": "1", "seed": "1", "prefill": "false"} {
		if run.Params[k] != v {
			t.Errorf("Params[%s] = %q, want %q", k, run.Params[k], v)
		}
	}
	if run.Engine != "raw" || run.Schema != results.SchemaVersion || run.Device.Kind != "mem" {
		t.Errorf("run header %+v", run)
	}
	_ = strategies.ErrUnsupported
}

// A rate limit spaces the ops out.
func TestRateLimit(t *testing.T) {
	env := testEnv(t, "raw", 16<<20, nil)
	run := runOK(t, env, mustScenario(t, "io", "volume_size=4m", "ops=300", "rate=3000", "qd=2"))
	if s := run.Phase("io").Seconds; s < 0.09 {
		t.Fatalf("300 ops at 3000/s took %.3fs", s)
	}
}

// Verification off: nothing is stamped or checked, every scenario still runs.
func TestVerifyOff(t *testing.T) {
	for _, sc := range quickRuns(t) {
		sc.Verify = VerifyOff
		runOK(t, testEnv(t, "wltest", 64<<20, map[string]string{"capacity": "200"}), sc)
	}
}

func TestRegisterRefusesDuplicates(t *testing.T) {
	before := Names()
	cases := []struct {
		name string
		def  *scenarioDef
	}{
		{"taken name", &scenarioDef{name: before[0], order: 1 << 20}},
		{"taken order", &scenarioDef{name: "no-such-scenario", order: registry[0].order}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("register(%q, order %d) did not panic", c.def.name, c.def.order)
				}
			}()
			register(c.def)
		})
	}
	if got := Names(); !slices.Equal(got, before) {
		t.Errorf("refused registrations changed the registry: %v, was %v", got, before)
	}
	for i := 1; i < len(registry); i++ {
		if registry[i-1].order >= registry[i].order {
			t.Errorf("registry out of order: %q (%d) before %q (%d)", registry[i-1].name, registry[i-1].order, registry[i].name, registry[i].order)
		}
	}
}
