package main

import (
	"strings"

	"github.com/snapbench/snapbench/results"
)

func init() {
	registerVerb(verb{name: "report", summary: "comparison tables from result files", run: runReport})
}

const reportHelp = `
Read result files (or every *.json under the directories given) and print
comparison tables: first the headline table, which states the thesis in
numbers (base write cost against fan-out, clone burst time, boot-storm p99,
space per clone, read cost against chain depth, whether the template could be
deleted), one column per engine; then one table per scenario phase, one row
per engine (and sweep point) with the metrics any engine has: time, ops/s,
MiB/s, p50/p99/p99.9 per operation kind, write and read amplification,
device IOs per logical IO, space after the phase, CPU seconds and the
scenario's own metrics with their units.

Engines or phases that could not run show "unsupported"; missing values show
"-". Formats: table (terminal), markdown (GitHub), csv (one long table with a
header row: table, scenario, phase, row, metric, unit, value, text), json,
and html: one self-contained page (inline CSS and SVG, no script, no
network) with the headline first, the figures snapbench plot draws by
default, every scenario's tables (wide ones scroll), the environment, the
configuration, seeds and versions. report only reads files; it never runs
anything.

examples:
  snapbench report --format markdown results/ > RESULTS.md
  snapbench report --format html --title "NVMe, 6 engines" results/ > report.html`

func runReport(args []string) int {
	fs := newFlags("report", "report [--format table|markdown|csv|json|html] [--headline] FILES|DIRS...", reportHelp)
	format := fs.StringP("format", "f", results.FormatTable, "output format: "+strings.Join(results.Formats, ", ")+", "+formatHTML)
	title := fs.String("title", "", "title of the html report (default \"snapbench results\")")
	headline := fs.Bool("headline", false, "print only the headline table")
	phases := fs.Bool("phases", false, "print only the per-phase tables")
	wide := fs.Bool("wide", false, "table format: every column, however wide (default: fitted to 120 columns, the columns left out named)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return usageError("report", "no result files or directories given")
	}
	if *format != formatHTML && !validFormat(*format) {
		return usageError("report", "unknown format %q (want %s, %s)", *format, strings.Join(results.Formats, ", "), formatHTML)
	}
	if *headline && *phases {
		return usageError("report", "--headline and --phases exclude each other")
	}
	if *format == formatHTML && (*headline || *phases) {
		return usageError("report", "--format html is the whole report: --headline and --phases do not apply")
	}
	if *title != "" && *format != formatHTML {
		return usageError("report", "--title applies to --format html only")
	}
	runs, err := results.LoadAll(fs.Args()...)
	if err != nil {
		return fail(err)
	}
	if *format == formatHTML {
		opts := results.HTMLOptions{Title: *title, Generator: "snapbench " + version}
		if err := results.WriteHTML(stdout, runs, opts); err != nil {
			return fail(err)
		}
		return 0
	}
	var tables []results.Table
	switch {
	case *headline:
		tables = []results.Table{results.Headline(runs)}
	case *phases:
		tables = results.PhaseTables(results.CollapseTrials(runs))
	default:
		tables = results.Report(runs)
	}
	if err := results.RenderWith(stdout, tables, *format, results.RenderOptions{Wide: *wide}); err != nil {
		return fail(err)
	}
	return 0
}

// formatHTML is report's self-contained page (results.WriteHTML), beside
// the table formats of results.Render.
const formatHTML = "html"

func validFormat(f string) bool {
	for _, ok := range results.Formats {
		if f == ok {
			return true
		}
	}
	return false
}
