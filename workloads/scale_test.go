package workloads

import (
	"testing"

	"github.com/snapbench/snapbench/results"
)

// scale makes clones block by block, reports per-block time and metadata
// per clone, and deletes them with DeleteMany.
func TestScale(t *testing.T) {
	for _, batch := range []string{"true", "false"} {
		t.Run("batch="+batch, func(t *testing.T) {
			env := testEnv(t, "wltest", 64<<20, nil)
			run := runOK(t, env, mustScenario(t, "scale", "volume_size=16m", "fill=256k", "clones=25", "block=10", "batch="+batch))
			cl := run.Phase("clones")
			if cl == nil || cl.Metrics["clones"] != 25 || cl.Metrics["blocks"] != 3 || cl.Metrics["first_block_clone_us"] <= 0 {
				t.Fatalf("clones phase: %+v", cl)
			}
			var pts [][2]float64
			for _, s := range cl.Series {
				if s.Name == "clone_us_per_clone" {
					pts = s.Points
				}
			}
			if len(pts) != 3 || pts[0][0] != 10 || pts[2][0] != 25 {
				t.Fatalf("clone_us_per_clone points %v", pts)
			}
			if _, ok := cl.Metrics["metadata_per_clone_bytes"]; !ok {
				t.Fatalf("no metadata per clone: %v", cl.Metrics)
			}
			if sn := run.Phase("snapshot"); sn == nil || sn.Ops[results.OpSnapshot].Count != 1 || sn.Ops[results.OpDelete].Count != 1 {
				t.Fatalf("snapshot phase %+v", sn)
			}
			del := run.Phase("delete")
			if del == nil || del.Ops[results.OpDelete].Count != 3 || del.Metrics["clones"] != 25 {
				t.Fatalf("delete phase %+v", del)
			}
			if n := len(env.Engine.Volumes()); n != 1 {
				t.Fatalf("%d volumes left, want the template", n)
			}
		})
	}
}

// A thin scale point needs a device for its fill, not for its volume size.
func TestScaleDeviceNeeded(t *testing.T) {
	sc := mustScenario(t, "scale", "volume_size=1t", "fill=1m", "clones=100")
	if n := sc.DeviceNeeded(); n != 8<<20 {
		t.Fatalf("DeviceNeeded %d", n)
	}
	if n := mustScenario(t, "io", "volume_size=64m").DeviceNeeded(); n != 128<<20 {
		t.Fatalf("io DeviceNeeded %d", n)
	}
}
