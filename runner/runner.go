package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/workloads"
)

// Outcome is what a benchmark produced.
type Outcome struct {
	Runs        []*results.Run
	Files       []string // result files written, in run order
	DevicePath  string   // the device used (the temporary file, if one was made)
	Interrupted bool
}

// Run executes the benchmark. Call Validate first. Every run's result file
// is written as soon as the run ends, so an interruption or a failure keeps
// what was measured. It returns the first failure (a verification mismatch,
// a device error); an interruption returns ctx's error with Interrupted set.
func Run(ctx context.Context, c *Config) (out Outcome, err error) {
	dev, path, cleanup, err := c.openDevice()
	if err != nil {
		return out, err
	}
	out.DevicePath = path
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ioEngine, restore, err := c.setIOEngine(dev)
	if err != nil {
		return out, err
	}
	defer restore()
	env := results.CollectEnv(c.Version, c.Commit)
	if c.RunID == "" {
		c.RunID = fmt.Sprintf("%s-%d", time.Now().UTC().Format("20060102T150405Z"), os.Getpid())
	}
	c.logf("device %s: %s, %s, %d-byte sectors, direct IO %v, IO engine %s", path, device.Describe(dev).Kind,
		workloads.FormatSize(dev.Size()), dev.SectorSize(), device.Describe(dev).DirectIO, ioEngine)
	if c.Precondition {
		if err := precondition(ctx, dev, c); err != nil {
			out.Interrupted = ctx.Err() != nil
			return out, err
		}
	}
	counting := device.NewCounting(dev)
	var pts []workloads.Point
	for _, sc := range c.Runs {
		p, err := sc.Points()
		if err != nil {
			return out, err
		}
		pts = append(pts, p...)
	}
	trials := max(c.Repeat, 1)
	c.suite = &suiteProgress{total: trials * len(pts) * len(c.Engines)}
	defer func() { c.suite = nil }()
	var failures []error
	for trial := 1; trial <= trials; trial++ {
		if trials > 1 {
			c.logf("trial %d of %d", trial, trials)
		}
		for _, pt := range pts {
			for _, engine := range TrialOrder(c.Engines, trial) {
				c.suite.begin(time.Now())
				run, err := c.runTrial(ctx, dev, counting, engine, pt, env, trial, trials, &out)
				c.suite.end()
				if run == nil && err == nil {
					continue
				}
				if ctx.Err() != nil {
					out.Interrupted = true
					return out, ctx.Err()
				}
				if err != nil {
					err = fmt.Errorf("%s on %s: %w", runLabel(pt.Scenario), engine, err)
					if trials > 1 {
						err = fmt.Errorf("trial %d: %w", trial, err)
					}
					if stopsTheRun(err) {
						return out, err
					}
					// The run is written as failed; the other runs still
					// tell something, so go on and report it at the end.
					c.logf("%v (going on with the next run)", err)
					failures = append(failures, err)
				}
			}
		}
	}
	if err := c.checkDeterminism(&out); err != nil {
		failures = append(failures, err)
	}
	return out, errors.Join(failures...)
}

// TrialOrder is the order engines run in trial k (from 1): engines rotated
// to start at engine (k-1) mod E, so that drift over a long run (a warming
// device, a neighbour's load) hits every engine alike across the trials.
func TrialOrder(engines []string, trial int) []string {
	if len(engines) == 0 {
		return nil
	}
	s := (trial - 1) % len(engines)
	return append(append([]string(nil), engines[s:]...), engines[:s]...)
}

// runTrial runs one (engine, point) trial on a freshly formatted engine and
// writes its result file, recording it in out.
func (c *Config) runTrial(ctx context.Context, dev device.Device, counting *device.Counting, engine string,
	pt workloads.Point, env results.Env, trial, trials int, out *Outcome) (*results.Run, error) {
	if c.Discard {
		if d, ok := dev.(device.Discarder); ok {
			if err := d.Discard(0, dev.Size()); err != nil {
				c.logf("discard before %s: %v (going on)", engine, err)
			}
		}
	}
	run, err := c.runOne(ctx, counting, engine, pt)
	if run == nil {
		return nil, err
	}
	run.Env = env
	run.RunID, run.Command = c.RunID, c.Command
	if trials > 1 {
		run.Trial, run.Trials = trial, trials
	}
	file, werr := results.Write(c.Out, run)
	if werr != nil {
		return run, werr
	}
	out.Runs, out.Files = append(out.Runs, run), append(out.Files, file)
	status := run.Status
	if cond := results.Condition(run); cond != "" {
		status = cond
	}
	c.logf("%-7s %-10s %-11s %6.1fs  %s", engine, runLabel(pt.Scenario), status, run.Seconds, file)
	return run, err
}

// ErrNondeterministic marks deterministic counters (device IOs and bytes,
// space) that differ between trials of one point at queue depth 1: they
// depend only on the seed and the configuration, so a difference is a bug
// in an engine or a workload.
var ErrNondeterministic = errors.New("BUG: deterministic counters differ across trials at queue depth 1")

