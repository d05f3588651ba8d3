package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/runner"
	"github.com/snapbench/snapbench/strategies"
)

func init() {
	registerVerb(verb{name: "run", summary: "run benchmark scenarios on every engine and print the headline table", run: runRun})
}

const runVerbHelp = `
Format the device with each engine in turn, run the scenarios on it, write one
JSON result file per (engine, scenario) into --out, and print the headline
comparison table. With no flags it runs the default suite (snaptree,
clonebush and overwrite at fan-out 0, 1, 10, 100 on every reference engine)
on a sparse temporary file sized for the suite (at least 1 GiB) with direct
IO. Every (engine, scenario point) runs --repeat times (default 3), engines
interleaved in rotating order within each trial; tables show the median
across trials with its min–max spread, "~" where the spread cannot tell
engines apart.

Engines: snapbench engines lists them and their options (--opt
engine.key=value). upper/lower stacks engines as virtualised storage does:
linked/row runs linked on one volume of a row engine (a VMDK on VMFS on a
thin LUN), and the device counters see the IO of both layers.

Scenarios: snaptree, clonebush, overwrite, chainread, exhaust, sweep (and io).
Set their parameters with --set key=value (snapbench scenarios lists them) for
every run, or --set run.key=value for the runs of one name only (a spec run's
name:, else its scenario: --set overwrite.fanout=0,10), or run a YAML spec
with --spec FILE (or a built-in spec name: default, quick, fanout, depth,
chunk, vdi, backup, exhaust). A spec's engines: (stacks too) apply unless
--engines is given, its options: under --opt. fio's names work too: --iodepth
is --qd, --runtime is --duration, --bs is --set bs=.

The headline is fitted to 120 columns; --wide prints every column.

A real device is written from start to end. Block devices that are mounted,
held, partitioned or carry a signature are refused unless --force.
Ctrl-C stops cleanly: the interrupted run is written marked incomplete.

examples:
  snapbench run
  snapbench run --engines raw,row --scenario overwrite --set fanout=0,10,100
  snapbench run --engines linked,linked/row,linked/cow --scenario clonebush
  snapbench run --device /dev/nvme1n1 --precondition --spec fanout`

