package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// Env is what a scenario runs on. The caller formats the engine
// (strategies.Format on a device wrapped in device.NewCounting) and passes
// it in; the scenario creates, snapshots, clones and deletes its volumes on
// it, and leaves them there at the end (handles closed).
type Env struct {
	Engine strategies.Engine
	// Counting is the counting device under the engine; phases record its
	// counters. nil: no device counters (and a 512-byte sector is assumed
	// until a volume says otherwise).
	Counting *device.Counting
	// EngineOptions is recorded as Run.EngineOptions (Options.String()).
	EngineOptions string
	// Log gets one line per phase and one at the end; nil: silent.
	Log io.Writer
	// Progress, when set, is called about twice a second during IO and at
	// the end of each phase, from one goroutine at a time.
	Progress func(ProgressUpdate)
}

// ProgressUpdate says how far a scenario is.
type ProgressUpdate struct {
	Scenario string
	Phase    string
	Done     int64         // ops done in the phase so far
	Total    int64         // ops the phase's current IO expects (0: unknown)
	Elapsed  time.Duration // since the phase began
	PhaseEnd bool          // the phase just ended
}

// RunScenario runs sc on env and returns its result, never nil. Phases are
// measured with beginPhase/End (meter.go) and the workers' recorders merged.
//
//   - ok: every phase ran; error nil.
//   - unsupported (results.StatusUnsupported): the engine lacks an operation
//     the scenario needs (strategies.ErrUnsupported, or its Caps); Reason
//     says which; the phases that ran are kept and the one that could not
//     is listed with Phase.Unsupported; error nil.
//   - incomplete: ctx was cancelled; what was measured is kept (the
//     interrupted phase has Metrics["interrupted"] = 1); error wraps ctx's.
//   - failed: anything else, including a verification mismatch (the error
//     is a *MismatchError, errors.Is(err, ErrMismatch)) and a bad
//     configuration (rejected before the device is touched); Reason is the
//     error's text.
//
// At queue depth 1 and without duration or rate limits, the sequence of
// engine calls and device operations is a pure function of sc (seed
// included) and the engine: device counters are exactly reproducible.
// RunScenario does not run sweeps: expand them with Scenario.Points or use
// RunSweep.
func RunScenario(ctx context.Context, env Env, sc Scenario) (*results.Run, error) {
	run := &results.Run{Schema: results.SchemaVersion, Scenario: sc.Name, Params: sc.Values(), Seed: sc.Seed,
		Started: time.Now(), Status: results.StatusOK, EngineOptions: env.EngineOptions}
	if env.Engine != nil {
		run.Engine = env.Engine.Name()
	}
	if env.Counting != nil {
		run.Device = resultDeviceInfo(device.Describe(env.Counting))
	}
	fail := func(err error) (*results.Run, error) {
		run.Status, run.Reason = results.StatusFailed, err.Error()
		run.Seconds = time.Since(run.Started).Seconds()
		return run, err
	}
	if env.Engine == nil {
		return fail(errors.New("workloads: Env.Engine is nil"))
	}
	if _, ok := sc.Params.(expander); ok {
		return fail(fmt.Errorf("workloads: scenario %s makes one run per point: use Scenario.Points or RunSweep", sc.Name))
	}
	if err := sc.Validate(); err != nil {
		return fail(err)
	}
	d, err := lookupDef(sc.Name)
	if err != nil {
		return fail(err)
	}
	s, err := newSession(ctx, env, &sc, run)
	if err != nil {
		return fail(err)
	}
	err = d.run(s)
	s.closeAll()
	run.Seconds = time.Since(run.Started).Seconds()
	switch {
	case err == nil:
	case errors.Is(err, strategies.ErrUnsupported):
		run.Status, run.Reason = results.StatusUnsupported, err.Error()
		err = nil
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		run.Status, run.Reason = results.StatusIncomplete, "interrupted: "+err.Error()
	default:
		run.Status, run.Reason = results.StatusFailed, err.Error()
	}
	s.logf("%s on %s: %s in %.2fs%s", sc.Name, run.Engine, run.Status, run.Seconds, reasonSuffix(run.Reason))
	return run, err
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// session is one RunScenario: the coordinator's state. Only the
// coordinator goroutine touches it, except for the fields workers read
// while an IO run is in progress (mode, tab, o, workers).
type session struct {
	ctx     context.Context
	env     Env
	eng     strategies.Engine
	sc      *Scenario
	run     *results.Run
	mode    VerifyMode
	tab     *stampTable // stamps of the device's sector size
	o       *oracle     // nil when verification is off
	workers []*worker
	nextGen uint64
	streams uint64 // IO runs so far: part of each stream's seed
	unit    int64
	gran    int64
	sector  int
	vols    []*vol // every volume made, in creation order
	// volumes the engine expired or invalidated on its own, so far
	expired, invalidated int64
	ph                   *phaseState
	opsDone              int64 // ops of the current phase in finished IO runs
	phaseTotal           int64 // ops the current phase will run over several IO runs (0: one run)
}

func newSession(ctx context.Context, env Env, sc *Scenario, run *results.Run) (*session, error) {
	s := &session{ctx: ctx, env: env, eng: env.Engine, sc: sc, run: run, mode: sc.Verify, nextGen: 1, sector: 512}
	if env.Counting != nil {
		s.sector = env.Counting.SectorSize()
	}
	s.unit, s.gran = sc.geometry()
	for _, b := range sc.patternSizes() {
		if b%int64(s.sector) != 0 {
			return nil, &ParamError{Scenario: sc.Name, Key: "bs", Value: FormatBlockSizes(sc.Pattern.BlockSizes),
				Why: fmt.Sprintf("block size %d is not a multiple of the device's %d-byte sector", b, s.sector)}
		}
	}
	for _, b := range sc.blockSizes() {
		if b%int64(s.sector) != 0 || s.unit%int64(s.sector) != 0 {
			return nil, &ParamError{Scenario: sc.Name, Key: "block sizes", Value: sizesString(sc.blockSizes()),
				Why: fmt.Sprintf("every size the scenario reads or writes must be a multiple of the device's %d-byte sector", s.sector)}
		}
	}
	tab, err := stampTableFor(s.sector)
	if err != nil {
		return nil, err
	}
	s.tab = tab
	if s.mode != VerifyOff {
		if s.o, err = newOracle(s.unit, s.gran, sc.QD); err != nil {
			return nil, err
		}
	}
	maxBS := int64(0)
	for _, b := range sc.blockSizes() {
		maxBS = max(maxBS, b)
	}
	s.newWorkers(sc.QD, maxBS)
	return s, nil
}

func (s *session) logf(format string, args ...any) {
	if s.env.Log != nil {
		fmt.Fprintf(s.env.Log, format+"\n", args...)
	}
}

func (s *session) progress(total int64, n int) {
	if s.env.Progress == nil || s.ph == nil {
		return
	}
	done := s.opsDone
	for _, w := range s.workers[:n] {
		done += w.done.Load()
	}
	if s.phaseTotal > 0 {
		total = s.phaseTotal // done counts the whole phase, not this IO run
	} else if s.opsDone > 0 {
		total = 0 // several IO runs of unknown number: no percentage
	}
	s.env.Progress(ProgressUpdate{Scenario: s.sc.Name, Phase: s.ph.name, Done: done, Total: total, Elapsed: s.ph.m.Elapsed()})
}

// phaseState is the phase being measured.
type phaseState struct {
	name string
	m    *phaseMeter
	rec  *results.Recorder
	lio  results.LogicalIO
	// committed: the phase's body flushed the engine itself (commit), so
	// phase does not flush again.
	committed bool
}

// phase measures body as a phase named name and appends it to the run. An
// unsupported body leaves an empty phase marked Unsupported.
//
// A body that succeeds is followed, inside the phase, by a commit (an
// Engine.Flush timed as OpFlush) unless it committed itself: metadata that
// an engine defers to the next flush (row's and linked's) is then counted
// in the phase that caused it, not in the next one.
func (s *session) phase(name string, body func(ph *phaseState) error) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	ph := &phaseState{name: name, m: beginPhase(name, s.env.Counting, s.eng), rec: results.NewRecorder()}
	if d := s.sc.HlogInterval; d > 0 {
		// Intervals count from the phase's start (Phase.Started).
		ph.m.intervals = results.NewIntervalSink(d, mono(), mono)
		ph.rec.SetIntervals(ph.m.intervals)
	}
	s.ph, s.opsDone, s.phaseTotal = ph, 0, 0
	exp0, inv0 := s.expired, s.invalidated
	err := body(ph)
	if err == nil && !ph.committed {
		err = s.commit()
	}
	s.sync()
	if d := s.invalidated - inv0; d > 0 {
		ph.m.Metrics["invalidated"] = float64(d)
	}
	if d := s.expired - exp0; d > 0 {
		ph.m.Metrics["expired_by_engine"] = float64(d)
	}
	s.ph = nil
	if err != nil && errors.Is(err, strategies.ErrUnsupported) {
		_, _ = ph.m.End(nil, results.LogicalIO{})
		s.run.Phases = append(s.run.Phases, results.Phase{Name: name, Unsupported: err.Error()})
		s.logf("%s/%s: unsupported: %v", s.sc.Name, name, err)
		return err
	}
	p, endErr := ph.m.End(ph.rec, ph.lio)
	if endErr != nil {
		return endErr
	}
	if err != nil {
		if s.ctx.Err() != nil {
			p.Metrics["interrupted"] = 1
		} else {
			p.Metrics["failed"] = 1
		}
	}
	s.run.Phases = append(s.run.Phases, p)
	s.logPhase(p)
	if s.env.Progress != nil {
		s.env.Progress(ProgressUpdate{Scenario: s.sc.Name, Phase: name, Done: s.opsDone, Elapsed: time.Duration(p.Seconds * float64(time.Second)), PhaseEnd: true})
	}
	return err
}

