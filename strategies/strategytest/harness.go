package strategytest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/strategies"
)

// harness drives one engine and the reference model in lock step.
type harness struct {
	cfg     Config
	caps    strategies.Caps
	dev     device.Device // the device the engine is on, under faulty
	mem     *device.Mem   // dev when it is a memory device (crash tests), else nil
	faulty  *device.Faulty
	eng     strategies.Engine
	m       *model
	handles map[string]strategies.Volume
	rng     *rand.Rand
	log     []string
	nextN   int
}

// errCrashed reports that the device died (an injected fault) during op.
type errCrashed struct{ op pendingOp }

func (e *errCrashed) Error() string { return "crashed during " + e.op.String() }

// pendingOp is the operation in flight when a crash hit: its effect is
// ambiguous.
type pendingOp struct {
	kind string // create, snapshot, clone, delete, write, flush, ...
	name string // the volume operated on or created
	src  string // snapshot/clone source
	// content the new volume must hold if it exists (snapshot/clone/create)
	content []byte
}

func (p pendingOp) String() string {
	s := p.kind + " " + p.name
	if p.src != "" {
		s += " of " + p.src
	}
	return s
}

func newHarness(cfg Config, seed uint64, dev device.Device) (*harness, error) {
	h := &harness{cfg: cfg, dev: dev, m: newModel(cfg.SectorSize), handles: make(map[string]strategies.Volume),
		rng: rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))}
	h.mem, _ = dev.(*device.Mem)
	h.faulty = device.NewFaulty(dev, nil)
	e, err := strategies.Format(cfg.Engine, h.faulty, cfg.Options)
	if err != nil {
		if ownDevice(dev) {
			dev.Close()
		}
		return nil, fmt.Errorf("format: %w", err)
	}
	h.eng, h.caps = e, e.Caps()
	return h, nil
}

// release closes every handle and the engine, and the device when the
// suite made it with Config.NewDevice (an engine on a real device holds
// mounts and processes that must not outlive the sequence). Errors are
// dropped: release runs after a sequence has passed or failed.
func (h *harness) release() {
	if h.eng == nil {
		return
	}
	h.closeAll()
	h.eng.Close()
	h.eng = nil
	if ownDevice(h.dev) {
		h.dev.Close()
	}
}

func (h *harness) logf(format string, args ...any) {
	h.log = append(h.log, fmt.Sprintf("%3d  ", len(h.log))+fmt.Sprintf(format, args...))
}

func (h *harness) Log() string { return strings.Join(h.log, "\n") }

func (h *harness) handle(v *mvol) (strategies.Volume, error) {
	if hv := h.handles[v.name]; hv != nil {
		return hv, nil
	}
	hv, err := h.eng.Open(v.id)
	if err != nil {
		return nil, err
	}
	h.handles[v.name] = hv
	return hv, nil
}

func (h *harness) closeHandle(name string) error {
	hv := h.handles[name]
	if hv == nil {
		return nil
	}
	delete(h.handles, name)
	return hv.Close()
}

func (h *harness) closeAll() error {
	var errs []error
	for _, n := range h.m.names {
		errs = append(errs, h.closeHandle(n))
	}
	return errors.Join(errs...)
}

// crashed converts an injected device fault into errCrashed.
func crashed(err error, op pendingOp) error {
	if err != nil && errors.Is(err, device.ErrInjected) {
		return &errCrashed{op: op}
	}
	return err
}

func (h *harness) newName() string {
	h.nextN++
	return fmt.Sprintf("v%d", h.nextN)
}

func (h *harness) randomData(n int) []byte {
	b := device.Alloc(n)
	for i := 0; i+8 <= n; i += 8 {
		v := h.rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func (h *harness) pick() *mvol {
	if len(h.m.names) == 0 {
		return nil
	}
	return h.m.vols[h.m.names[h.rng.IntN(len(h.m.names))]]
}

// reopen flushes, closes and reopens the engine on a cleanly shut-down copy
// of the device.
func (h *harness) reopen() error {
	if err := h.eng.Flush(); err != nil {
		return crashed(fmt.Errorf("flush before reopen: %w", err), pendingOp{kind: "flush"})
	}
	h.m.flushAll()
	if err := h.closeAll(); err != nil {
		return fmt.Errorf("close handles: %w", err)
	}
	if err := h.eng.Close(); err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	if h.mem != nil {
		h.mem = h.mem.Reopen()
		h.dev = h.mem
	}
	h.faulty = device.NewFaulty(h.dev, nil)
	e, err := strategies.Open(h.faulty)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	h.eng = e
	return nil
}

// verifyListing compares Volumes() and Space() with the model.
func (h *harness) verifyListing() error {
	infos := h.eng.Volumes()
	byID := make(map[strategies.VolumeID]strategies.VolumeInfo, len(infos))
	for i, vi := range infos {
		if i > 0 && infos[i-1].ID >= vi.ID {
			return fmt.Errorf("Volumes() not ordered by id: %d then %d", infos[i-1].ID, vi.ID)
		}
		byID[vi.ID] = vi
	}
	for _, v := range h.m.live() {
		vi, ok := byID[v.id]
		if !ok {
			return fmt.Errorf("volume %q (id %d) missing from Volumes()", v.name, v.id)
		}
		delete(byID, v.id)
		if vi.Name != v.name || vi.Kind != v.kind || vi.Size != v.size || vi.ReadOnly != v.readOnly {
			return fmt.Errorf("volume %q: Volumes() says %+v, want name %q kind %s size %d read-only %v",
				v.name, vi, v.name, v.kind, v.size, v.readOnly)
		}
		if v.invalid && vi.Valid {
			return fmt.Errorf("volume %q became valid again after being invalidated", v.name)
		}
		v.invalid = !vi.Valid
	}
	for _, vi := range byID {
		if vi.Kind != strategies.KindInternal {
			return fmt.Errorf("Volumes() lists unknown volume %+v", vi)
		}
	}
	s := h.eng.Space()
	if s.Data < 0 || s.Metadata < 0 || s.Free < 0 || s.Data+s.Metadata+s.Free != s.Capacity {
		return fmt.Errorf("space accounting broken: %+v", s)
	}
	return nil
}

// readAll reads a whole volume.
func (h *harness) readAll(v *mvol) ([]byte, error) {
	hv, err := h.handle(v)
	if err != nil {
		return nil, err
	}
	buf := device.Alloc(int(v.size))
	if _, err := hv.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// verifyAll reads every volume in full and compares it with the model, then
// runs Check.
func (h *harness) verifyAll() error {
	if err := h.verifyListing(); err != nil {
		return err
	}
	for _, v := range h.m.live() {
		got, err := h.readAll(v)
		if v.invalid {
			if !errors.Is(err, strategies.ErrInvalidated) {
				return fmt.Errorf("read of invalidated volume %q: got %v, want ErrInvalidated", v.name, err)
			}
			continue
		}
		if err != nil {
			return crashed(fmt.Errorf("read %q: %w", v.name, err), pendingOp{kind: "read", name: v.name})
		}
		if err := h.m.checkExact(v, 0, got); err != nil {
			return err
		}
	}
	if err := h.eng.Check(); err != nil {
		return crashed(fmt.Errorf("engine.Check: %w", err), pendingOp{kind: "check"})
	}
	return nil
}
