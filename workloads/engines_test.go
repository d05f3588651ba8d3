package workloads

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/full"
)

// realEngines are the registered engines other than the test engine. Add
// an engine to the blank imports above when it lands and every scenario
// runs on it here.
func realEngines() []string {
	var out []string
	for _, n := range strategies.Names() {
		if n != "wltest" {
			out = append(out, n)
		}
	}
	return out
}

// Every scenario of the quick suite, verified, on every real engine:
// ok, or unsupported exactly where the engine's caps say so.
func TestQuickSuiteOnEngines(t *testing.T) {
	for _, engine := range realEngines() {
		for _, sc := range quickRuns(t) {
			name := engine + "/" + sc.Name
			if sc.Label != "" {
				name = engine + "/" + sc.Label
			}
			t.Run(name, func(t *testing.T) {
				env := testEnv(t, engine, 64<<20, nil)
				run, err := RunScenario(context.Background(), env, sc)
				if err != nil {
					t.Fatalf("%v (phases %s)", err, phaseNames(run))
				}
				if err := env.Engine.Check(); err != nil {
					t.Fatalf("engine check after %s: %v", sc.Name, err)
				}
				checkRunFile(t, run)
				caps := env.Engine.Caps()
				canCopy := caps.Snapshot || caps.Clone
				switch {
				case run.Status == results.StatusOK:
				case run.Status == results.StatusUnsupported && (!canCopy || sc.Name == "clonebush" && !caps.Clone):
				default:
					t.Fatalf("status %s: %s (caps %+v)", run.Status, run.Reason, caps)
				}
				t.Logf("%s: %s (%d reads verified)", run.Status, phaseNames(run), reads(run))
			})
		}
	}
}

// The default suite at default scale on a 1 GiB file, per engine: it must
// finish in well under a minute each. Long: set SNAPBENCH_LONG=1.
func TestDefaultScale(t *testing.T) {
	if os.Getenv("SNAPBENCH_LONG") == "" {
		t.Skip("set SNAPBENCH_LONG=1")
	}
	def, err := BuiltinSpec("default")
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range realEngines() {
		for _, sc := range def.Runs {
			t.Run(engine+"/"+sc.Name, func(t *testing.T) {
				f, err := device.Open(filepath.Join(t.TempDir(), "dev"), device.Options{Size: 1 << 30})
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				env := testEnvOn(t, engine, f, nil)
				t0 := time.Now()
				run, err := RunScenario(context.Background(), env, sc)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s in %v: %s", run.Status, time.Since(t0).Round(time.Millisecond), phaseNames(run))
				for _, p := range run.Phases {
					t.Logf("  %-15s %7.3fs dev %+v", p.Name, p.Seconds, p.Device)
				}
			})
		}
	}
}
