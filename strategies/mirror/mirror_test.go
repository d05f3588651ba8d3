package mirror_test

import (
	"flag"
	"os"
	"testing"

	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/mirror"
	"github.com/snapbench/snapbench/strategies/strategytest"
)

// TestConformance runs the shared suite with the default options (no
// mirror is attached until a snapshot or clone establishes one) at the
// suite's default budget.
func TestConformance(t *testing.T) {
	strategytest.Run(t, strategytest.Config{Engine: "mirror"})
}

// TestConformanceMirrored runs the suite with auto-mirrors=1: every base has
// a mirror attached from its creation, so base writes fan out, splits are
// instant and establish replacements, and deleting a split recycles it. The
// scripted and concurrent cases run in full; the random sequences and crash
// points, which repeat TestConformance's operation mix, run at a smaller
// budget (100 and 40, about what the secondary configurations of row use), except
// in long mode, where both configurations get the full depth.
func TestConformanceMirrored(t *testing.T) {
	cfg := strategytest.Config{Engine: "mirror",
		Options: strategies.Options{Params: map[string]string{"auto-mirrors": "1"}}}
	if !longMode() {
		cfg.Sequences, cfg.CrashPoints = 100, 40
	}
	strategytest.Run(t, cfg)
}

// longMode reports whether the suite runs in its long mode
// (-strategytest.long or SNAPBENCH_LONG), as strategytest decides it.
func longMode() bool {
	f := flag.Lookup("strategytest.long")
	return os.Getenv("SNAPBENCH_LONG") != "" || f != nil && f.Value.String() == "true"
}
