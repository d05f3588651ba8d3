package workloads

import (
	"context"
	"testing"

	"github.com/snapbench/snapbench/results"
	_ "github.com/snapbench/snapbench/strategies/cow"
)

// overwritePhases returns the run's overwrite phases by fan-out.
func overwritePhases(run *results.Run) map[int]results.Phase {
	out := map[int]results.Phase{}
	for _, p := range run.Phases {
		if p.Name == "overwrite" {
			out[int(p.Metrics["fanout"])] = p
		}
	}
	return out
}

// A step of the overwrite scenario measures exactly N live dependents that
// share every chunk of the base: on cow, whose first write to a chunk
// copies it into every dependent that lacks it, the step at N after other
// steps costs what a fresh run at N costs. (Adding dependents to the
// previous step's instead would leave the chunks already copied for those
// free, and the step would measure fewer than N.) The volume is small
// enough for every chunk to be written in each step, so the copies are
// chunks × N either way.
func TestOverwriteStepHasNLiveDependents(t *testing.T) {
	const n = 6
	for _, tc := range []struct {
		name   string
		fanout string
	}{
		{"after-steps", "0,2,6"},
		{"fresh", "6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t, "cow", 64<<20, nil)
			run := runOK(t, env, mustScenario(t, "overwrite", "volume_size=1m", "fanout="+tc.fanout, "ops=400", "check_ops=64"))
			p, ok := overwritePhases(run)[n]
			if !ok {
				t.Fatalf("no overwrite phase at fanout %d: %s", n, phaseNames(run))
			}
			if got := p.Metrics["live_dependents"]; got != n {
				t.Errorf("live_dependents %v, want %d", got, n)
			}
			if got := p.Metrics["dependents_at_start"]; got != n {
				t.Errorf("dependents_at_start %v, want %d", got, n)
			}
			// 1 MiB = 16 chunks of 64 KiB, each copied into n deltas
			// before its first overwrite: at least 16*n chunk writes.
			if min := int64(16 * n * 64 << 10); p.Device.WriteBytes < min {
				t.Errorf("fan-out %d phase wrote %d device bytes, want at least %d (16 chunks × %d dependents)",
					n, p.Device.WriteBytes, min, n)
			}
			if p.Ops[results.OpFlush].Count != 1 {
				t.Errorf("overwrite phase has %d flushes, want the commit (1)", p.Ops[results.OpFlush].Count)
			}
		})
	}
}

// Every phase ends with a commit: what a phase deferred to the next flush
// (row's and linked's metadata) is counted in it.
func TestEveryPhaseCommits(t *testing.T) {
	env := testEnv(t, "cow", 64<<20, nil)
	run, err := RunScenario(context.Background(), env, mustScenario(t, "overwrite", "volume_size=1m", "fanout=0,2", "ops=64"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range run.Phases {
		if p.Ops[results.OpFlush].Count != 1 {
			t.Errorf("phase %s: %d flushes, want 1", p.Name, p.Ops[results.OpFlush].Count)
		}
	}
}
