// Command snapbench measures snapshot and clone implementations of block
// volumes. Each verb lives in its own file and adds itself to the verb table
// from an init function with registerVerb; main only dispatches.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// verb is one subcommand: snapbench <name> [args].
type verb struct {
	name    string
	summary string                  // one line for the verb list
	run     func(args []string) int // exit code: 0 ok, 1 failure, 2 usage error
}

// verbs is the verb table, filled by registerVerb from init functions.
var verbs = map[string]verb{}

// registerVerb adds v to the verb table. It panics on a duplicate name, a
// programming error caught at start-up. A verb file registers itself:
//
//	func init() {
//		registerVerb(verb{name: "run", summary: "run a scenario", run: runRun})
//	}
func registerVerb(v verb) {
	if _, dup := verbs[v.name]; dup || v.name == "" || v.run == nil {
		panic(fmt.Sprintf("snapbench: bad or duplicate verb %q", v.name))
	}
	verbs[v.name] = v
}

// Where verbs write; tests swap them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

func init() {
	registerVerb(verb{name: "help", summary: "list the verbs, or explain one: snapbench help <verb>", run: runHelp})
}

func main() { os.Exit(run(os.Args[1:])) }

// run dispatches args (without the program name) and returns the exit code.
func run(args []string) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help":
		return runHelp(args[1:])
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "snapbench: unknown verb %q (snapbench help lists them)\n", args[0])
		return 2
	}
	return v.run(args[1:])
}

func runHelp(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		return 0
	}
	if _, ok := verbs[args[0]]; !ok {
		fmt.Fprintf(stderr, "snapbench: unknown verb %q (snapbench help lists them)\n", args[0])
		return 2
	}
	return verbs[args[0]].run([]string{"--help"})
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "snapbench compares snapshot and clone implementations of block volumes.\n\n")
	fmt.Fprint(w, "usage: snapbench <verb> [flags] [args]\n\nverbs:\n")
	names := make([]string, 0, len(verbs))
	width := 0
	for name := range verbs {
		names = append(names, name)
		width = max(width, len(name))
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, name, verbs[name].summary)
	}
	fmt.Fprint(w, "\nsnapbench <verb> --help explains a verb and its flags.\n")
}

// newFlags returns the flag set of a verb. Its --help prints the synopsis,
// the explanation and the flags to stdout.
func newFlags(name, synopsis, explanation string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by parseFlags, in one line
	fs.Usage = func() {
		fmt.Fprintf(stdout, "usage: snapbench %s\n\n%s\n", synopsis, strings.TrimSpace(explanation))
		if fs.HasFlags() {
			fmt.Fprintf(stdout, "\nflags:\n%s", fs.FlagUsages())
		}
	}
	return fs
}

// parseFlags parses a verb's arguments. When done is true the verb must
// return code at once: help was printed (0) or the arguments are wrong (2).
func parseFlags(fs *pflag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return 0, true
	case err != nil:
		return usageError(fs.Name(), "%v", err), true
	}
	return 0, false
}

// usageError reports wrong arguments to a verb in one line; exit code 2.
func usageError(verbName, format string, args ...any) int {
	fmt.Fprintf(stderr, "snapbench: %s: %s (snapbench %s --help)\n", verbName, fmt.Sprintf(format, args...), verbName)
	return 2
}

// fail reports err in one line; exit code 1.
func fail(err error) int {
	fmt.Fprintf(stderr, "snapbench: %s\n", oneLine(err.Error()))
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
