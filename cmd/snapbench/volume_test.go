package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mustRun runs snapbench in-process and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := capture(t, args...)
	if code != 0 {
		t.Fatalf("snapbench %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// mustFail runs snapbench and checks its exit code and one-line error.
func mustFail(t *testing.T, wantCode int, wantErr string, args ...string) {
	t.Helper()
	code, out, errOut := capture(t, args...)
	if code != wantCode || !strings.Contains(errOut, wantErr) {
		t.Errorf("snapbench %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), code, errOut, wantCode, wantErr)
	}
	if wantCode == 1 && out != "" {
		t.Errorf("snapbench %s printed %q before failing", strings.Join(args, " "), out)
	}
	oneErrorLine(t, errOut)
}

// formatted returns a new device file of size with engine laid on it.
func formatted(t *testing.T, engine, size string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sb.img")
	out := mustRun(t, "format", "--device", path, "--size", size, "--engine", engine)
	if !strings.HasPrefix(out, "formatted "+path) || !strings.Contains(out, "with engine "+engine) {
		t.Fatalf("format printed %q", out)
	}
	return path
}

func TestFormatAndVolumeVerbs(t *testing.T) {
	dev := formatted(t, "full", "256M")
	mustFail(t, 2, "already holds a snapbench engine (full chunk=65536", "format", "--device", dev, "--engine", "raw")

	out := mustRun(t, "volume", "create", "--device", dev, "--name", "base", "--size", "32M")
	if out != `created base volume "base" (id 1, 32 MiB) on `+dev+" (engine full)\n" {
		t.Errorf("create printed %q", out)
	}
	mustRun(t, "volume", "snapshot", "--device", dev, "--source", "base", "--name", "base@1")
	mustRun(t, "volume", "clone", "--device", dev, "--source", "base@1", "--name", "vm1")
	mustRun(t, "volume", "clone", "--device", dev, "--source", "base", "--name", "vm2")
	mustFail(t, 1, `full: "vm1": volume name exists`, "volume", "clone", "--device", dev, "--source", "base", "--name", "vm1")
	mustFail(t, 1, `"nope": volume not found`, "volume", "snapshot", "--device", dev, "--source", "nope", "--name", "x")
	mustFail(t, 2, "must be a positive multiple of the chunk size", "volume", "create", "--device", dev, "--name", "odd", "--size", "100K")
	mustRun(t, "volume", "delete", "--device", dev, "--name", "vm2")
	mustFail(t, 1, `"vm2": volume not found`, "volume", "delete", "--device", dev, "--name", "vm2")

	out = mustRun(t, "volume", "list", "--device", dev)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, re := range []string{
		`^ID +NAME +KIND +PARENT +SIZE +PRIVATE +VALID$`,
		`^1 +base +base +- +32 MiB +[0-9.]+ MiB +yes$`,
		`^2 +base@1 +snapshot +base +32 MiB +[0-9.]+ MiB +yes$`,
		`^3 +vm1 +clone +base@1 +32 MiB +[0-9.]+ MiB +yes$`,
		`^engine full \(chunk=65536\), 3 volume\(s\); space: capacity 255 MiB, data 96 MiB, metadata [0-9.]+ [KM]iB, free [0-9.]+ MiB$`,
	} {
		if i >= len(lines) || !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Fatalf("volume list line %d does not match %s:\n%s", i, re, out)
		}
	}
	if len(lines) != 5 {
		t.Errorf("volume list printed %d lines:\n%s", len(lines), out)
	}

	var l volumeListing
	if err := json.Unmarshal([]byte(mustRun(t, "volume", "list", "--device", dev, "--json")), &l); err != nil {
		t.Fatal(err)
	}
	if l.Engine != "full" || len(l.Volumes) != 3 || l.Volumes[2].Name != "vm1" || l.Volumes[2].Kind != "clone" ||
		l.Volumes[2].ParentName != "base@1" || !l.Volumes[1].ReadOnly || l.Space.Data != 96<<20 || !l.Caps.Clone {
		t.Errorf("volume list --json: %+v", l)
	}

	mustRun(t, "format", "--device", dev, "--engine", "raw", "--force")
	if out := mustRun(t, "volume", "list", "--device", dev); !strings.Contains(out, "engine raw (chunk=65536), 0 volume(s)") {
		t.Errorf("after reformatting: %s", out)
	}
}

func TestRawEngineRefusesCopies(t *testing.T) {
	dev := formatted(t, "raw", "64M")
	mustRun(t, "volume", "create", "--device", dev, "--name", "only", "--size", "32M")
	mustFail(t, 1, "raw: a second volume: unsupported by this engine", "volume", "create", "--device", dev, "--name", "two", "--size", "1M")
	mustFail(t, 1, "raw: snapshot: unsupported by this engine", "volume", "snapshot", "--device", dev, "--source", "only", "--name", "s")
	mustFail(t, 1, "raw: clone: unsupported by this engine", "volume", "clone", "--device", dev, "--source", "only", "--name", "c")
}

func TestFormatErrors(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "new.img")
	mustFail(t, 2, "--device is required", "format", "--engine", "full")
	mustFail(t, 2, "--engine is required", "format", "--device", dev)
	mustFail(t, 2, `unknown engine "nope"`, "format", "--device", dev, "--engine", "nope")
	mustFail(t, 2, "--chunk \"3K\"", "format", "--device", dev, "--engine", "full", "--chunk", "3K")
	mustFail(t, 2, "--size", "format", "--device", dev, "--engine", "full", "--size", "12Q")
	mustFail(t, 2, "--opt", "format", "--device", dev, "--engine", "full", "--opt", "novalue")
	mustFail(t, 2, "does not exist; give --size to create it", "format", "--device", dev, "--engine", "full")
	mustFail(t, 2, `full: unknown option "x"`, "format", "--device", dev, "--engine", "full", "--size", "64M", "--opt", "x=1")
	tiny := filepath.Join(dir, "tiny.img")
	mustFail(t, 1, "is too small", "format", "--device", tiny, "--engine", "full", "--size", "1M")
	if _, err := os.Stat(tiny); !os.IsNotExist(err) {
		t.Errorf("a failed format left the file it created: %v", err)
	}
	if code, out, _ := capture(t, "format", "--help"); code != 0 || !strings.Contains(out, "\n  raw ") || !strings.Contains(out, "\n  full ") {
		t.Errorf("format --help does not list the engines:\n%s", out)
	}
}

func TestVolumeUsage(t *testing.T) {
	dev := formatted(t, "full", "64M")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"volume", "frob"}, `unknown subcommand "frob"`},
		{[]string{"volume", "create", "--name", "x", "--size", "1M"}, "volume create: --device is required"},
		{[]string{"volume", "create", "--device", dev, "--size", "1M"}, "--name is required"},
		{[]string{"volume", "create", "--device", dev, "--name", "x"}, "--size is required"},
		{[]string{"volume", "create", "--device", dev, "--name", "x", "--size", "1.5G"}, "--size"},
		{[]string{"volume", "snapshot", "--device", dev, "--name", "x"}, "--source is required"},
		{[]string{"volume", "clone", "--device", dev, "--source", "x"}, "--name is required"},
		{[]string{"volume", "delete", "--device", dev}, "--name is required"},
		{[]string{"volume", "list", "--device", dev, "extra"}, `unexpected argument "extra"`},
		{[]string{"volume", "list", "--bogus"}, "unknown flag: --bogus"},
	} {
		mustFail(t, 2, tc.want, tc.args...)
	}
	if code, _, errOut := capture(t, "volume"); code != 2 || !strings.Contains(errOut, "a subcommand is required") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("volume without a subcommand: exit %d, %q", code, errOut)
	}
	for _, args := range [][]string{{"volume", "--help"}, {"help", "volume"}, {"volume", "clone", "--help"}} {
		if code, out, _ := capture(t, args...); code != 0 || !strings.Contains(out, "usage: snapbench volume") {
			t.Errorf("%q: exit %d\n%s", args, code, out)
		}
	}
	mustFail(t, 1, "holds no snapbench engine", "volume", "list", "--device", writeZeroFile(t, 8<<20))
	mustFail(t, 1, "device: not found", "volume", "list", "--device", filepath.Join(t.TempDir(), "missing"))
}

func TestOpenEngineLocksTheDevice(t *testing.T) {
	dev := formatted(t, "full", "64M")
	_, _, closeAll, err := openEngine(dev, false, false)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, 2, "is in use by another snapbench command", "volume", "list", "--device", dev)
	mustFail(t, 2, "is in use by another snapbench command", "format", "--device", dev, "--engine", "raw", "--force")
	if err := closeAll(); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "volume", "list", "--device", dev)
}

// writeZeroFile returns a new file of n zero bytes (sparse).
func writeZeroFile(t *testing.T, n int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zero.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	return path
}
