package workloads

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// rawData is where a raw volume's offset 0 sits on the device: after the
// snapbench superblock area and raw's own metadata.
const rawData = strategies.ReservedBytes + 1<<20

func faultyEnv(t *testing.T, inj device.Injector) Env {
	mem, err := device.NewMem(32<<20, device.MemOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return testEnvOn(t, "raw", device.NewFaulty(mem, inj), nil)
}

func expectMismatch(t *testing.T, env Env, sc Scenario, lo, hi int64, detail string) *MismatchError {
	t.Helper()
	run, err := RunScenario(context.Background(), env, sc)
	var me *MismatchError
	if !errors.As(err, &me) || !errors.Is(err, ErrMismatch) {
		t.Fatalf("err %v, want a mismatch (status %s)", err, run.Status)
	}
	if run.Status != results.StatusFailed || run.Reason != err.Error() {
		t.Fatalf("status %s reason %q", run.Status, run.Reason)
	}
	if me.Volume != "base" || me.Offset < lo || me.Offset >= hi || !strings.Contains(me.Detail, detail) {
		t.Fatalf("mismatch %v, want volume base, offset in [%d,%d), detail %q", me, lo, hi, detail)
	}
	if p := run.Phases[len(run.Phases)-1]; p.Metrics["failed"] != 1 {
		t.Fatalf("failed phase not marked: %+v", p.Metrics)
	}
	t.Log(err)
	return me
}

// Reads corrupted by the device fail full verification with the volume,
// the offset, what was expected and found.
func TestVerificationCatchesCorruptReads(t *testing.T) {
	env := faultyEnv(t, device.CorruptReadsIn(rawData+1<<20, rawData+2<<20))
	sc := mustScenario(t, "io", "volume_size=4m", "prefill=true", "read_pct=50", "ops=2000", "verify=full")
	me := expectMismatch(t, env, sc, 1<<20, 2<<20, "payload differs from it at byte 256 of the sector")
	if !strings.Contains(me.Error(), `volume "base"`) || !strings.Contains(me.Expected, "generation") ||
		!strings.Contains(me.Detail, "damaged after it was written") {
		t.Fatalf("message %q", me.Error())
	}
	// Stamp mode checks headers only: the same device passes.
	env = faultyEnv(t, device.CorruptReadsIn(rawData+1<<20, rawData+2<<20))
	sc.Verify = VerifyStamp
	runOK(t, env, sc)
}

// Lost writes are caught by the default stamp check: the reads find the
// older data.
func TestVerificationCatchesLostWrites(t *testing.T) {
	drop := device.InjectorFunc(func(op device.Op) device.Fault {
		return device.Fault{Drop: op.Kind == device.OpWrite && op.Len == 4096 && op.Off >= rawData+1<<20 && op.Off < rawData+2<<20}
	})
	env := faultyEnv(t, drop)
	sc := mustScenario(t, "io", "volume_size=4m", "prefill=true", "read_pct=50", "ops=4000")
	me := expectMismatch(t, env, sc, 1<<20, 2<<20, `stale: an older write of "base"`)
	if me.Found.Gen == 0 || me.Found.Offset != me.Offset {
		t.Fatalf("found %v", me.Found)
	}
	// Without prefill the lost writes read as zeros.
	env = faultyEnv(t, drop)
	sc = mustScenario(t, "io", "volume_size=4m", "read_pct=50", "ops=4000")
	expectMismatch(t, env, sc, 1<<20, 2<<20, "the sector reads as zeros")
}

// An engine that returns wrong data for clones fails clonebush on a clone.
func TestVerificationCatchesBrokenEngine(t *testing.T) {
	env := testEnv(t, "wltest", 64<<20, map[string]string{"corrupt": "true"})
	sc := mustScenario(t, "clonebush", "volume_size=2m", "working_set=1m", "fill=1m", "boot_size=256k", "clones=4", "verify=full")
	run, err := RunScenario(context.Background(), env, sc)
	var me *MismatchError
	if !errors.As(err, &me) || !strings.HasPrefix(me.Volume, "clone-") || run.Status != results.StatusFailed {
		t.Fatalf("err %v status %s", err, run.Status)
	}
	if run.Phases[len(run.Phases)-1].Name != "boot" {
		t.Fatalf("failed in %s", phaseNames(run))
	}
}
