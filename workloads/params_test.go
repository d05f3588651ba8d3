package workloads

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "4k": 4096, "4K": 4096, "64KiB": 64 << 10, "1m": 1 << 20,
		"1MB": 1 << 20, "1.5m": 3 << 19, "2g": 2 << 30, "0": 0} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "-4k", "1.1", "4x", "99999999999t"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	for _, n := range []int64{4096, 64 << 20, 1000, 3 << 19} {
		if got, _ := ParseSize(FormatSize(n)); got != n {
			t.Errorf("FormatSize(%d) = %q does not read back", n, FormatSize(n))
		}
	}
}

// Bad input is rejected with the key, the value and why.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		scenario string
		set      []string
		key, why string
	}{
		{"snaptree", []string{"snapshot=4"}, "snapshot", "unknown key"},
		{"snaptree", []string{"bs=1000"}, "bs", "not a positive multiple of the 512-byte sector"},
		{"snaptree", []string{"bs=4k,6k"}, "bs", "multiple of the smallest"},
		{"io", []string{"working_set=128m"}, "working_set", "larger than the volume"},
		{"io", []string{"rate=-5"}, "rate", "must be from 0"},
		{"io", []string{"read_pct=120"}, "read_pct", "must be from 0 to 100"},
		{"io", []string{"dist=zipf:1"}, "dist", "theta != 1"},
		{"io", []string{"dist=hotspot:90"}, "dist", "hotspot:OPS_PCT:SPACE_PCT"},
		{"io", []string{"dist=pareto"}, "dist", "want uniform"},
		{"io", []string{"qd=0"}, "qd", "from 1 to 1024"},
		{"io", []string{"volume_size=1500k"}, "volume_size", "multiple of 1m"},
		{"io", []string{"ops=0"}, "ops", "never end"},
		{"io", []string{"ops=-1"}, "ops", "at least 0"},
		{"io", []string{"duration=-1s"}, "duration", "negative"},
		{"io", []string{"verify=maybe"}, "verify", "stamp, full or off"},
		{"io", []string{"volume_size=1m", "working_set=1m", "bs=64k", "qd=32"}, "qd", "fewer than qd workers"},
		{"io", []string{"working_set=102k", "volume_size=1m"}, "working_set", "multiple of 4k"},
		{"snaptree", []string{"every=0"}, "every", "positive"},
		{"snaptree", []string{"branch=1.5"}, "branch", "from 0 to 1"},
		{"snaptree", []string{"restore_bs=3m"}, "restore_bs", "divides the working set"},
		{"clonebush", []string{"fill=16m"}, "fill", "larger than the volume"},
		{"clonebush", []string{"boot_size=8m"}, "boot_size", "larger than the filled template"},
		{"clonebush", []string{"clones=0"}, "clones", "from 1"},
		{"overwrite", []string{"fanout=4,1"}, "fanout", "ascending"},
		{"overwrite", []string{"kind=mirror"}, "kind", "one of snapshot, clone"},
		{"chainread", []string{"depths="}, "depths", "empty"},
		{"sweep", []string{"qd=2"}, "qd", "set \"of\" first"},
		{"sweep", []string{"of=overwrite", "values=1,2"}, "param", "required"},
		{"sweep", []string{"of=overwrite", "param=fanouts", "values=1"}, "param", "not a key of overwrite"},
		{"sweep", []string{"of=overwrite", "param=fanout", "values=1,x"}, "fanout", "not an integer"},
		{"sweep", []string{"of=io", "param=chunk", "values=3k"}, "values", "powers of two"},
		{"sweep", []string{"of=sweep"}, "of", "cannot sweep a sweep"},
		{"nosuch", nil, "scenario", "unknown scenario"},
	} {
		set, err := ParseSet(c.set)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewScenario(c.scenario, set)
		var pe *ParamError
		if !errors.As(err, &pe) {
			t.Errorf("%s %v: error %v, want a ParamError", c.scenario, c.set, err)
			continue
		}
		if pe.Key != c.key || !strings.Contains(pe.Why, c.why) {
			t.Errorf("%s %v: %v; want key %q and a reason containing %q", c.scenario, c.set, err, c.key, c.why)
		}
		if strings.Contains(err.Error(), c.key) == false {
			t.Errorf("message %q lacks the key", err)
		}
	}
	if _, err := ParseSet([]string{"qd=1", "qd=2"}); err == nil {
		t.Error("a key given twice was accepted")
	}
	if _, err := ParseSet([]string{"qd"}); err == nil {
		t.Error("a key without a value was accepted")
	}
}

// A block size that is not a multiple of the device's sector is refused
// before the device is touched.
func TestSectorMismatchTouchesNothing(t *testing.T) {
	mem, err := device.NewMem(64<<20, device.MemOptions{SectorSize: 4096, MemAlign: 4096})
	if err != nil {
		t.Fatal(err)
	}
	env := testEnvOn(t, "raw", mem, nil)
	before := env.Counting.Counters()
	run, err := RunScenario(context.Background(), env, mustScenario(t, "io", "bs=512", "ops=10"))
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Key != "bs" || run.Status != results.StatusFailed || !strings.Contains(run.Reason, "4096-byte sector") {
		t.Fatalf("err %v status %s reason %s", err, run.Status, run.Reason)
	}
	if env.Counting.Counters() != before {
		t.Fatal("the device was touched")
	}
	// 4096-byte sectors work with 4k blocks.
	runOK(t, env, mustScenario(t, "io", "ops=1000", "volume_size=8m"))
}

// Every scenario documents every key, and the defaults validate.
func TestDefaultsAndDocs(t *testing.T) {
	for _, name := range Names() {
		docs, err := ParamDocs(name)
		if err != nil || len(docs) == 0 && name != "sweep" {
			t.Fatalf("%s: %v", name, err)
		}
		for _, d := range docs {
			if d.Help == "" {
				t.Errorf("%s: key %s has no help", name, d.Name)
			}
		}
		if doc, _ := Doc(name); doc == "" {
			t.Errorf("%s has no doc", name)
		}
		if name == "sweep" {
			continue
		}
		sc, err := NewScenario(name, nil)
		if err != nil {
			t.Fatalf("%s defaults: %v", name, err)
		}
		// Values round-trips through NewScenario.
		again, err := NewScenario(name, sc.Values())
		if err != nil {
			t.Fatalf("%s: values do not read back: %v", name, err)
		}
		if strings.Join(sortedPairs(again.Values()), " ") != strings.Join(sortedPairs(sc.Values()), " ") {
			t.Fatalf("%s: values changed on the way back", name)
		}
	}
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sortStrings(out)
	return out
}
