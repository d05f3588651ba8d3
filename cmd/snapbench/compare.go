package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/snapbench/snapbench/results"
)

func init() {
	registerVerb(verb{name: "compare", summary: "compare two run sets; exit 1 on a regression", run: runCompare})
}

const compareHelp = `
Compare the result files of BASE and NEW (files or directories). Runs pair by
scenario (or label), engine and sweep point; phases by name and occurrence.
Deterministic counters must match exactly: device reads, writes, bytes and
flushes, space after each phase, operation counts and bytes (compared only
when both runs are ok, used the same seed and parameters, at qd 1 and without
a time budget). Timings (phase seconds and p50 per operation kind) are
compared as ratios to the raw engine's same phase in the same run set, so a
slower or faster machine does not count; slower by more than --threshold is
a regression. The wall time of a phase shorter than 1 s is not compared
(one stall of a shared machine moves it), nor percentiles of fewer than
100 operations; the percentiles of short phases are. Without a raw run
timings are skipped with a note, unless --absolute.

Prints the differences (all values with --all), notes and a summary line.
Exit status: 0 no regression, 1 a regression (a counter mismatch, a slower
ratio, a run or phase of BASE missing, failed or unsupported in NEW), 2 usage.

--bench FILES|DIRS prints Go benchmark lines instead, for benchstat:
  snapbench compare --bench base/ > old.txt
  snapbench compare --bench new/  > new.txt
  benchstat old.txt new.txt

example: snapbench compare --threshold 5% ci/baseline/ out/`

func runCompare(args []string) int {
	fs := newFlags("compare", "compare [--threshold 10%] [--absolute] [--all] BASE NEW\n       snapbench compare --bench FILES|DIRS...", compareHelp)
	threshold := fs.String("threshold", "10%", "timing ratio change that counts as a regression: 10% or 0.1")
	absolute := fs.Bool("absolute", false, "compare timings as absolute values where no raw run exists")
	all := fs.Bool("all", false, "list every compared value, not only the differences")
	format := fs.StringP("format", "f", results.FormatTable, "table format: "+strings.Join(results.Formats, ", "))
	bench := fs.Bool("bench", false, "print Go benchmark lines of the given runs and exit")
	wide := fs.Bool("wide", false, "table format: every column, however wide (default: fitted to 120 columns)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *bench {
		if fs.NArg() == 0 {
			return usageError("compare", "--bench needs result files or directories")
		}
		runs, err := results.LoadAll(fs.Args()...)
		if err != nil {
			return fail(err)
		}
		if err := results.WriteBench(stdout, runs); err != nil {
			return fail(err)
		}
		return 0
	}
	if fs.NArg() != 2 {
		return usageError("compare", "want BASE and NEW, got %d arguments", fs.NArg())
	}
	th, err := parseThreshold(*threshold)
	if err != nil {
		return usageError("compare", "%v", err)
	}
	if !validFormat(*format) {
		return usageError("compare", "unknown format %q (want %s)", *format, strings.Join(results.Formats, ", "))
	}
	base, err := results.LoadAll(fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	next, err := results.LoadAll(fs.Arg(1))
	if err != nil {
		return fail(err)
	}
	c := results.Compare(base, next, results.CompareOptions{Threshold: th, Absolute: *absolute})
	if c.Runs == 0 {
		fmt.Fprintf(stderr, "snapbench: compare: %s and %s have no run in common (same scenario or label, engine and sweep point); nothing to compare\n", fs.Arg(0), fs.Arg(1))
		return 2
	}
	t := c.Table(*all)
	human := *format == results.FormatTable || *format == results.FormatMarkdown
	if human && len(t.Rows) == 0 {
		fmt.Fprintln(stdout, "compare: no differences")
		for _, n := range t.Notes {
			fmt.Fprintf(stdout, "  note: %s\n", n)
		}
	} else if err := results.RenderWith(stdout, []results.Table{t}, *format, results.RenderOptions{Wide: *wide}); err != nil {
		return fail(err)
	}
	if human {
		fmt.Fprintln(stdout, c.Summary())
	}
	if c.Regressions() > 0 {
		return 1
	}
	return 0
}

// parseThreshold reads "10%" or "0.1" as 0.1.
func parseThreshold(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("threshold %q: not a number or percentage", s)
	}
	if pct {
		v /= 100
	}
	if !(v > 0 && v < 100) {
		return 0, fmt.Errorf("threshold %q: must be above 0", s)
	}
	return v, nil
}
