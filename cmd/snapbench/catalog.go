package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/snapbench/snapbench/strategies"
	"github.com/snapbench/snapbench/workloads"
)

func init() {
	registerVerb(verb{name: "engines", summary: "list the engines with what they model and their options", run: runEngines})
	registerVerb(verb{name: "scenarios", summary: "list the scenarios and built-in specs, or one scenario's parameters", run: runScenarios})
}

func runEngines(args []string) int {
	fs := newFlags("engines", "engines", `
List the engines this binary holds: what each models and the options it
takes (set them with snapbench run --opt ENGINE.KEY=VALUE or snapbench
format --opt KEY=VALUE). Every engine also takes chunk (4k to 1m, default
64k).`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError("engines", "unexpected argument %q", fs.Arg(0))
	}
	for i, name := range strategies.Names() {
		f, err := strategies.LookupFactory(name)
		if err != nil {
			return fail(err)
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, f.Doc)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, p := range f.Params {
			fmt.Fprintf(tw, "  %s=%s\t%s\n", p.Name, p.Default, p.Help)
		}
		tw.Flush()
	}
	return 0
}

func runScenarios(args []string) int {
	fs := newFlags("scenarios", "scenarios [NAME]", `
Without NAME: list the scenarios snapbench run can run and the built-in specs
(snapbench run --spec NAME). With NAME: describe that scenario and list its
parameters with their defaults (set them with snapbench run --set KEY=VALUE or
in a spec file).`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch fs.NArg() {
	case 0:
		fmt.Fprintln(stdout, "scenarios:")
		for _, name := range workloads.Names() {
			doc, _ := workloads.Doc(name)
			fmt.Fprintf(stdout, "  %-10s %s\n", name, firstSentence(doc))
		}
		fmt.Fprintln(stdout, "\nbuilt-in specs (snapbench run --spec NAME):")
		for _, name := range workloads.BuiltinSpecNames() {
			sp, err := workloads.BuiltinSpec(name)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "  %-10s %s\n", name, sp.Description)
		}
		fmt.Fprintln(stdout, "\nsnapbench scenarios NAME lists a scenario's parameters.")
		return 0
	case 1:
	default:
		return usageError("scenarios", "one scenario name at most, got %d", fs.NArg())
	}
	name := fs.Arg(0)
	doc, err := workloads.Doc(name)
	if err != nil {
		return usageError("scenarios", "%v", err)
	}
	params, err := workloads.ParamDocs(name)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "%s: %s\n\nparameters (default):\n", name, doc)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, p := range params {
		def := p.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  %s=%s\t%s\n", p.Name, def, p.Help)
	}
	tw.Flush()
	return 0
}

// firstSentence is the text up to the first ". " (or all of it).
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
