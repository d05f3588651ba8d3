package strategytest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

const crashSeedBase = 1_000_000

// runCrash: for each crash point, run a random sequence, kill the device at a
// random operation, keep flushed writes plus a random part of the unflushed
// ones, reopen, and check that every volume is as DESIGN.md promises; then
// keep using the engine to show its allocator state survived too.
func runCrash(t *testing.T, cfg Config) {
	seeds := make([]uint64, 0, cfg.CrashPoints)
	if *flagSeed != 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for i := 0; i < cfg.CrashPoints; i++ {
			seeds = append(seeds, crashSeedBase+uint64(i))
		}
	}
	for _, seed := range seeds {
		log, err := crashOnce(cfg, seed)
		if *flagSeed != 0 {
			t.Logf("seed %d operation log:\n%s", seed, log)
		}
		if err != nil {
			t.Fatalf("%s: crash seed %d: %v\noperation log:\n%s\nreplay: %s",
				cfg.Engine, seed, err, log, replay(t, cfg, seed))
		}
	}
	t.Run("Format", func(t *testing.T) { crashFormat(t, cfg) })
}

func crashOnce(cfg Config, seed uint64) (string, error) {
	// Dry run: how many device operations does the sequence make?
	dry, err := newHarness(cfg, seed, newMemOrPanic(cfg))
	if err != nil {
		return "", err
	}
	start := dry.faulty.Ops()
	for i := 0; i < cfg.OpsPerSequence; i++ {
		if err := dry.step(); err != nil {
			return dry.Log(), fmt.Errorf("dry run (no crash) failed: %w", err)
		}
	}
	total := dry.faulty.Ops() - start
	dry.closeAll()
	dry.eng.Close()
	if total == 0 {
		return dry.Log(), nil
	}
	pick := rand.New(rand.NewPCG(seed, 7))
	at := pick.Uint64N(total)

	h, err := newHarness(cfg, seed, newMemOrPanic(cfg))
	if err != nil {
		return "", err
	}
	h.faulty.SetInjector(device.FailFrom(h.faulty.Ops()+at, nil))
	var pending *pendingOp
	for i := 0; i < cfg.OpsPerSequence && pending == nil; i++ {
		if err := h.step(); err != nil {
			c, ok := isCrash(err)
			if !ok {
				return h.Log(), err
			}
			pending = &c.op
		}
	}
	keep := []float64{0, 0.5, 1}[seed%3]
	h.logf("-- crash at device op %d of %d (in flight: %v), keeping %.0f%% of unflushed writes", at, total, pending, keep*100)
	crashedMem := h.mem.CrashClone(pick, keep)
	h.handles = make(map[string]strategies.Volume) // the dead engine's handles are abandoned
	h.eng.Close()

	h.mem = crashedMem
	h.faulty = device.NewFaulty(crashedMem, nil)
	eng, err := strategies.Open(h.faulty)
	if err != nil {
		return h.Log(), fmt.Errorf("reopen after crash: %w", err)
	}
	h.eng = eng
	if err := h.checkAfterCrash(pending); err != nil {
		return h.Log(), err
	}
	h.logf("-- after crash: state verified; continuing")
	for i := 0; i < cfg.OpsPerSequence/2; i++ {
		if err := h.step(); err != nil {
			return h.Log(), fmt.Errorf("after crash recovery: %w", err)
		}
	}
	if err := h.verifyAll(); err != nil {
		return h.Log(), fmt.Errorf("after crash recovery: %w", err)
	}
	h.closeAll()
	return h.Log(), h.eng.Close()
}

