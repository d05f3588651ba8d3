package main

import (
	"fmt"
	"strings"

	"github.com/snapbench/snapbench/results"
)

func init() {
	registerVerb(verb{name: "plot", summary: "SVG and PNG charts from result files", run: runPlot})
}

const plotHelp = `
Read result files (or every *.json under the directories given) and draw
into --out the figures that answer the suite's questions, about a dozen for
the default suite, each only when the runs carry its data:

  base write latency (p50, p99) and device bytes per base write against
  fan-out (log axes); base write latency by percentile at the lowest and
  highest fan-out; clone burst time against burst size (where swept); boot
  storm read and write latency by percentile; p99 over the run, phase by
  phase; base write latency and bytes against live snapshots; live
  snapshots and space over time; read latency against chain depth

Latency distributions are drawn as HdrHistogram's plotter does: percentile
on a log 1/(1-p) axis so that p99 and p99.9 get room. Every engine keeps its
colour, dash and marker in every figure; legends sit right of the data and
name a degraded engine's condition. --all draws every chart instead: a
distribution per operation kind and phase (<scenario>-<phase>-<op>-cdf),
sweeps (<scenario>-sweep-<param>-<phase>-<metric>), repeated phases against
their parameter, and every series. plot only reads files.

example: snapbench plot --out charts/ results/`

func runPlot(args []string) int {
	fs := newFlags("plot", "plot --out DIR [--format svg,png] [--all] FILES|DIRS...", plotHelp)
	out := fs.StringP("out", "o", "", "directory to write the charts to (created if needed)")
	formats := fs.String("format", "svg,png", "comma-separated image formats: svg, png")
	dpi := fs.Int("dpi", 150, "resolution of PNG files")
	quiet := fs.BoolP("quiet", "q", false, "do not list the files written")
	all := fs.Bool("all", false, "draw every chart, not only the thesis figures")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *out == "" {
		return usageError("plot", "--out is required")
	}
	if fs.NArg() == 0 {
		return usageError("plot", "no result files or directories given")
	}
	var fmts []string
	for _, f := range strings.Split(*formats, ",") {
		switch f = strings.TrimSpace(f); f {
		case "svg", "png":
			fmts = append(fmts, f)
		default:
			return usageError("plot", "unknown format %q (want svg, png)", f)
		}
	}
	if *dpi < 30 || *dpi > 1200 {
		return usageError("plot", "--dpi %d out of range 30..1200", *dpi)
	}
	runs, err := results.LoadAll(fs.Args()...)
	if err != nil {
		return fail(err)
	}
	files, err := results.Plot(runs, *out, results.PlotOptions{Formats: fmts, DPI: *dpi, All: *all})
	if err != nil {
		return fail(err)
	}
	if !*quiet {
		for _, f := range files {
			fmt.Fprintln(stdout, f)
		}
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "snapbench: plot: nothing to draw (no histograms, sweeps or series in these runs)")
	}
	return 0
}
