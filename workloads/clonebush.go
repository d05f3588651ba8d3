package workloads

import (
	"errors"
	"fmt"
	"time"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// ClonebushParams are the keys of the "clonebush" scenario.
type ClonebushParams struct {
	Clones         int   // clones made in one burst
	Fill           int64 // bytes of the template written before cloning
	BootSize       int64 // the shared boot region every clone reads, from offset 0
	BootBS         int64 // block size of the boot reads
	BootWrites     int   // private writes per clone during its boot
	DeleteTemplate bool  // delete the template once the clones exist
	Batch          bool  // use the engine's CloneMany when it has one
	Refresh        bool  // delete and recreate every clone at the end
}

func init() { register(clonebushDef()) }

func clonebushDef() *scenarioDef {
	return &scenarioDef{
		order:    20,
		name:     "clonebush",
		headline: clonebushHeadline(),
		figures:  clonebushFigures(),
		doc: "Bursty, wide: fill a template; create `clones` clones in one burst (CloneMany where the engine " +
			"has it); optionally delete the template; boot storm: every clone at once reads the shared boot " +
			"region and writes `boot_writes` private blocks; then a steady mixed phase across the clones; then " +
			"refresh (delete every clone, with one DeleteMany when batch is set, and recreate them). Phases: create, fill, burst, delete-template, boot, " +
			"steady, refresh, refresh-check. Space per clone: burst's space_per_clone_at_creation_bytes " +
			"(right after the burst, committed) and boot's space_per_clone_after_boot_bytes (after the storm's " +
			"private writes).",
		opsHelp: "ops of the steady phase, over all clones",
		usesOps: true,
		defaults: func(sc *Scenario) {
			// Small enough that 100 fully provisioned copies (the full engine)
			// fit a 1 GiB device; scale up with volume_size, fill and clones.
			sc.VolumeSize, sc.WorkingSet, sc.Ops, sc.Pattern.ReadPct = 8<<20, 4<<20, 8192, 70
			sc.Params = &ClonebushParams{Clones: 100, Fill: 4 << 20, BootSize: 1 << 20, BootBS: 64 << 10,
				BootWrites: 32, Batch: true, Refresh: true}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*ClonebushParams)
			return []param{
				intParam("clones", "clones made in one burst", &p.Clones, 1, 1<<20),
				sizeParam("fill", "bytes of the template written before cloning", &p.Fill, 0),
				sizeParam("boot_size", "the shared boot region every clone reads at boot (from offset 0)", &p.BootSize, 0),
				sizeParam("boot_bs", "block size of the boot reads", &p.BootBS, 512),
				intParam("boot_writes", "private writes (of bs) per clone during its boot", &p.BootWrites, 0, 1<<30),
				boolParam("delete_template", "delete the template once the clones exist", &p.DeleteTemplate),
				boolParam("batch", "create the burst with the engine's CloneMany when it has one", &p.Batch),
				boolParam("refresh", "delete and recreate every clone at the end", &p.Refresh),
			}
		},
		writes: func(sc *Scenario) []int64 {
			if p := sc.Params.(*ClonebushParams); p.Fill > 0 {
				return []int64{fillBlock(p.Fill, sc.Pattern.MaxBlock())}
			}
			return nil
		},
		reads: func(sc *Scenario) []int64 { return []int64{sc.Params.(*ClonebushParams).BootBS} },
		check: func(sc *Scenario) *ParamError {
			p := sc.Params.(*ClonebushParams)
			switch {
			case p.Fill > sc.VolumeSize:
				return &ParamError{Key: "fill", Why: fmt.Sprintf("larger than the volume (volume_size=%s)", FormatSize(sc.VolumeSize))}
			case p.Fill%sc.Pattern.MaxBlock() != 0:
				return &ParamError{Key: "fill", Why: "must be a multiple of the largest block size"}
			case p.BootSize > p.Fill:
				return &ParamError{Key: "boot_size", Why: fmt.Sprintf("larger than the filled template (fill=%s): boot reads must find data", FormatSize(p.Fill))}
			case p.BootBS%512 != 0 || (p.BootSize > 0 && p.BootSize%p.BootBS != 0):
				return &ParamError{Key: "boot_bs", Why: "must be a multiple of 512 that divides boot_size"}
			}
			return nil
		},
		run: runClonebush,
	}
}

func cloneNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("clone-%04d", i)
	}
	return names
}

// used is the space the engine has handed out.
func used(sp strategies.Space) int64 { return sp.Capacity - sp.Free }

