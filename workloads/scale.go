package workloads

import (
	"errors"
	"fmt"
	"time"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// ScaleParams are the keys of the "scale" scenario.
type ScaleParams struct {
	Clones int   // clones of the template, made block by block
	Block  int   // clones per timed block
	Fill   int64 // bytes of the template written before cloning: the volume stays thin beyond
	Batch  bool  // each block with the engine's CloneMany when it has one, else one Clone at a time
	Delete bool  // delete the clones block by block at the end (DeleteMany)
}

func init() { register(scaleDef()) }

func scaleDef() *scenarioDef {
	return &scenarioDef{
		order: 60,
		name:  "scale",
		doc: "Scale: a thin template of `volume_size` with only `fill` bytes written; one snapshot of it (timed, " +
			"then deleted); then `clones` clones made in blocks of `block` (CloneMany per block with batch, else one " +
			"Clone at a time), each block timed; then the clones deleted block by block (DeleteMany). Shows " +
			"create, snapshot and clone time against volume size, per-clone creation time in the first and the " +
			"last block (does it grow with the number of clones?), and metadata bytes per clone. Phases: create, " +
			"fill, snapshot, clones (series clone_us_per_clone by clones), delete (series delete_us_per_clone). " +
			"An engine that cannot hold the point fails with no space, or is unsupported; never a plain number.",
		opsHelp: "unused",
		defaults: func(sc *Scenario) {
			sc.VolumeSize, sc.Ops = 1<<30, 0
			sc.Params = &ScaleParams{Clones: 2000, Block: 1000, Fill: 1 << 20, Batch: true, Delete: true}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*ScaleParams)
			return []param{
				intParam("clones", "clones of the template, made block by block", &p.Clones, 1, 1<<24),
				intParam("block", "clones per timed block (first and last block are compared; at most clones)", &p.Block, 1, 1<<24),
				sizeParam("fill", "bytes of the template written before cloning (the rest stays thin)", &p.Fill, 0),
				boolParam("batch", "each block with the engine's CloneMany when it has one (else one Clone at a time)", &p.Batch),
				boolParam("delete", "delete the clones block by block at the end, with DeleteMany", &p.Delete),
			}
		},
		writes: func(sc *Scenario) []int64 {
			if p := sc.Params.(*ScaleParams); p.Fill > 0 {
				return []int64{fillBlock(p.Fill, sc.Pattern.MaxBlock())}
			}
			return nil
		},
		check: func(sc *Scenario) *ParamError {
			p := sc.Params.(*ScaleParams)
			switch {
			case p.Fill > sc.VolumeSize:
				return &ParamError{Key: "fill", Why: fmt.Sprintf("larger than the volume (volume_size=%s)", FormatSize(sc.VolumeSize))}
			case p.Fill%sc.Pattern.MaxBlock() != 0:
				return &ParamError{Key: "fill", Why: "must be a multiple of the largest block size"}
			}
			return nil
		},
		run: runScale,
	}
}

// scaleNames names block b's clones.
func scaleNames(b, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%07d", b+i)
	}
	return names
}

