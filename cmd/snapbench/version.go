package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release this binary was built from. The Makefile sets it:
// go build -ldflags "-X main.version=$(git describe --always --dirty)".
var version = "dev"

func init() {
	registerVerb(verb{name: "version", summary: "print the version, source commit and Go version", run: runVersion})
}

const versionHelp = `
Print the snapbench version (set at build time by make build from git
describe; "dev" otherwise), the source commit when the Go toolchain recorded
it in the binary (with "modified" when the tree had local changes), and the
Go version and platform. Put it in bug reports and next to published results.`

func runVersion(args []string) int {
	fs := newFlags("version", "version", versionHelp)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError("version", "unexpected argument %q", fs.Arg(0))
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, describeVersion(version, info))
	return 0
}

// describeVersion formats the version lines; info may be nil.
func describeVersion(v string, info *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "snapbench %s\n", v)
	if info != nil {
		var rev, at, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
		if rev != "" {
			fmt.Fprintf(&b, "commit: %s%s", rev, modified)
			if at != "" {
				fmt.Fprintf(&b, " %s", at)
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}