// checkAfterCrash verifies the reopened engine against the model and the
// operation that was in flight, then adopts what it found as the model.
func (h *harness) checkAfterCrash(pending *pendingOp) error {
	if err := h.eng.Check(); err != nil {
		return fmt.Errorf("engine.Check after crash: %w", err)
	}
	infos := make(map[string]strategies.VolumeInfo)
	for _, vi := range h.eng.Volumes() {
		if vi.Kind != strategies.KindInternal {
			infos[vi.Name] = vi
		}
	}
	var p pendingOp
	if pending != nil {
		p = *pending
	}
	for _, v := range h.m.live() {
		vi, ok := infos[v.name]
		delete(infos, v.name)
		if !ok {
			if p.kind == "delete" && p.name == v.name {
				h.m.remove(v.name)
				continue
			}
			return fmt.Errorf("volume %q (id %d) lost in the crash", v.name, v.id)
		}
		if vi.ID != v.id || vi.Kind != v.kind || vi.Size != v.size {
			return fmt.Errorf("volume %q after crash: %+v, want id %d kind %s size %d", v.name, vi, v.id, v.kind, v.size)
		}
		if !vi.Valid {
			if !v.invalid && !(p.kind == "write") {
				return fmt.Errorf("volume %q invalid after crash but was valid", v.name)
			}
			v.invalid = true
			continue
		}
		v.invalid = false
		got, err := h.readAll(v)
		if err != nil {
			return fmt.Errorf("read %q after crash: %w", v.name, err)
		}
		if err := h.m.checkCrash(v, got); err != nil {
			return err
		}
		h.m.adopt(v, got)
	}
	// A volume being created when the crash hit may exist; if it does it is
	// complete.
	for name, vi := range infos {
		if !(p.name == name && (p.kind == "create" || p.kind == "snapshot" || p.kind == "clone")) {
			return fmt.Errorf("unknown volume %+v after crash", vi)
		}
		wantKind := map[string]strategies.Kind{"create": strategies.KindBase, "snapshot": strategies.KindSnapshot, "clone": strategies.KindClone}[p.kind]
		if vi.Kind != wantKind || vi.Size != int64(len(p.content)) {
			return fmt.Errorf("volume %q created during the crash: %+v, want kind %s size %d", name, vi, wantKind, len(p.content))
		}
		v := newMVol(name, vi.ID, vi.Kind, vi.Size)
		v.parent = p.src
		if _, ok := h.m.vols[p.src]; !ok {
			v.parent = ""
		}
		got, err := h.readAll(v)
		if err != nil {
			return fmt.Errorf("read %q after crash: %w", name, err)
		}
		if !bytes.Equal(got, p.content) {
			return fmt.Errorf("volume %q, %s during the crash, exists but is not its point-in-time content: %v",
				name, p.kind, h.m.describeMismatch(&mvol{name: name, kind: vi.Kind, id: vi.ID}, 0, got, p.content))
		}
		copy(v.cur, got)
		copy(v.durable, got)
		h.m.add(v)
	}
	// New names must not collide with what the crashed run created.
	return h.verifyListing()
}

// crashFormat kills the device at every few operations of Format: reopening
// must find either no engine or a complete, empty one.
func crashFormat(t *testing.T, cfg Config) {
	probe := device.NewFaulty(newMemOrPanic(cfg), nil)
	e, err := strategies.Format(cfg.Engine, probe, cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	total := probe.Ops()
	step := max(total/40, 1)
	for at := uint64(0); at < total; at += step {
		mem := newMemOrPanic(cfg)
		f := device.NewFaulty(mem, device.FailFrom(at, nil))
		if e, err := strategies.Format(cfg.Engine, f, cfg.Options); err == nil {
			e.Close()
		}
		for _, keep := range []float64{0, 1} {
			c := mem.CrashClone(rand.New(rand.NewPCG(at, 1)), keep)
			e, err := strategies.Open(c)
			if errors.Is(err, strategies.ErrNoSuperblock) {
				continue
			}
			if err != nil {
				t.Fatalf("crash at op %d/%d of Format (keep %v): Open: %v", at, total, keep, err)
			}
			if err := e.Check(); err != nil {
				t.Fatalf("crash at op %d/%d of Format: Check: %v", at, total, err)
			}
			if n := len(e.Volumes()); n != 0 {
				t.Fatalf("crash at op %d/%d of Format: %d volumes on a new engine", at, total, n)
			}
			e.Close()
		}
	}
}