func (s *session) logPhase(p results.Phase) {
	if s.env.Log == nil {
		return
	}
	line := fmt.Sprintf("%s/%s: %.3fs", s.sc.Name, p.Name, p.Seconds)
	for _, op := range []results.Op{results.OpWrite, results.OpRead, results.OpSnapshot, results.OpClone, results.OpDelete, results.OpBoot} {
		if o, ok := p.Ops[op]; ok && o.Count > 0 {
			line += fmt.Sprintf(" %s %d p50 %s p99 %s", op, o.Count, time.Duration(o.P50), time.Duration(o.P99))
		}
	}
	if p.Device.Writes+p.Device.Reads > 0 {
		line += fmt.Sprintf(" device %dr/%dw", p.Device.Reads, p.Device.Writes)
	}
	s.logf("%s", line)
}

// io runs r and collects its recorders into the current phase.
// createBase runs the "create" phase that makes the volume named name and,
// when prefill is set, the "prefill" phase that writes its first ws bytes
// once: the start of most scenarios.
func (s *session) createBase(name string, prefill bool, ws int64) (*vol, error) {
	var v *vol
	if err := s.phase("create", func(*phaseState) (err error) {
		v, err = s.create(name)
		return err
	}); err != nil {
		return nil, err
	}
	if prefill {
		if err := s.phase("prefill", func(*phaseState) error { return s.fill(v, ws) }); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// prefillWrites is the block size a scenario's prefill writes (see
// scenarioDef.writes), none without prefill.
func prefillWrites(sc *Scenario, prefill bool) []int64 {
	if !prefill {
		return nil
	}
	return []int64{fillBlock(sc.workingSet(), sc.Pattern.MaxBlock())}
}

// mainBudget is the op budget that stream makers take for a main IO
// phase: the scenario's ops, or -1 when it has none (its duration ends the
// phase).
func (s *session) mainBudget() int64 {
	if s.sc.Ops == 0 {
		return -1
	}
	return s.sc.Ops
}

// runMain runs streams as a main IO phase: the scenario's op budget,
// duration and rate.
func (s *session) runMain(st []stream) error {
	_, err := s.io(ioRun{streams: st, total: s.sc.Ops, deadline: deadlineAfter(s.sc.Duration), rate: s.sc.Pattern.Rate})
	return err
}

// mainIO runs the scenario's IO pattern on the first length bytes of v as
// a main IO phase, with the scenario's queue depth.
func (s *session) mainIO(v *vol, length int64) error {
	t, err := s.target(v)
	if err != nil {
		return err
	}
	st, err := s.patternStreams(s.sc.Pattern, t, 0, length, s.mainBudget(), s.sc.QD)
	if err != nil {
		return err
	}
	return s.runMain(st)
}

func (s *session) io(r ioRun) (ioResult, error) {
	res, err := s.runIO(r)
	s.collect(len(r.streams), s.ph.rec, &s.ph.lio)
	s.countFailures(res)
	return res, err
}

// countFailures notes the tolerated IO failures of a run in the phase.
func (s *session) countFailures(res ioResult) {
	if res.invalid > 0 {
		s.ph.m.Metrics["invalidated_ios"] += float64(res.invalid)
	}
	if res.noSpace > 0 {
		s.ph.m.Metrics["no_space_ios"] += float64(res.noSpace)
	}
}

// commit flushes the engine, timed as OpFlush in the current phase, and
// marks the phase committed. A body calls it itself when it reads device
// counters of its own that must include the commit.
func (s *session) commit() error {
	if s.ph != nil {
		s.ph.committed = true
	}
	if _, err := s.timed(results.OpFlush, s.eng.Flush); err != nil {
		return fmt.Errorf("workloads: commit: %w", err)
	}
	return nil
}

// timed runs a metadata operation and records it in the phase as op.
func (s *session) timed(op results.Op, f func() error) (time.Duration, error) {
	t0 := mono()
	err := f()
	d := mono() - t0
	if s.ph != nil {
		if err != nil {
			s.ph.rec.RecordError(op)
		} else {
			s.ph.rec.Record(op, d, 0)
		}
	}
	return d, err
}

// need fails with ErrUnsupported when the engine's caps lack what.
func (s *session) need(ok bool, what string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%s: %s: %w (per its Caps)", s.eng.Name(), what, strategies.ErrUnsupported)
}

// deadline returns the mono-clock deadline for a budget starting now.
func deadlineAfter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return mono() + d
}
