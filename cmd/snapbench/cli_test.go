package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/snapbench/snapbench/device"
	"github.com/snapbench/snapbench/runner"
	"github.com/snapbench/snapbench/strategies"
)

// capture runs snapbench with args and returns its exit code and output.
func capture(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	oldOut, oldErr := stdout, stderr
	stdout, stderr = &o, &e
	defer func() { stdout, stderr = oldOut, oldErr }()
	code = run(args)
	return code, o.String(), e.String()
}

// oneErrorLine checks that errOut is a single "snapbench: ..." line.
func oneErrorLine(t *testing.T, errOut string) {
	t.Helper()
	if !strings.HasPrefix(errOut, "snapbench: ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
		t.Errorf("stderr %q is not one line starting with \"snapbench: \"", errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := capture(t, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("version: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != "snapbench "+version {
		t.Errorf("first line %q, want %q", lines[0], "snapbench "+version)
	}
	if want := "go: " + runtime.Version(); !strings.HasPrefix(lines[len(lines)-1], want) {
		t.Errorf("last line %q, want it to start with %q", lines[len(lines)-1], want)
	}

	old := version
	version = "v1.2.3-4-gabcdef0" // what -ldflags -X main.version sets
	defer func() { version = old }()
	if _, out, _ := capture(t, "version"); !strings.HasPrefix(out, "snapbench v1.2.3-4-gabcdef0\n") {
		t.Errorf("version ignores main.version: %q", out)
	}
	code, _, errOut = capture(t, "version", "extra")
	if code != 2 {
		t.Errorf("version extra: exit %d, want 2", code)
	}
	oneErrorLine(t, errOut)
	_, out, _ = capture(t, "version")
	for _, flag := range []string{"--version", "-V"} {
		code, got, errOut := capture(t, flag)
		if code != 0 || errOut != "" || got != out {
			t.Errorf("snapbench %s: exit %d, stderr %q, stdout %q; want what snapbench version prints (%q)", flag, code, errOut, got, out)
		}
	}
	code, _, errOut = capture(t, "--version", "extra")
	if code != 2 {
		t.Errorf("--version extra: exit %d, want 2", code)
	}
	oneErrorLine(t, errOut)
}

func TestDescribeVersion(t *testing.T) {
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef"},
		{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := describeVersion("v1", info)
	if !strings.Contains(got, "commit: 0123456789abcdef (modified) 2025-01-02T03:04:05Z\n") {
		t.Errorf("describeVersion with VCS settings:\n%s", got)
	}
	for _, info := range []*debug.BuildInfo{nil, {}} {
		if got := describeVersion("v1", info); strings.Contains(got, "commit") || !strings.HasPrefix(got, "snapbench v1\ngo: ") {
			t.Errorf("describeVersion without VCS settings:\n%s", got)
		}
	}
}

func TestDevicesJSON(t *testing.T) {
	code, out, errOut := capture(t, "devices", "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("devices --json: exit %d, stderr %q", code, errOut)
	}
	var devs []device.BlockDevice
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("devices --json is not a JSON array of devices: %v\n%s", err, out)
	}
	if devs == nil {
		t.Errorf("devices --json printed null, want an array")
	}
	for _, d := range devs {
		if d.Name == "" || d.Path != "/dev/"+d.Name || d.Size <= 0 || d.Kind != device.KindBlock {
			t.Errorf("device %+v", d)
		}
	}
}

func TestDevicesTable(t *testing.T) {
	var backing string
	if os.Geteuid() == 0 {
		// A loop device of our own must show, accepted, with its backing file.
		if _, err := os.Stat("/dev/loop-control"); err == nil {
			backing = filepath.Join(t.TempDir(), "cli.img")
			if err := os.WriteFile(backing, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(backing, 32<<20); err != nil {
				t.Fatal(err)
			}
			backing, _ = filepath.EvalSymlinks(backing)
			l, err := device.AttachLoop(backing, device.LoopOptions{})
			switch {
			case errors.Is(err, os.ErrPermission):
				backing = "" // root without loop devices: check the rest only
			case err != nil:
				t.Fatal(err)
			default:
				t.Cleanup(func() { l.Detach() })
			}
		}
	}
	code, out, errOut := capture(t, "devices")
	if code != 0 || errOut != "" {
		t.Fatalf("devices: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	header := regexp.MustCompile(`^NAME +SIZE +MODEL +TYPE +SECTOR +BACKING +STATUS$`)
	if !header.MatchString(lines[0]) {
		t.Fatalf("header %q", lines[0])
	}
	status := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if strings.HasSuffix(l, " ") || len(l) < status || !(strings.HasPrefix(l[status:], "ok") || strings.HasPrefix(l[status:], "refused: ")) {
			t.Errorf("row not aligned under the header, or with a bad status: %q", l)
		}
	}
	if backing != "" {
		row := regexp.MustCompile(`(?m)^loop[0-9]+ +32 MiB +- +(ssd|hdd) +512/[0-9]+ +` + regexp.QuoteMeta(backing) + ` +ok$`)
		if !row.MatchString(out) {
			t.Errorf("no row for the loop device on %s:\n%s", backing, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"devices", "--bogus"}, {"devices", "extra"}, {"help", "frobnicate"}} {
		code, out, errOut := capture(t, args...)
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", args, code, out)
		}
		oneErrorLine(t, errOut)
	}
	if code, _, errOut := capture(t); code != 2 || !strings.Contains(errOut, "snapbench help lists them") {
		t.Errorf("no arguments: exit %d, stderr %q; want 2 and a pointer to help", code, errOut)
	} else {
		oneErrorLine(t, errOut)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "help"}, {"help", "--help"}} {
		code, out, _ := capture(t, args...)
		if code != 0 {
			t.Errorf("%q: exit %d", args, code)
		}
		for name, v := range verbs {
			if !regexp.MustCompile(`(?m)^  ` + name + ` +` + regexp.QuoteMeta(v.summary) + `$`).MatchString(out) {
				t.Errorf("%q does not list %s with its summary:\n%s", args, name, out)
			}
		}
	}
	for _, args := range [][]string{{"help", "devices"}, {"devices", "--help"}, {"devices", "-h"}} {
		code, out, errOut := capture(t, args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: snapbench devices") || !strings.Contains(out, "--json") {
			t.Errorf("%q: exit %d, stderr %q, stdout:\n%s", args, code, errOut, out)
		}
	}
}

func TestRegisterVerbRejectsDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("registering \"version\" twice did not panic")
		}
	}()
	registerVerb(verb{name: "version", run: func([]string) int { return 0 }})
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 512: "512 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB",
		64 << 20: "64 MiB", 256 << 30: "256 GiB", 3 << 40 / 2: "1.5 TiB", 1 << 62: "4 EiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// signalContext reports which signal stopped the command: 130 for SIGINT,
// 143 for SIGTERM.
func TestSignalContext(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, exitSIGINT}, {syscall.SIGTERM, exitSIGTERM}} {
		ctx, stop, code := signalContext()
		if code() != 0 {
			t.Fatalf("code before any signal = %d", code())
		}
		if err := syscall.Kill(os.Getpid(), c.sig); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done()
		if code() != c.code {
			t.Errorf("%v: code %d, want %d", c.sig, code(), c.code)
		}
		stop()
	}
}