// clonebushRun is one run of the clone bush: a template, the burst of
// clones made from it, and what the later phases need to know about them.
// Each phase is a method; runClonebush runs them in order.
type clonebushRun struct {
	s    *session
	p    *ClonebushParams
	ws   int64
	caps strategies.Caps

	tmpl         *vol
	clones       []*vol
	spaceBefore  int64 // space used before the first burst
	templateGone bool
}

func runClonebush(s *session) error {
	r := &clonebushRun{s: s, p: s.sc.Params.(*ClonebushParams), ws: s.sc.workingSet(), caps: s.eng.Caps()}
	var err error
	if r.tmpl, err = s.template(r.p.Fill); err != nil {
		return err
	}
	if err := s.phase("burst", r.burst); err != nil {
		return err
	}
	if r.p.DeleteTemplate {
		if err := s.phase("delete-template", r.deleteTemplate); err != nil && !errors.Is(err, strategies.ErrUnsupported) {
			return err
		}
	}
	if err := s.phase("boot", r.bootStorm); err != nil {
		return err
	}
	if s.sc.Ops > 0 || s.sc.Duration > 0 {
		if err := s.phase("steady", r.steady); err != nil {
			return err
		}
	}
	if !r.p.Refresh || r.templateGone {
		return nil
	}
	if err := s.phase("refresh", r.refresh); err != nil {
		return err
	}
	if r.p.BootSize == 0 {
		return nil
	}
	return s.phase("refresh-check", r.refreshCheck)
}

// burst makes the clones of the template in one burst (CloneMany when
// batch is set and the engine has it), commits, and records the burst's
// time and the space each clone took.
func (r *clonebushRun) burst(ph *phaseState) error {
	s := r.s
	if err := s.need(r.caps.Clone, "clones"); err != nil {
		return err
	}
	s.release(r.tmpl)
	before := used(s.eng.Space())
	if r.spaceBefore == 0 {
		r.spaceBefore = before
	}
	var d time.Duration
	var batched bool
	var err error
	r.clones, d, batched, err = s.cloneMany(r.tmpl, cloneNames(r.p.Clones), r.p.Batch)
	m := ph.m.Metrics
	m["clones"] = float64(len(r.clones))
	m["burst_s"] = d.Seconds()
	if len(r.clones) > 0 && d > 0 {
		m["clones_per_s"] = float64(len(r.clones)) / d.Seconds()
		m["clone_mean_us"] = float64(d.Microseconds()) / float64(len(r.clones))
	}
	m["batched"] = b2f(batched)
	if err == nil {
		// the burst's metadata committed before its space is read
		err = s.commit()
	}
	if len(r.clones) > 0 {
		v := float64(used(s.eng.Space())-before) / float64(len(r.clones))
		m["space_per_clone_at_creation_bytes"] = v
		m["space_per_clone_bytes"] = v // the name before the split; kept for older readers
	}
	return err
}

// deleteTemplate deletes the template while its clones live.
func (r *clonebushRun) deleteTemplate(ph *phaseState) error {
	if err := r.s.need(r.caps.DeleteParent, "deleting a template that has clones"); err != nil {
		return err
	}
	if err := r.s.remove(r.tmpl); err != nil {
		return err
	}
	r.templateGone = true
	ph.m.Metrics["template_deleted"] = 1
	return nil
}

// boot boots every clone at once: each reads the boot region and writes
// writes private blocks, the clones spread over the queue-depth workers.
func (r *clonebushRun) boot(ph *phaseState, writes int) error {
	s, p := r.s, r.p
	per := make([][]*vol, min(s.sc.QD, len(r.clones)))
	for i, c := range r.clones {
		per[i%len(per)] = append(per[i%len(per)], c)
	}
	st := make([]stream, len(per))
	no := s.streams
	s.streams++
	for i, vs := range per {
		bs := &bootStream{readBS: int(p.BootBS), reads: int(p.BootSize / p.BootBS), writes: writes}
		for _, v := range vs {
			t, err := s.target(v)
			if err != nil {
				return err
			}
			bs.active = append(bs.active, &bootClone{t: t})
		}
		if writes > 0 {
			wp := s.sc.Pattern
			wp.ReadPct, wp.Rate = 0, 0
			g, err := NewGenerator(GenConfig{Pattern: wp, Start: 0, Len: r.ws, Seed: deriveSeed(s.sc.Seed, no, uint64(i))})
			if err != nil {
				return fmt.Errorf("workloads: %w", err)
			}
			bs.gen = g
		}
		st[i] = bs
	}
	total := int64(len(r.clones)) * int64(int(p.BootSize/p.BootBS)+writes)
	start := mono()
	for _, x := range st {
		x.(*bootStream).start = start
	}
	_, err := s.io(ioRun{streams: st, total: total})
	ph.m.Metrics["all_booted_s"] = (mono() - start).Seconds()
	ph.m.Metrics["clones"] = float64(len(r.clones))
	return err
}

