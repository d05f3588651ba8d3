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
charts into --out, one line per engine, each engine in the same colour, dash
and marker everywhere:

  <scenario>-<phase>-<op>-cdf          latency CDF per operation kind (log x)
  <scenario>-sweep-<param>-<phase>-*   p50, p99, write amplification, ops/s
                                       and scenario metrics against the swept
                                       value (log x when it spans a decade)
  <scenario>-<phase>-series-<name>     the scenario's series, e.g. base write
                                       p99 against live snapshots

Sweep points add -<param><value> to the CDF and series names. Axes are
labelled with their units. plot only reads files.

example: snapbench plot --out charts/ results/`

func runPlot(args []string) int {
	fs := newFlags("plot", "plot --out DIR [--format svg,png] FILES|DIRS...", plotHelp)
	out := fs.StringP("out", "o", "", "directory to write the charts to (created if needed)")
	formats := fs.String("format", "svg,png", "comma-separated image formats: svg, png")
	dpi := fs.Int("dpi", 150, "resolution of PNG files")
	quiet := fs.BoolP("quiet", "q", false, "do not list the files written")
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
	files, err := results.Plot(runs, *out, results.PlotOptions{Formats: fmts, DPI: *dpi})
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
