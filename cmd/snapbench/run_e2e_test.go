package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// buildBinary compiles snapbench into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "snapbench")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRunEndToEnd runs `snapbench run` as a subprocess on a small file with
// every engine and the default scenarios at toy scale, then report and
// compare (an identical run passes; the run against itself exits 0).
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	out := filepath.Join(dir, "out")
	dev := filepath.Join(dir, "dev.img")
	spec := filepath.Join(dir, "small.yaml")
	if err := os.WriteFile(spec, []byte(smallSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--device", dev, "--size", "192M", "--out", out, "--spec", spec, "--seed", "7", "--repeat", "2"}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	stdoutB, err := cmd.Output()
	if err != nil {
		var stderrB []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderrB = ee.Stderr
		}
		t.Fatalf("snapbench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdoutB, stderrB)
	}
	if !strings.Contains(string(stdoutB), "headline") {
		t.Fatalf("no headline table in output:\n%s", stdoutB)
	}
	runs, err := results.LoadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	engines := strategies.ReferenceNames()
	if len(runs) != 2*3*len(engines) {
		t.Fatalf("%d result files, want %d (2 trials × 3 scenarios × %d engines)", len(runs), 2*3*len(engines), len(engines))
	}
	for _, r := range runs {
		if r.Trials != 2 || r.Trial < 1 || r.Trial > 2 {
			t.Errorf("%s/%s: trial %d of %d, want 1 or 2 of 2", r.Engine, r.Scenario, r.Trial, r.Trials)
		}
		switch r.Status {
		case results.StatusOK, results.StatusUnsupported:
		default:
			t.Errorf("%s/%s: status %s: %s", r.Engine, r.Scenario, r.Status, r.Reason)
		}
		if r.Status == results.StatusOK && len(r.Phases) == 0 {
			t.Errorf("%s/%s: ok with no phases", r.Engine, r.Scenario)
		}
	}
	report := exec.Command(bin, "report", "--format", "json", out)
	js, err := report.Output()
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var anyJSON any
	if err := json.Unmarshal(js, &anyJSON); err != nil {
		t.Fatalf("report --format json is not JSON: %v", err)
	}
	if outB, err := exec.Command(bin, "compare", out, out).CombinedOutput(); err != nil {
		t.Fatalf("compare of a run with itself failed: %v\n%s", err, outB)
	}
	if _, err := os.Stat(dev); err != nil {
		t.Fatalf("the device file given with --device should stay: %v", err)
	}
}

// smallSpec is the default suite (snaptree, clonebush, overwrite) at toy
// scale.
const smallSpec = `
name: small
runs:
  - scenario: snaptree
    volume_size: 2m
    ops: 512
    every: 64
  - scenario: clonebush
    volume_size: 2m
    working_set: 1m
    fill: 1m
    boot_size: 256k
    clones: 8
    ops: 256
  - scenario: overwrite
    volume_size: 1m
    fanout: [0, 2]
    ops: 256
`

// TestRunBadInput: each bad input is one line and exit code 2, before any
// device write.
func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "dev.img")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown engine", []string{"--engines", "nope"}, "unknown engine"},
		{"unknown stacked layer", []string{"--engines", "linked/nope"}, `unknown engine "nope"`},
		{"empty stacked layer", []string{"--engines", "linked/"}, `unknown engine ""`},
		{"unknown scenario", []string{"--scenario", "nope"}, "unknown scenario"},
		{"bad set", []string{"--scenario", "snaptree", "--set", "qd=-1"}, "qd"},
		{"too small", []string{"--size", "8M"}, "need at least"},
		{"unwritable out", []string{"--out", "/proc/nope"}, "output directory"},
		{"bad opt", []string{"--opt", "raw.nope=1", "--engines", "raw"}, "unknown option"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var errBuf strings.Builder
			stderr = &errBuf
			defer func() { stderr = os.Stderr }()
			args := append([]string{"--device", dev, "--out", filepath.Join(dir, "out")}, c.args...)
			if code := runRun(args); code != 2 {
				t.Fatalf("exit code %d, want 2; stderr: %s", code, errBuf.String())
			}
			msg := errBuf.String()
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Fatalf("stderr %q: want one line containing %q", msg, c.want)
			}
			if _, err := os.Stat(dev); err == nil {
				t.Fatalf("the device file was created despite bad input")
			}
		})
	}
}

// TestRunRefusesSignature: an existing file with an ext4 signature is
// refused with a mention of --force.
func TestRunRefusesSignature(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "ext4.img")
	img := make([]byte, 1<<20)
	img[0x438], img[0x439] = 0x53, 0xef
	if err := os.WriteFile(dev, img, 0o644); err != nil {
		t.Fatal(err)
	}
	var errBuf strings.Builder
	stderr = &errBuf
	defer func() { stderr = os.Stderr }()
	if code := runRun([]string{"--device", dev, "--out", filepath.Join(dir, "out"), "--engines", "raw"}); code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, errBuf.String())
	}
	if !strings.Contains(errBuf.String(), "--force") || !strings.Contains(errBuf.String(), "ext") {
		t.Fatalf("message %q should name the signature and --force", errBuf.String())
	}
}

// TestRunStackedEngine runs linked on a volume of row, and checks the
// result names the stack, both layers' options, and that the stack's
// device IO is counted under the bottom layer.
func TestRunStackedEngine(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	var outBuf, errBuf strings.Builder
	stdout, stderr = &outBuf, &errBuf
	defer func() { stdout, stderr = os.Stdout, os.Stderr }()
	args := []string{"--device", filepath.Join(dir, "dev.img"), "--size", "128M", "--out", out,
		"--engines", "linked/row", "--scenario", "overwrite", "--set", "fanout=0,2", "--set", "volume_size=1m",
		"--set", "ops=128", "--opt", "row.cache-mb=1", "--repeat", "1"}
	if code := runRun(args); code != 0 {
		t.Fatalf("run %v: exit %d\n%s%s", args, code, outBuf.String(), errBuf.String())
	}
	runs, err := results.LoadAll(out)
	if err != nil || len(runs) != 1 {
		t.Fatalf("%d runs, %v", len(runs), err)
	}
	r := runs[0]
	if r.Engine != "linked/row" || r.Status != results.StatusOK {
		t.Fatalf("engine %q status %s (%s)", r.Engine, r.Status, r.Reason)
	}
	if !strings.Contains(r.EngineOptions, "replica=true") || !strings.Contains(r.EngineOptions, " / ") ||
		!strings.Contains(r.EngineOptions, "cache-mb=1") {
		t.Errorf("engine options %q: want both layers'", r.EngineOptions)
	}
	if p := r.Phase("overwrite"); p == nil || p.Device.Writes == 0 {
		t.Errorf("no device writes counted under the stack: %+v", p)
	}
}
