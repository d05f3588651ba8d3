package strategies_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
	_ "github.com/snapbench/snapbench/strategies/raw"
)

func TestOptionsValidation(t *testing.T) {
	mem := device.MustMem(8 << 20)
	cases := []struct {
		name string
		opts strategies.Options
		ok   bool
	}{
		{"default", strategies.Options{}, true},
		{"4k", strategies.Options{ChunkSize: 4096}, true},
		{"1m", strategies.Options{ChunkSize: 1 << 20}, true},
		{"too small", strategies.Options{ChunkSize: 2048}, false},
		{"too big", strategies.Options{ChunkSize: 2 << 20}, false},
		{"not power of two", strategies.Options{ChunkSize: 48 << 10}, false},
		{"unknown param", strategies.Options{Params: map[string]string{"nope": "1"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := strategies.Format("raw", mem, c.opts)
			if c.ok {
				if err != nil {
					t.Fatalf("Format: %v", err)
				}
				e.Close()
				return
			}
			if !errors.Is(err, strategies.ErrInvalidArgument) {
				t.Fatalf("Format with %+v: got %v, want ErrInvalidArgument", c.opts, err)
			}
		})
	}
}

func TestUnknownEngine(t *testing.T) {
	_, err := strategies.Format("nonesuch", device.MustMem(8<<20), strategies.Options{})
	if !errors.Is(err, strategies.ErrInvalidArgument) || !strings.Contains(err.Error(), "raw") {
		t.Fatalf("got %v, want ErrInvalidArgument listing the registered engines", err)
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("registering raw twice did not panic")
		}
	}()
	f, _ := strategies.LookupFactory("raw")
	strategies.Register(f)
}

func TestOpenEmptyDevice(t *testing.T) {
	_, err := strategies.Open(device.MustMem(8 << 20))
	if !errors.Is(err, strategies.ErrNoSuperblock) {
		t.Fatalf("got %v, want ErrNoSuperblock", err)
	}
}

func TestDeviceTooSmall(t *testing.T) {
	_, err := strategies.Format("raw", device.MustMem(1<<20), strategies.Options{})
	if !errors.Is(err, device.ErrBadSize) {
		t.Fatalf("got %v, want ErrBadSize", err)
	}
}

// TestTornSuperblock damages one copy, then both.
func TestTornSuperblock(t *testing.T) {
	mem := device.MustMem(8 << 20)
	e, err := strategies.Format("raw", mem, strategies.Options{ChunkSize: 4096, Params: nil})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	garbage := device.Alloc(512)
	for i := range garbage {
		garbage[i] = 0xa5
	}
	for copyIdx := 0; copyIdx < 2; copyIdx++ {
		m := mem.Reopen()
		if _, err := m.WriteAt(garbage, int64(copyIdx*4096+1024)); err != nil {
			t.Fatal(err)
		}
		e, err := strategies.Open(m)
		if err != nil {
			t.Fatalf("copy %d torn: Open: %v", copyIdx, err)
		}
		sb, _ := strategies.ReadSuperblock(m)
		if sb.Engine != "raw" || sb.Options.ChunkSize != 4096 {
			t.Fatalf("superblock %+v", sb)
		}
		e.Close()
	}
	m := mem.Reopen()
	m.WriteAt(garbage, 1024)
	m.WriteAt(garbage, 4096+1024)
	if _, err := strategies.Open(m); !errors.Is(err, strategies.ErrCorrupt) {
		t.Fatalf("both copies torn: got %v, want ErrCorrupt", err)
	}
}

func TestParseParams(t *testing.T) {
	got, err := strategies.ParseParams("a=1, b = two")
	if err != nil || got["a"] != "1" || got["b"] != "two" || len(got) != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := strategies.ParseParams("novalue"); !errors.Is(err, strategies.ErrInvalidArgument) {
		t.Fatalf("got %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{"a": true, "vm-001_x.y": true, "": false, "a b": false,
		"a/b": false, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false, "é": false} {
		if err := strategies.ValidateName("t", name); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// The reference engines present themselves baseline first, then from the
// simplest mechanism to the most elaborate; peers have no rank.
func TestRankedAndBaseline(t *testing.T) {
	want := []string{"raw", "full", "cow", "row", "linked", "mirror"}
	if got := strategies.Ranked(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Ranked() = %v, want %v", got, want)
	}
	if got := strategies.Baseline(); got != "raw" {
		t.Errorf("Baseline() = %q, want raw", got)
	}
}

func TestRegisterSecondBaselinePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "two baseline engines") {
			t.Fatalf("a second baseline engine: recover() = %v, want a panic naming two baselines", r)
		}
	}()
	f, _ := strategies.LookupFactory("raw")
	f.Name = "raw-again"
	strategies.Register(f)
}