func runRun(args []string) int {
	fs := newFlags("run", "run [flags]", runVerbHelp)
	devPath := fs.String("device", "", "block device or file (default: a temporary file, removed afterwards)")
	size := fs.String("size", "", "size of a new file device (default: what the scenarios' volumes may occupy, at least 1G; sparse)")
	keep := fs.Bool("keep", false, "keep the temporary device file")
	engines := fs.String("engines", strings.Join(strategies.ReferenceNames(), ","), "engines to run, comma separated; upper/lower stacks one on a volume of the other (real-system peers only when named: "+strings.Join(peerNames(), ", ")+")")
	scenario := fs.String("scenario", "", "scenarios to run, comma separated (default: the default spec)")
	spec := fs.String("spec", "", "a YAML spec file, or a built-in spec name")
	sets := fs.StringArray("set", nil, "scenario parameter key=value for every run, or run.key=value for the runs of that name (repeatable)")
	opts := fs.StringArray("opt", nil, "engine option engine.key=value (repeatable)")
	chunk := fs.String("chunk", "", "engine chunk size, 4k to 1m (default 64k)")
	seed := fs.String("seed", "", "random seed (shortcut for --set seed=N)")
	ops := fs.String("ops", "", "operation budget (shortcut for --set ops=N)")
	duration := fs.String("duration", "", "time budget, e.g. 30s (shortcut for --set duration=D)")
	qd := fs.String("qd", "", "queue depth (shortcut for --set qd=N)")
	iodepth := fs.String("iodepth", "", "alias of --qd (fio's name)")
	runtime := fs.String("runtime", "", "alias of --duration (fio's name)")
	bs := fs.String("bs", "", "block size or split, e.g. 4k or 4k:80,64k:20 (shortcut for --set bs=B; fio's name)")
	wide := fs.Bool("wide", false, "print every column of the headline however wide (default: fitted to 120 columns)")
	verify := fs.String("verify", "", "off, stamp or full (shortcut for --set verify=M)")
	out := fs.String("out", "", "result directory (default runs/<timestamp>)")
	force := fs.Bool("force", false, "write to a device the safety rules refuse")
	buffered := fs.Bool("buffered", false, "allow buffered IO where O_DIRECT is refused (numbers then include the page cache)")
	precond := fs.Bool("precondition", false, "fill the device, then overwrite it at random, before measuring (SSDs)")
	discard := fs.Bool("discard", false, "discard the whole device before each engine")
	ioEngine := fs.String("io-engine", "auto", "how the device does IO: uring (io_uring), psync (pread/pwrite, GOMAXPROCS raised to the queue depth) or auto (uring where the kernel allows it)")
	repeat := fs.Int("repeat", 0, fmt.Sprintf("trials of every (engine, scenario point), engines interleaved (default: the spec's repeat:, else %d)", runner.DefaultRepeat))
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError("run", "unexpected argument %q", fs.Arg(0))
	}
	if *repeat < 0 {
		return usageError("run", "--repeat %d: want 1 or more trials", *repeat)
	}
	for _, a := range []struct{ alias, flag string }{{"iodepth", "qd"}, {"runtime", "duration"}} {
		if fs.Changed(a.alias) && fs.Changed(a.flag) {
			return usageError("run", "--%s is an alias of --%s: give one of them", a.alias, a.flag)
		}
	}
	if *iodepth != "" {
		*qd = *iodepth
	}
	if *runtime != "" {
		*duration = *runtime
	}
	for _, k := range []string{"iodepth", "runtime", "bs", "qd", "duration", "ops", "seed", "verify"} {
		if v, _ := fs.GetString(k); fs.Changed(k) && strings.TrimSpace(v) == "" {
			return usageError("run", "--%s: empty value", k)
		}
	}
	for k, v := range map[string]*string{"seed": seed, "ops": ops, "duration": duration, "qd": qd, "verify": verify, "bs": bs} {
		if *v != "" {
			*sets = append(*sets, k+"="+*v)
		}
	}
	cfg := &runner.Config{DevicePath: *devPath, Keep: *keep, Force: *force, Precondition: *precond,
		Discard: *discard, Out: *out, Repeat: *repeat, Version: version, Commit: vcsCommit(), TempDir: os.TempDir()}
	var err error
	if cfg.IOEngine, err = device.ParseIOEngine(*ioEngine); err != nil {
		return usageError("run", "%v", err)
	}
	if *buffered {
		cfg.Direct = device.DirectPreferred
	}
	if cfg.Out == "" {
		cfg.Out = "runs/" + time.Now().Format("20060102-150405")
	}
	cfg.Command = append([]string{"snapbench", "run"}, args...)
	if err := buildRunConfig(cfg, runFlags{size: *size, engines: *engines, enginesGiven: fs.Changed("engines"),
		scenario: *scenario, spec: *spec, chunk: *chunk, sets: *sets, opts: *opts}); err != nil {
		return usageError("run", "%v", err)
	}
	if cfg.Repeat == 0 {
		cfg.Repeat = runner.DefaultRepeat
	}
	if err := cfg.Validate(); err != nil {
		return fail(err) // ErrConfig and ErrRefused exit 2
	}
	cfg.Log, cfg.Live = stderr, isTerminal(os.Stderr)
	ctx, stop, sigCode := signalContext()
	defer stop()
	outcome, err := runner.Run(ctx, cfg)
	if len(outcome.Runs) > 0 {
		results.RenderWith(stdout, []results.Table{results.Headline(outcome.Runs)}, results.FormatTable, results.RenderOptions{Wide: *wide})
		stdoutf("\n%d result files in %s; snapbench report %s shows every phase.\n", len(outcome.Files), cfg.Out, cfg.Out)
	}
	switch {
	case outcome.Interrupted:
		code := max(sigCode(), exitSIGINT)
		if len(outcome.Runs) == 0 {
			fmt.Fprintf(stderr, "snapbench: run: interrupted by %s before any run ended; nothing was measured\n", signalName(code))
		} else {
			fmt.Fprintf(stderr, "snapbench: run: interrupted by %s; the last run is marked incomplete\n", signalName(code))
		}
		return code
	case err != nil:
		return failRuns(err)
	}
	return 0
}

// failRuns prints the errors of the runs that failed one per line (a
// run's error wraps others, so errors.Join's lines are kept, not joined).
func failRuns(err error) int {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if len(lines) == 1 {
		return fail(err)
	}
	fmt.Fprintf(stderr, "snapbench: %d runs failed:\n", len(lines))
	for _, l := range lines {
		fmt.Fprintf(stderr, "  %s\n", oneLine(l))
	}
	return 1
}

// peerNames lists the registered real-system peers.
func peerNames() []string {
	var out []string
	for _, n := range strategies.Names() {
		if f, err := strategies.LookupFactory(n); err == nil && f.Peer {
			out = append(out, n)
		}
	}
	return out
}
