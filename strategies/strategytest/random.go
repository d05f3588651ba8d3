package strategytest

import (
	"errors"
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
			"replay: go test -run 'Conformance/Random' -strategytest.seed=%d -v",
			cfg.Engine, seed, step, err, len(shortest.log), shortErr, shortest.Log(), seed)
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