// exitCode maps refusals and configuration errors to 2, the rest to 1.
func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{fmt.Errorf("x: %w", device.ErrRefused), 2},
		{fmt.Errorf("x: %w", runner.ErrConfig), 2},
		{fmt.Errorf("x: %w", strategies.ErrInvalidArgument), 2},
		{fmt.Errorf("x: %w", device.ErrNotFound), 1},
		{errors.New("disk on fire"), 1},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}

// serve's end: an export invalidated by the engine's policy is a note, not
// a failure; any other error stays.
func TestSplitInvalidated(t *testing.T) {
	inv := fmt.Errorf("nbd: flush export %q: %w", "s1", strategies.ErrInvalidated)
	other := errors.New("nbd: flush export \"v\": disk on fire")
	for _, c := range []struct {
		name    string
		err     error
		nInv    int
		restNil bool
	}{
		{"nil", nil, 0, true},
		{"only invalidated", errors.Join(inv), 1, true},
		{"single invalidated", inv, 1, true},
		{"both", errors.Join(inv, other), 1, false},
		{"other", other, 0, false},
	} {
		got, rest := splitInvalidated(c.err)
		if len(got) != c.nInv || (rest == nil) != c.restNil {
			t.Errorf("%s: splitInvalidated = %v, %v", c.name, got, rest)
		}
	}
}
