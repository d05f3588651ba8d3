package main

// The engines this binary can format and open: each registers itself with
// strategies.Register when imported. Add a new engine here. btrfs, qcow2,
// rbd and xfsreflink are the real-system peers (run only when named).
import (
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"

	_ "github.com/snapbench/snapbench/strategies/btrfs"
	_ "github.com/snapbench/snapbench/strategies/qcow2"
	_ "github.com/snapbench/snapbench/strategies/rbd"
	_ "github.com/snapbench/snapbench/strategies/xfsreflink"

	_ "github.com/snapbench/snapbench/strategies/cow"
	_ "github.com/snapbench/snapbench/strategies/full"
	_ "github.com/snapbench/snapbench/strategies/linked"
	_ "github.com/snapbench/snapbench/strategies/mirror"
	_ "github.com/snapbench/snapbench/strategies/raw"
	_ "github.com/snapbench/snapbench/strategies/row"
)

// The engines order themselves in tables and legends and name the
// baseline compare divides by (strategies.Factory's Order and Baseline);
// this init runs after every engine above has registered.
func init() { results.SetEngines(strategies.Ranked(), strategies.Baseline()) }
