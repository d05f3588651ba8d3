package strategytest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const randomSeedBase = 1

// runSequence runs limit random steps from seed on a fresh device, then a
// full verification. It returns the step that failed (limit for the final
// verification) and the error.
func runSequence(cfg Config, seed uint64, limit int) (*harness, int, error) {
	dev, err := newDeviceOf(cfg)
	if err != nil {
		return nil, 0, err
	}
	h, err := newHarness(cfg, seed, dev)
	if err != nil {
		return nil, 0, err
	}
	if ownDevice(dev) {
		defer h.release()
	}
	for i := 0; i < limit; i++ {
		if err := h.step(); err != nil {
			return h, i, err
		}
	}
	if err := h.verifyAll(); err != nil {
		return h, limit, err
	}
	if err := h.closeAll(); err != nil {
		return h, limit, err
	}
	err = h.eng.Close()
	h.eng = nil
	if ownDevice(h.dev) {
		if cerr := h.dev.Close(); err == nil {
			err = cerr
		}
	}
	return h, limit, err
}

func runRandom(t *testing.T, cfg Config) {
	seeds := make([]uint64, 0, cfg.Sequences)
	if *flagSeed != 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for i := 0; i < cfg.Sequences; i++ {
			seeds = append(seeds, randomSeedBase+uint64(i))
		}
	}
	for _, seed := range seeds {
		h, step, err := runSequence(cfg, seed, cfg.OpsPerSequence)
		if *flagSeed != 0 && h != nil {
			t.Logf("seed %d operation log:\n%s", seed, h.Log())
		}
		if err == nil {
			continue
		}
		if h == nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		// Find the shortest prefix that still fails (with a full verification
		// at its end): binary search over the prefix length.
		lo, hi := 0, step+1
		shortest, shortErr := h, err
		for lo < hi {
			mid := (lo + hi) / 2
			hm, _, merr := runSequence(cfg, seed, mid)
			if merr != nil && hm != nil {
				hi, shortest, shortErr = mid, hm, merr
			} else {
				lo = mid + 1
			}
		}
		t.Fatalf("%s: random sequence seed %d failed at step %d: %v\n"+
			"shortest failing prefix: %d operations (%v):\n%s\n"+
			"replay: %s",
			cfg.Engine, seed, step, err, len(shortest.log), shortErr, shortest.Log(), replay(t, cfg, seed))
	}
}

func newMemOrPanic(cfg Config) *deviceMem {
	m, err := newDeviceMem(cfg)
	if err != nil {
		panic(err)
	}
	return m
}

// isCrash reports whether err is an injected crash.
func isCrash(err error) (*errCrashed, bool) {
	var c *errCrashed
	ok := errors.As(err, &c)
	return c, ok
}

// replay is the command that reruns the failing subtest t with seed, from
// the repository root: the engine's package is strategies/<engine> with
// dashes dropped (xfs-reflink lives in strategies/xfsreflink).
func replay(t *testing.T, cfg Config, seed uint64) string {
	pkg := "./strategies/" + strings.ReplaceAll(cfg.Engine, "-", "") + "/"
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + p + "$"
	}
	return fmt.Sprintf("go test %s -run '%s' -v -args -strategytest.seed=%d", pkg, strings.Join(parts, "/"), seed)
}