// bootStorm is the boot phase: the storm with its private writes, then the
// space each clone takes after it.
func (r *clonebushRun) bootStorm(ph *phaseState) error {
	if err := r.boot(ph, r.p.BootWrites); err != nil {
		return err
	}
	if err := r.s.commit(); err != nil {
		return err
	}
	if len(r.clones) > 0 {
		v := float64(used(r.s.eng.Space())-r.spaceBefore) / float64(len(r.clones))
		ph.m.Metrics["space_per_clone_after_boot_bytes"] = v
		ph.m.Metrics["space_per_clone_bytes"] = v // the name before the split; kept for older readers
	}
	return nil
}

// steady is the mixed main phase across the clones.
func (r *clonebushRun) steady(ph *phaseState) error {
	s := r.s
	n := min(s.sc.QD, len(r.clones))
	per := make([][]*ioTarget, n)
	for i, c := range r.clones {
		t, err := s.target(c)
		if err != nil {
			return err
		}
		per[i%n] = append(per[i%n], t)
	}
	st, err := s.spreadStreams(s.sc.Pattern, per, 0, r.ws, s.mainBudget())
	if err != nil {
		return err
	}
	ph.m.Metrics["clones"] = float64(len(r.clones))
	return s.runMain(st)
}

// refresh deletes every clone (one DeleteMany with batch) and makes the
// burst again.
func (r *clonebushRun) refresh(ph *phaseState) error {
	s := r.s
	t0 := mono()
	if r.p.Batch {
		// one DeleteMany: an engine with a BatchDeleter commits once
		if _, err := s.removeMany(r.clones); err != nil {
			return err
		}
	} else {
		for i := len(r.clones) - 1; i >= 0; i-- {
			if err := s.remove(r.clones[i]); err != nil {
				return err
			}
		}
	}
	del := mono() - t0
	deleted := len(r.clones)
	r.clones = nil
	if err := r.burst(ph); err != nil {
		return err
	}
	ph.m.Metrics["delete_s"] = del.Seconds()
	// With batch, the delete op count is 1 (one DeleteMany, timed
	// whole); this says how many volumes it removed.
	ph.m.Metrics["deleted_volumes"] = float64(deleted)
	ph.m.Metrics["refresh_s"] = (mono() - t0).Seconds()
	return nil
}

// refreshCheck boots the new clones once more, reads only: they must read
// as the template did.
func (r *clonebushRun) refreshCheck(ph *phaseState) error {
	err := r.boot(ph, 0)
	for _, c := range r.clones {
		r.s.release(c)
	}
	return err
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// bootClone is one clone's progress through its boot.
type bootClone struct {
	t    *ioTarget
	step int
}

// bootStream interleaves the boots of one worker's clones, one op each in
// turn, so that every clone boots at once whatever the queue depth. A boot
// is `reads` sequential reads of the boot region with `writes` private
// writes spread evenly among them; when a clone's last op completes, its
// boot time since the storm began is recorded as OpBoot.
type bootStream struct {
	active        []*bootClone
	cursor        int
	last          int // index in active of the clone that issued the previous op; -1: none
	readBS        int
	reads, writes int
	gen           *Generator
	start         time.Duration
	started       bool
}

func (b *bootStream) next(w *worker) (*ioTarget, Op, bool) {
	n := b.reads + b.writes
	if !b.started {
		b.started, b.last = true, -1
	}
	if b.last >= 0 {
		if c := b.active[b.last]; c.step == n {
			w.rec.Record(results.OpBoot, mono()-b.start, 0)
			b.active = append(b.active[:b.last], b.active[b.last+1:]...)
			if b.cursor > b.last {
				b.cursor--
			}
		}
	}
	if len(b.active) == 0 || n == 0 {
		return nil, Op{}, false
	}
	if b.cursor >= len(b.active) {
		b.cursor = 0
	}
	b.last = b.cursor
	c := b.active[b.cursor]
	b.cursor++
	i := c.step
	c.step++
	// op i is a write when the running count of writes steps up.
	if b.writes > 0 && (i+1)*b.writes/n > i*b.writes/n {
		op := b.gen.Next()
		return c.t, op, true
	}
	r := i - i*b.writes/n // reads issued before this one
	return c.t, Op{Off: int64(r) * int64(b.readBS), Len: b.readBS}, true
}
