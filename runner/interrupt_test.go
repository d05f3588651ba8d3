package runner

import (
	"context"
	"errors"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/workloads"
)

// An interruption during --precondition is an interruption (the CLI exits
// 130 or 143 and says so), not a failure reading "context canceled".
func TestPreconditionInterrupted(t *testing.T) {
	sc, err := workloads.NewScenario("overwrite", map[string]string{"volume_size": "4m"})
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{TempDir: t.TempDir(), Size: 64 << 20, Engines: []string{"row"}, Runs: []workloads.Scenario{sc},
		Out: t.TempDir(), Precondition: true, Direct: device.DirectPreferred}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := Run(ctx, c)
	if !out.Interrupted || !errors.Is(err, context.Canceled) || len(out.Runs) != 0 {
		t.Errorf("Run = %+v, %v; want interrupted, context.Canceled, no runs", out, err)
	}
}
