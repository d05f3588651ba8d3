// Command snapbench measures snapshot and clone implementations of block
// volumes. Each verb lives in its own file and adds itself to the verb table
// from an init function with registerVerb; main only dispatches.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/runner"
	"github.com/snapbench/snapbench/strategies"
)

// verb is one subcommand: snapbench <name> [args].
type verb struct {
	name    string
	summary string                  // one line for the verb list
	run     func(args []string) int // exit code: see exitCodesHelp
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
		fmt.Fprintln(stderr, "snapbench: no verb given (snapbench help lists them)")
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help":
		return runHelp(args[1:])
	case "--version", "-V":
		return runVersion(args[1:]) // snapbench --version is snapbench version
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
	fmt.Fprint(w, "\nsnapbench <verb> --help explains a verb and its flags; snapbench --version is snapbench version.\n\n"+exitCodesHelp+"\n")
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
		fmt.Fprintf(stdout, "\n%s\n", exitCodesHelp)
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

// The exit codes, one convention for every verb.
const (
	exitOK      = 0   // done
	exitFailure = 1   // a runtime failure, or damage found (check)
	exitUsage   = 2   // bad arguments, or a refusal (safety rules, device in use, formatted device)
	exitSIGINT  = 130 // interrupted by SIGINT (Ctrl-C): 128+2
	exitSIGTERM = 143 // interrupted by SIGTERM: 128+15
)

// exitCodesHelp is the exit-code paragraph of snapbench --help and of each
// verb's --help.
const exitCodesHelp = `exit codes: 0 ok; 1 runtime failure or damage found; 2 bad usage or a
refusal (safety rules, device in use, formatted device, invalid option);
130 interrupted by SIGINT (Ctrl-C); 143 interrupted by SIGTERM. serve stops
on SIGINT or SIGTERM as its normal end and then exits 0.`

// fail reports err in one line; its exit code is exitCode(err).
func fail(err error) int {
	fmt.Fprintf(stderr, "snapbench: %s\n", oneLine(err.Error()))
	return exitCode(err)
}

// exitCode maps an error to the convention: refusals and configuration
// errors (nothing was written) are 2, everything else 1.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, device.ErrRefused), errors.Is(err, runner.ErrConfig),
		errors.Is(err, strategies.ErrInvalidArgument):
		return exitUsage
	}
	return exitFailure
}

// signalContext is cancelled on SIGINT or SIGTERM. code reports the exit
// code for the signal received (130 or 143; 0 while none was). stop
// restores the default signal handling (a second Ctrl-C then kills at once)
// and releases the context.
func signalContext() (ctx context.Context, stop func(), code func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got atomic.Int32
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got.Store(exitSIGINT)
			if s == syscall.SIGTERM {
				got.Store(exitSIGTERM)
			}
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
	return ctx, stop, func() int { return int(got.Load()) }
}

// signalName names the signal of an exit code from signalContext.
func signalName(code int) string {
	if code == exitSIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