// checkDeterminism compares the deterministic counters of the trials of
// every point; each difference is logged, added to the Warnings of the
// point's trials (their files are rewritten) and returned as one error.
func (c *Config) checkDeterminism(out *Outcome) error {
	var all []string
	files := map[*results.Run]string{}
	for i, r := range out.Runs {
		files[r] = out.Files[i]
	}
	for _, g := range results.GroupTrials(out.Runs) {
		diffs := results.DeterministicDiffs(g)
		if len(diffs) == 0 {
			continue
		}
		for _, r := range g {
			r.Warnings = append(r.Warnings, ErrNondeterministic.Error()+":")
			r.Warnings = append(r.Warnings, diffs...)
			if _, err := results.Write(c.Out, r); err != nil {
				return err
			}
		}
		all = append(all, diffs...)
	}
	if len(all) == 0 {
		return nil
	}
	c.logf("%v:\n  %s", ErrNondeterministic, strings.Join(all, "\n  "))
	return fmt.Errorf("%w: %s", ErrNondeterministic, strings.Join(all, "; "))
}

// stopsTheRun reports whether a failed run must stop the benchmark: data
// that does not verify, a damaged engine, or a failing device make every
// later number meaningless. Anything else (an engine out of space, an
// operation it refuses) fails that run only.
func stopsTheRun(err error) bool {
	return errors.Is(err, workloads.ErrMismatch) || errors.Is(err, strategies.ErrCorrupt) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, device.ErrInjected)
}

func runLabel(sc workloads.Scenario) string {
	l := sc.Name
	if sc.Label != "" {
		l = sc.Label
	}
	if sc.SweepParam != "" {
		l += fmt.Sprintf("[%s=%s]", sc.SweepParam, sc.SweepValue)
	}
	return l
}

// runOne formats engine afresh and runs one scenario point.
func (c *Config) runOne(ctx context.Context, counting *device.Counting, engine string, pt workloads.Point) (*results.Run, error) {
	st, err := formatStack(engine, counting, func(layer string) strategies.Options { return c.options(layer, pt.ChunkSize) })
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", engine, err)
	}
	defer st.close()
	p := newProgress(c, engine)
	run, err := workloads.RunScenario(ctx, workloads.Env{Engine: st.top, Counting: counting,
		EngineOptions: st.options(), Progress: p.update}, pt.Scenario)
	p.done()
	if run != nil {
		run.Engine = engine // a stacked engine's name, not only its top layer's
	}
	if err == nil {
		if ferr := st.flush(); ferr != nil {
			return run, fmt.Errorf("flush %s: %w", engine, ferr)
		}
		if cerr := st.check(); cerr != nil {
			run.Status, run.Reason = results.StatusFailed, "consistency check after the run: "+cerr.Error()
			return run, cerr
		}
	}
	if errors.Is(err, context.Canceled) {
		return run, nil // the caller sees ctx.Err()
	}
	return run, err
}

// openDevice opens the configured device, or creates the temporary file,
// under an exclusive lock (device.OpenLocked): a device another snapbench
// command is using (serve, volume, check, another run) is refused before
// anything is written. Unless c.Force, a device that holds a snapbench
// engine is refused too (RefuseFormatted), exactly as format refuses it.
func (c *Config) openDevice() (device.Device, string, func() error, error) {
	path := c.DevicePath
	temp := path == ""
	if temp {
		f, err := os.CreateTemp(c.TempDir, "snapbench-*.img")
		if err != nil {
			return nil, "", nil, fmt.Errorf("temporary device: %w", err)
		}
		path = f.Name()
		f.Close()
		os.Remove(path) // device.Open creates it sparse, with the size asked
	}
	d, unlock, err := device.OpenLocked(path, device.Options{Size: c.Size, Force: c.Force, Direct: c.Direct})
	if err == nil && !temp && !c.Force {
		if err = RefuseFormatted(d, path); err != nil {
			d.Close()
			unlock()
		}
	}
	if err != nil {
		if temp {
			os.Remove(path)
		}
		return nil, "", nil, err
	}
	cleanup := func() error {
		err := d.Close()
		unlock()
		if temp && !c.Keep {
			if rerr := os.Remove(path); rerr != nil && err == nil {
				err = rerr
			}
		}
		return err
	}
	return d, path, cleanup, nil
}

// RefuseFormatted returns an error wrapping device.ErrRefused when dev
// holds a snapbench superblock, intact or damaged: formatting it would
// destroy its volumes. format and run call it (unless --force) on the
// opened, locked device before writing anything; it only reads.
func RefuseFormatted(dev device.Device, path string) error {
	sb, err := strategies.ReadSuperblock(dev)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s already holds a snapbench engine (%s); --force formats it again, destroying its volumes",
			device.ErrRefused, path, strategies.FormatSummary(sb))
	case errors.Is(err, strategies.ErrCorrupt):
		return fmt.Errorf("%w: %s holds a damaged snapbench superblock (%v); --force formats it anyway",
			device.ErrRefused, path, err)
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// since formats a duration for progress lines.
func since(d time.Duration) string { return d.Truncate(100 * time.Millisecond).String() }
