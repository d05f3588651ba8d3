package workloads

import (
	"context"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/raw"
)

// testEnv formats engine on a fresh counting Mem device of size bytes.
func testEnv(t testing.TB, engine string, size int64, params map[string]string) Env {
	t.Helper()
	mem, err := device.NewMem(size, device.MemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return testEnvOn(t, engine, mem, params)
}

func testEnvOn(t testing.TB, engine string, dev device.Device, params map[string]string) Env {
	t.Helper()
	cnt := device.NewCounting(dev)
	eng, err := strategies.Format(engine, cnt, strategies.Options{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return Env{Engine: eng, Counting: cnt, EngineOptions: "test"}
}

// mustScenario builds a scenario or fails the test.
func mustScenario(t testing.TB, name string, kv ...string) Scenario {
	t.Helper()
	set, err := ParseSet(kv)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := NewScenario(name, set)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// quickRuns is the quick suite (every scenario at toy scale).
func quickRuns(t testing.TB) []Scenario {
	t.Helper()
	sp, err := BuiltinSpec("quick")
	if err != nil {
		t.Fatal(err)
	}
	return sp.Runs
}

func runOK(t *testing.T, env Env, sc Scenario) *results.Run {
	t.Helper()
	run, err := RunScenario(context.Background(), env, sc)
	if err != nil {
		t.Fatalf("%s on %s: %v", sc.Name, env.Engine.Name(), err)
	}
	if run.Status != results.StatusOK {
		t.Fatalf("%s on %s: status %s: %s", sc.Name, env.Engine.Name(), run.Status, run.Reason)
	}
	if err := env.Engine.Check(); err != nil {
		t.Fatalf("%s on %s: engine check: %v", sc.Name, env.Engine.Name(), err)
	}
	checkRunFile(t, run)
	return run
}

// checkRunFile writes run as a result file and reads it back.
func checkRunFile(t *testing.T, run *results.Run) {
	t.Helper()
	if err := run.Validate(); err != nil {
		t.Fatalf("result does not validate: %v", err)
	}
	path, err := results.Write(t.TempDir(), run)
	if err != nil {
		t.Fatal(err)
	}
	back, err := results.Load(path)
	if err != nil || len(back.Phases) != len(run.Phases) || back.Status != run.Status {
		t.Fatalf("result file: %v", err)
	}
}

func phaseNames(run *results.Run) string {
	var out []string
	for _, p := range run.Phases {
		n := p.Name
		if p.Unsupported != "" {
			n += "(unsupported)"
		}
		out = append(out, n)
	}
	return strings.Join(out, " ")
}

// reads counts the verified reads of a run.
func reads(run *results.Run) int64 {
	n := int64(0)
	for _, p := range run.Phases {
		n += p.Logical.Reads
	}
	return n
}