func runScale(s *session) error {
	p := *s.sc.Params.(*ScaleParams)
	p.Block = min(p.Block, p.Clones)
	caps := s.eng.Caps()
	tmpl, err := s.template(p.Fill)
	if err != nil {
		return err
	}
	// A snapshot the engine lacks leaves the phase unsupported; the clones
	// are still measured.
	err = s.phase("snapshot", func(*phaseState) error {
		if err := s.need(caps.Snapshot, "snapshots"); err != nil {
			return err
		}
		snap, err := s.copyOf(tmpl, "snap", strategies.KindSnapshot)
		if err != nil {
			return err
		}
		return s.remove(snap)
	})
	if err != nil && !errors.Is(err, strategies.ErrUnsupported) {
		return err
	}
	var clones []*vol
	if err := s.phase("clones", func(ph *phaseState) error {
		if err := s.need(caps.Clone, "clones"); err != nil {
			return err
		}
		s.release(tmpl)
		sp0, dev0 := s.eng.Space(), s.counters()
		var first, last float64
		var batched bool
		for b := 0; b < p.Clones; b += p.Block {
			n := min(p.Block, p.Clones-b)
			vs, d, bt, err := s.cloneBlock(tmpl, scaleNames(b, n), p.Batch)
			clones = append(clones, vs...)
			if err != nil {
				return err
			}
			batched = bt
			us := float64(d.Nanoseconds()) / 1e3 / float64(n)
			ph.m.AddPoint("clone_us_per_clone", "clones", "us", float64(b+n), us)
			if b == 0 {
				first = us
			}
			last = us
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
		if err := s.commit(); err != nil {
			return err
		}
		m := ph.m.Metrics
		m["clones"], m["blocks"], m["batched"] = float64(len(clones)), float64((p.Clones+p.Block-1)/p.Block), b2f(batched)
		m["first_block_clone_us"], m["last_block_clone_us"] = first, last
		if first > 0 {
			m["last_over_first_block"] = last / first
		}
		sp, dev := s.eng.Space(), s.counters()
		n := float64(len(clones))
		m["metadata_per_clone_bytes"] = float64(sp.Metadata-sp0.Metadata) / n
		m["space_per_clone_bytes"] = float64(used(sp)-used(sp0)) / n
		if s.env.Counting != nil {
			m["device_bytes_per_clone"] = float64(dev.WriteBytes-dev0.WriteBytes) / n
			m["device_writes_per_clone"] = float64(dev.Writes-dev0.Writes) / n
		}
		return nil
	}); err != nil {
		return err
	}
	if !p.Delete {
		return nil
	}
	return s.phase("delete", func(ph *phaseState) error {
		var first, last float64
		for b := 0; b < len(clones); b += p.Block {
			blk := clones[b:min(b+p.Block, len(clones))]
			d, err := s.removeMany(blk)
			if err != nil {
				return err
			}
			us := float64(d.Nanoseconds()) / 1e3 / float64(len(blk))
			ph.m.AddPoint("delete_us_per_clone", "clones deleted", "us", float64(b+len(blk)), us)
			if b == 0 {
				first = us
			}
			last = us
		}
		ph.m.Metrics["first_block_delete_us"], ph.m.Metrics["last_block_delete_us"] = first, last
		ph.m.Metrics["clones"] = float64(len(clones))
		return nil
	})
}

// cloneBlock makes one block of clones of src: with CloneMany when batch
// is set and the engine has it, else one Clone at a time. The duration is
// the engine's time alone: the CloneMany call, or the sum of the Clone
// calls (each also timed as OpClone).
func (s *session) cloneBlock(src *vol, names []string, batch bool) ([]*vol, time.Duration, bool, error) {
	if _, ok := s.eng.(strategies.BatchCloner); ok && batch {
		return s.cloneMany(src, names, true)
	}
	var out []*vol
	var total time.Duration
	for _, n := range names {
		t0 := mono()
		v, err := s.copyOf(src, n, strategies.KindClone)
		total += mono() - t0
		if err != nil {
			return out, total, false, err
		}
		out = append(out, v)
	}
	return out, total, false, nil
}

// removeMany deletes vs (none with children) in one strategies.DeleteMany
// call, timed once as OpDelete, and returns how long it took.
func (s *session) removeMany(vs []*vol) (time.Duration, error) {
	ids := make([]strategies.VolumeID, len(vs))
	for i, v := range vs {
		s.release(v)
		ids[i] = v.id
	}
	d, err := s.timed(results.OpDelete, func() error { return strategies.DeleteMany(s.eng, ids) })
	if err != nil {
		s.sync() // the fallback may have deleted some
		return d, fmt.Errorf("workloads: delete %d volumes from %q: %w", len(vs), vs[0].name, err)
	}
	for _, v := range vs {
		s.forget(v)
	}
	return d, nil
}
