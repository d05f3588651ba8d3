package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/snapbench/snapbench/device"
)

// goTypeName matches what a Go type name looks like in a message
// (workloads.specFile, *os.PathError, strategies.Options).
var goTypeName = regexp.MustCompile(`\*?\b[a-z][a-z0-9]*\.[A-Z][A-Za-z0-9]*\b`)

// badInputFixture is a directory of devices for TestBadInputs: "@name" in a
// case's arguments is replaced by the path of fixture name.
type badInputFixture struct {
	dir   string
	paths map[string]string
}

func (f *badInputFixture) path(name string) string {
	if p, ok := f.paths[name]; ok {
		return p
	}
	return filepath.Join(f.dir, name)
}

func (f *badInputFixture) expand(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.HasPrefix(a, "@") {
			out[i] = f.path(a[1:])
		}
		out[i] = strings.ReplaceAll(out[i], "{dir}", f.dir)
	}
	return out
}

// newBadInputFixture builds:
//
//	row     a row engine with volume "base" and snapshot "snap"
//	zeros   a 64 MiB file of zeros (no engine)
//	ext4    a 64 MiB file with the ext4 magic at 0x438
//	minix   a 64 MiB file with a minix v1 magic
//	odd     a 1000-byte file
//	dir     a directory
//	typo.yaml, split.yaml, twice.yaml   bad specs
func newBadInputFixture(t *testing.T) *badInputFixture {
	dir := diskTempDir(t)
	f := &badInputFixture{dir: dir, paths: map[string]string{}}
	file := func(name string, size int64, magicOff int64, magic string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		if magic != "" {
			fh, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteAt([]byte(magic), magicOff); err != nil {
				t.Fatal(err)
			}
			fh.Close()
		}
	}
	file("zeros", 64<<20, 0, "")
	file("ext4", 64<<20, 0x438, "\x53\xef")
	file("minix", 64<<20, 0x410, "\x7f\x13")
	file("odd", 1000, 0, "")
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	row := filepath.Join(dir, "row")
	for _, args := range [][]string{
		{"format", "--device", row, "--size", "64M", "--engine", "row"},
		{"volume", "create", "--device", row, "--name", "base", "--size", "16M"},
		{"volume", "snapshot", "--device", row, "--source", "base", "--name", "snap"},
	} {
		if code, _, errOut := capture(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	for name, text := range map[string]string{
		"typo.yaml":   "nmae: x\nruns:\n  - scenario: overwrite\n",
		"opts.yaml":   "options: [row]\nruns:\n  - scenario: overwrite\n",
		"optkey.yaml": "engines: [row]\noptions:\n  row: {nosuch: 1}\nruns:\n  - scenario: overwrite\n    volume_size: 8m\n",
		"split.yaml":  "runs:\n  - scenario: overwrite\n    bs: 4k:90,64k:20\n",
		"twice.yaml":  "runs:\n  - scenario: overwrite\n    name: a\n  - scenario: io\n    name: a\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// diskTempDir is a temporary directory on a file system that takes O_DIRECT
// (tmpfs may not): under /var/tmp where it exists.
func diskTempDir(t *testing.T) string {
	base := "/var/tmp"
	if _, err := os.Stat(base); err != nil {
		base = ""
	}
	dir, err := os.MkdirTemp(base, "snapbench-badinput-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func sumFile(t *testing.T, p string) string {
	fh, err := os.Open(p)
	if err != nil {
		return "absent"
	}
	defer fh.Close()
	st, _ := fh.Stat()
	if st.IsDir() {
		return "dir"
	}
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// badInput is one refused command line.
type badInput struct {
	name string
	args []string // "@fixture" is a fixture's path, {dir} the fixture directory
	code int      // the documented exit code
	want string   // a phrase stderr must contain
	dev  string   // fixture whose checksum must not change ("" none)
	lock string   // hold "shared" or "exclusive" lock on dev meanwhile
	root string   // "immutable", "ro-loop" (dev becomes that) or "loop-backing" (a loop device serves dev); root only
	// fresh names a path ({dir} expanded) that must not exist after the
	// command: the --out directory of a case refused before anything is
	// written.
	fresh string
}

func badInputs() []badInput {
	out := "{dir}/runs"
	fresh := "{dir}/fresh-runs" // never created: checked after each case naming it
	return []badInput{
		// Dispatch and read-only verbs without a device.
		{name: "no verb", args: nil, code: 2, want: "no verb"},
		{name: "unknown verb", args: []string{"frobnicate"}, code: 2, want: "unknown verb"},
		{name: "help of unknown verb", args: []string{"help", "frobnicate"}, code: 2, want: "unknown verb"},
		{name: "version extra", args: []string{"version", "x"}, code: 2, want: "unexpected argument"},
		{name: "engines extra", args: []string{"engines", "x"}, code: 2, want: "unexpected argument"},
		{name: "scenarios unknown", args: []string{"scenarios", "x"}, code: 2, want: "unknown scenario"},
		{name: "devices extra", args: []string{"devices", "x"}, code: 2, want: "unexpected argument"},
		{name: "report nothing", args: []string{"report"}, code: 2, want: "no result files"},
		{name: "compare one", args: []string{"compare", "a"}, code: 2, want: "want BASE and NEW"},
		{name: "plot no out", args: []string{"plot"}, code: 2, want: "--out is required"},
		{name: "unknown flag", args: []string{"check", "--frob"}, code: 2, want: "unknown flag"},

		// format.
		{name: "format no device", args: []string{"format", "--engine", "row"}, code: 2, want: "--device is required"},
		{name: "format no engine", args: []string{"format", "--device", "@zeros"}, code: 2, want: "--engine is required", dev: "zeros"},
		{name: "format unknown engine", args: []string{"format", "--device", "@zeros", "--engine", "zfs"}, code: 2, want: "unknown engine", dev: "zeros"},
		{name: "format chunk 3k", args: []string{"format", "--device", "@zeros", "--engine", "row", "--chunk", "3k"}, code: 2, want: "power of two", dev: "zeros"},
		{name: "format chunk 0", args: []string{"format", "--device", "@zeros", "--engine", "row", "--chunk", "0"}, code: 2, want: "power of two", dev: "zeros"},
		{name: "format size 0", args: []string{"format", "--device", "@zeros", "--engine", "row", "--size", "0"}, code: 2, want: "positive", dev: "zeros"},
		{name: "format size unit", args: []string{"format", "--device", "@zeros", "--engine", "row", "--size", "1Q"}, code: 2, want: "unknown suffix", dev: "zeros"},
		{name: "format size SI", args: []string{"format", "--device", "@zeros", "--engine", "row", "--size", "1GB"}, code: 2, want: "unknown suffix", dev: "zeros"},
		{name: "format bad opt", args: []string{"format", "--device", "@zeros", "--engine", "row", "--opt", "novalue"}, code: 2, want: "--opt", dev: "zeros"},
		{name: "format extra", args: []string{"format", "--device", "@zeros", "--engine", "row", "x"}, code: 2, want: "unexpected argument", dev: "zeros"},
		{name: "format formatted", args: []string{"format", "--device", "@row", "--engine", "row"}, code: 2, want: "already holds a snapbench engine", dev: "row"},
		{name: "format ext4", args: []string{"format", "--device", "@ext4", "--engine", "row"}, code: 2, want: "ext2/ext3/ext4", dev: "ext4"},
		{name: "format minix", args: []string{"format", "--device", "@minix", "--engine", "row"}, code: 2, want: "minix", dev: "minix"},
		{name: "format missing no size", args: []string{"format", "--device", "@new", "--engine", "row"}, code: 2, want: "give --size", dev: "new"},
		{name: "format directory", args: []string{"format", "--device", "@dir", "--engine", "row"}, code: 1, want: "is a directory"},
		{name: "format char device", args: []string{"format", "--device", "/dev/null", "--engine", "row"}, code: 1, want: "not a regular file or block device"},
		{name: "format odd size", args: []string{"format", "--device", "@odd", "--engine", "row"}, code: 1, want: "sector size", dev: "odd"},
		{name: "format locked", args: []string{"format", "--device", "@zeros", "--engine", "row"}, code: 2, want: "in use by another snapbench command", dev: "zeros", lock: "shared"},
		{name: "format loop backing file", args: []string{"format", "--device", "@zeros", "--engine", "row"}, code: 2, want: "backs loop device", dev: "zeros", root: "loop-backing"},
		{name: "calibrate loop backing file", args: []string{"calibrate", "--device", "@zeros"}, code: 2, want: "backs loop device", dev: "zeros", root: "loop-backing"},
		{name: "run loop backing file", args: []string{"run", "--out", out, "--device", "@zeros", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "backs loop device", dev: "zeros", root: "loop-backing"},
		{name: "format read-only loop", args: []string{"format", "--device", "@zeros", "--engine", "row"}, code: 2, want: "read-only block device", dev: "zeros", root: "ro-loop"},

		// check.
		{name: "check no device", args: []string{"check"}, code: 2, want: "--device is required"},
		{name: "check extra", args: []string{"check", "--device", "@row", "x"}, code: 2, want: "unexpected argument", dev: "row"},
		{name: "check missing", args: []string{"check", "--device", "@new"}, code: 1, want: "not found", dev: "new"},
		{name: "check no engine", args: []string{"check", "--device", "@zeros"}, code: 1, want: "holds no snapbench engine", dev: "zeros"},
		{name: "check ext4", args: []string{"check", "--device", "@ext4"}, code: 1, want: "holds no snapbench engine", dev: "ext4"},
		{name: "check directory", args: []string{"check", "--device", "@dir"}, code: 1, want: "is a directory"},
		{name: "check during a writer", args: []string{"check", "--device", "@row"}, code: 2, want: "in use by another snapbench command", dev: "row", lock: "exclusive"},

		// volume.
		{name: "volume no subcommand", args: []string{"volume"}, code: 2, want: "subcommand is required"},
		{name: "volume unknown subcommand", args: []string{"volume", "grow"}, code: 2, want: "unknown subcommand"},
		{name: "volume create no device", args: []string{"volume", "create", "--name", "x", "--size", "16M"}, code: 2, want: "--device is required"},
		{name: "volume create no size", args: []string{"volume", "create", "--device", "@row", "--name", "x"}, code: 2, want: "--size is required", dev: "row"},
		{name: "volume create bad size", args: []string{"volume", "create", "--device", "@row", "--name", "x", "--size", "1Q"}, code: 2, want: "unknown suffix", dev: "row"},
		{name: "volume create size 0", args: []string{"volume", "create", "--device", "@row", "--name", "x", "--size", "0"}, code: 2, want: "size", dev: "row"},
		{name: "volume create bad name", args: []string{"volume", "create", "--device", "@row", "--name", "a/b", "--size", "16M"}, code: 2, want: "name", dev: "row"},
		{name: "volume create missing device", args: []string{"volume", "create", "--device", "@new", "--name", "x", "--size", "16M"}, code: 1, want: "not found", dev: "new"},
		{name: "volume create no engine", args: []string{"volume", "create", "--device", "@zeros", "--name", "x", "--size", "16M"}, code: 1, want: "holds no snapbench engine", dev: "zeros"},
		{name: "volume create ext4", args: []string{"volume", "create", "--device", "@ext4", "--name", "x", "--size", "16M"}, code: 2, want: "ext2/ext3/ext4", dev: "ext4"},
		{name: "volume create during serve", args: []string{"volume", "create", "--device", "@row", "--name", "x", "--size", "16M"}, code: 2, want: "in use by another snapbench command", dev: "row", lock: "shared"},
		{name: "volume create immutable", args: []string{"volume", "create", "--device", "@row", "--name", "x", "--size", "16M"}, code: 1, want: "operation not permitted", dev: "row", root: "immutable"},
		{name: "volume snapshot unknown source", args: []string{"volume", "snapshot", "--device", "@row", "--source", "nosuch", "--name", "x"}, code: 1, want: "nosuch", dev: "row"},
		{name: "volume clone no source", args: []string{"volume", "clone", "--device", "@row", "--name", "x"}, code: 2, want: "--source is required", dev: "row"},
		{name: "volume delete unknown", args: []string{"volume", "delete", "--device", "@row", "--name", "nosuch"}, code: 1, want: "nosuch", dev: "row"},
		{name: "volume delete read-only loop", args: []string{"volume", "delete", "--device", "@row", "--name", "snap"}, code: 2, want: "read-only block device", dev: "row", root: "ro-loop"},
		{name: "volume list no device", args: []string{"volume", "list"}, code: 2, want: "--device is required"},
		{name: "volume list extra", args: []string{"volume", "list", "--device", "@row", "x"}, code: 2, want: "unexpected argument", dev: "row"},
		{name: "volume list missing", args: []string{"volume", "list", "--device", "@new"}, code: 1, want: "not found", dev: "new"},
		{name: "volume list during a run", args: []string{"volume", "list", "--device", "@row"}, code: 2, want: "in use by another snapbench command", dev: "row", lock: "exclusive"},

		// serve.
		{name: "calibrate no device", args: []string{"calibrate"}, code: 2, want: "--device is required"},
		{name: "calibrate only nothing", args: []string{"calibrate", "--device", "@zeros", "--only", "qd64"}, code: 2, want: "matches no workload", dev: "zeros"},
		{name: "calibrate region", args: []string{"calibrate", "--device", "@zeros", "--region", "3k"}, code: 2, want: "multiple of 1M", dev: "zeros"},
		{name: "calibrate repeat 0", args: []string{"calibrate", "--device", "@zeros", "--repeat", "0"}, code: 2, want: "must be positive", dev: "zeros"},
		{name: "calibrate io engine", args: []string{"calibrate", "--device", "@zeros", "--io-engine", "aio"}, code: 2, want: "unknown IO engine", dev: "zeros"},
		{name: "calibrate size unit", args: []string{"calibrate", "--device", "@zeros", "--size", "1Q"}, code: 2, want: "unknown suffix", dev: "zeros"},
		{name: "calibrate formatted", args: []string{"calibrate", "--device", "@ext4"}, code: 2, want: "use --force", dev: "ext4"},
		{name: "calibrate engine", args: []string{"calibrate", "--device", "@row"}, code: 2, want: "use --force", dev: "row"},
		{name: "calibrate missing", args: []string{"calibrate", "--device", "{dir}/fresh-cal"}, code: 2, want: "give --size", fresh: "{dir}/fresh-cal"},
		{name: "serve no device", args: []string{"serve"}, code: 2, want: "--device is required"},
		{name: "serve socket and listen", args: []string{"serve", "--device", "@row", "--socket", "{dir}/s", "--listen", "127.0.0.1:0"}, code: 2, want: "not both", dev: "row"},
		{name: "serve remote", args: []string{"serve", "--device", "@row", "--listen", "0.0.0.0:0"}, code: 2, want: "loopback", dev: "row"},
		{name: "serve io engine", args: []string{"serve", "--device", "@row", "--socket", "{dir}/s", "--io-engine", "aio"}, code: 2, want: "unknown IO engine", dev: "row"},
		{name: "serve missing", args: []string{"serve", "--device", "@new", "--socket", "{dir}/s"}, code: 1, want: "not found", dev: "new"},
		{name: "serve no engine", args: []string{"serve", "--device", "@zeros", "--socket", "{dir}/s"}, code: 1, want: "holds no snapbench engine", dev: "zeros"},
		{name: "serve unknown volume", args: []string{"serve", "--device", "@row", "--volume", "nosuch", "--socket", "{dir}/s"}, code: 1, want: "nosuch", dev: "row"},
		{name: "serve during a run", args: []string{"serve", "--device", "@row", "--socket", "{dir}/s"}, code: 2, want: "in use by another snapbench command", dev: "row", lock: "exclusive"},
		{name: "serve read-only during a run", args: []string{"serve", "--read-only", "--device", "@row", "--socket", "{dir}/s"}, code: 2, want: "in use by another snapbench command", dev: "row", lock: "exclusive"},

		// run.
		{name: "run extra", args: []string{"run", "--out", out, "x"}, code: 2, want: "unexpected argument"},
		{name: "run size 0", args: []string{"run", "--out", out, "--size", "0"}, code: 2, want: "--size 0: must be positive"},
		{name: "run chunk 0", args: []string{"run", "--out", out, "--chunk", "0"}, code: 2, want: "--chunk 0"},
		{name: "run size unit", args: []string{"run", "--out", out, "--size", "1Q"}, code: 2, want: "unknown suffix"},
		{name: "run engines twice", args: []string{"run", "--out", out, "--engines", "row,row"}, code: 2, want: "given twice"},
		{name: "run unknown engine", args: []string{"run", "--out", out, "--engines", "zfs"}, code: 2, want: "unknown engine"},
		{name: "run unknown scenario", args: []string{"run", "--out", out, "--scenario", "nosuch"}, code: 2, want: "unknown scenario"},
		{name: "run scenario twice", args: []string{"run", "--out", out, "--scenario", "overwrite,overwrite"}, code: 2, want: "given twice"},
		{name: "run scenario and spec", args: []string{"run", "--out", out, "--scenario", "io", "--spec", "quick"}, code: 2, want: "exclude each other"},
		{name: "run missing spec file", args: []string{"run", "--out", out, "--spec", "{dir}/nosuch.yaml"}, code: 2, want: "file does not exist"},
		{name: "run unknown built-in spec", args: []string{"run", "--out", out, "--spec", "nosuch"}, code: 2, want: "no built-in spec"},
		{name: "run spec typo", args: []string{"run", "--out", out, "--spec", "{dir}/typo.yaml"}, code: 2, want: `unknown key "nmae"`},
		{name: "run spec split", args: []string{"run", "--out", out, "--spec", "{dir}/split.yaml"}, code: 2, want: "sum to 110%"},
		{name: "run spec names twice", args: []string{"run", "--out", out, "--spec", "{dir}/twice.yaml"}, code: 2, want: "already used"},
		{name: "run split 110", args: []string{"run", "--out", out, "--scenario", "overwrite", "--set", "bs=4k:90,64k:20"}, code: 2, want: "sum to 110%"},
		{name: "run unknown set", args: []string{"run", "--out", out, "--scenario", "overwrite", "--set", "nosuch=1"}, code: 2, want: "unknown key"},
		{name: "run bad opt", args: []string{"run", "--out", out, "--opt", "novalue"}, code: 2, want: "engine.key=value"},
		{name: "run opt of engine not run", args: []string{"run", "--out", out, "--engines", "raw", "--opt", "row.cache-mb=1"}, code: 2, want: "not being run"},
		{name: "run bad verify", args: []string{"run", "--out", out, "--scenario", "overwrite", "--verify", "maybe"}, code: 2, want: "verify"},
		{name: "run iodepth and qd", args: []string{"run", "--out", fresh, "--iodepth", "4", "--qd", "4"}, code: 2, want: "--iodepth is an alias of --qd", fresh: fresh},
		{name: "run runtime and duration", args: []string{"run", "--out", fresh, "--runtime", "5s", "--duration", "5s"}, code: 2, want: "--runtime is an alias of --duration", fresh: fresh},
		{name: "run iodepth 0", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--iodepth", "0"}, code: 2, want: `qd="0"`, fresh: fresh},
		{name: "run iodepth word", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--iodepth", "deep"}, code: 2, want: `qd="deep"`, fresh: fresh},
		{name: "run iodepth empty", args: []string{"run", "--out", fresh, "--iodepth", ""}, code: 2, want: "--iodepth: empty value", fresh: fresh},
		{name: "run runtime bad", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--runtime", "soon"}, code: 2, want: `duration="soon"`, fresh: fresh},
		{name: "run bs bad", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--bs", "1000"}, code: 2, want: "not a positive multiple of the 512-byte sector", fresh: fresh},
		{name: "run bs and set bs", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--bs", "4k", "--set", "bs=8k"}, code: 2, want: `"bs" given twice`, fresh: fresh},
		{name: "run wide value", args: []string{"run", "--out", fresh, "--wide=maybe"}, code: 2, want: "--wide", fresh: fresh},
		{name: "run set unknown run", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--set", "nosuch.fanout=1"}, code: 2, want: `no run named "nosuch" (runs: overwrite)`, fresh: fresh},
		{name: "run set run bad key", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--set", "overwrite.nosuch=1"}, code: 2, want: "--set overwrite.nosuch: ", fresh: fresh},
		{name: "run set run bad value", args: []string{"run", "--out", fresh, "--scenario", "overwrite,io", "--set", "io.qd=0"}, code: 2, want: `--set io.qd: `, fresh: fresh},
		{name: "run set run no key", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--set", "overwrite.=1"}, code: 2, want: "want run.key=value", fresh: fresh},
		{name: "run set no run", args: []string{"run", "--out", fresh, "--scenario", "overwrite", "--set", ".qd=1"}, code: 2, want: "want run.key=value", fresh: fresh},
		{name: "run spec bad options", args: []string{"run", "--out", fresh, "--spec", "{dir}/opts.yaml"}, code: 2, want: "options: want a mapping", fresh: fresh},
		{name: "run spec option unknown", args: []string{"run", "--out", fresh, "--spec", "{dir}/optkey.yaml"}, code: 2, want: "nosuch", fresh: fresh},
		{name: "run formatted", args: []string{"run", "--out", out, "--device", "@row", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "already holds a snapbench engine", dev: "row"},
		{name: "run ext4", args: []string{"run", "--out", out, "--device", "@ext4", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "ext2/ext3/ext4", dev: "ext4"},
		{name: "run minix", args: []string{"run", "--out", out, "--device", "@minix", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "minix", dev: "minix"},
		{name: "run during serve", args: []string{"run", "--out", out, "--device", "@zeros", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "in use by another snapbench command", dev: "zeros", lock: "shared"},
		{name: "run during a run", args: []string{"run", "--out", out, "--device", "@zeros", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "in use by another snapbench command", dev: "zeros", lock: "exclusive"},
		{name: "run device too small", args: []string{"run", "--out", out, "--device", "@zeros", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=1g"}, code: 2, want: "need at least", dev: "zeros"},
		{name: "run temp too small", args: []string{"run", "--out", out, "--size", "4M", "--engines", "raw", "--scenario", "overwrite"}, code: 2, want: "too small"},
		{name: "run directory", args: []string{"run", "--out", out, "--device", "@dir", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "not a regular file or block device"},
		{name: "run read-only loop", args: []string{"run", "--out", out, "--device", "@zeros", "--engines", "raw", "--scenario", "overwrite", "--set", "volume_size=8m"}, code: 2, want: "read-only block device", dev: "zeros", root: "ro-loop"},
	}
}

// TestBadInputs runs every verb with bad input: each must print exactly one
// line on stderr (clear: no Go type names, the device path at most once),
// exit with the documented code (see exitCodesHelp), and leave the device
// unchanged.
func TestBadInputs(t *testing.T) {
	f := newBadInputFixture(t)
	cases := badInputs()
	if len(cases) < 60 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := ""
			if c.dev != "" {
				dev = f.path(c.dev)
			}
			args := f.expand(c.args)
			if c.root != "" {
				if os.Geteuid() != 0 {
					t.Skip("needs root")
				}
				switch c.root {
				case "immutable":
					if out, err := exec.Command("chattr", "+i", dev).CombinedOutput(); err != nil {
						t.Skipf("chattr +i: %v %s", err, out)
					}
					defer exec.Command("chattr", "-i", dev).Run()
				case "loop-backing":
					out, err := exec.Command("losetup", "--find", "--show", dev).Output()
					if err != nil {
						t.Skipf("losetup: %v", err)
					}
					defer exec.Command("losetup", "-d", strings.TrimSpace(string(out))).Run()
				case "ro-loop":
					out, err := exec.Command("losetup", "--find", "--show", "-r", dev).Output()
					if err != nil {
						t.Skipf("losetup -r: %v", err)
					}
					loop := strings.TrimSpace(string(out))
					defer exec.Command("losetup", "-d", loop).Run()
					for i, a := range args {
						if a == dev {
							args[i] = loop
						}
					}
				}
			}
			var before string
			if dev != "" {
				before = sumFile(t, dev)
			}
			if c.lock != "" {
				unlock, err := device.Lock(dev, c.lock == "exclusive")
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
			}
			code, _, errOut := capture(t, args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr %q", code, c.code, errOut)
			}
			oneErrorLine(t, errOut)
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q does not say %q", errOut, c.want)
			}
			if m := goTypeName.FindString(errOut); m != "" {
				t.Errorf("stderr %q shows the Go name %q", errOut, m)
			}
			for _, a := range args {
				if strings.HasPrefix(a, "/") && len(a) > 1 && strings.Count(errOut, a) > 1 {
					t.Errorf("stderr %q repeats the path %s", errOut, a)
				}
			}
			if strings.Contains(errOut, "give a size to create") {
				t.Errorf("stderr %q hints at creating a file", errOut)
			}
			if c.fresh != "" {
				if _, err := os.Stat(f.expand([]string{c.fresh})[0]); err == nil {
					t.Errorf("%s was written", c.fresh)
				}
			}
			if dev != "" {
				if after := sumFile(t, dev); after != before {
					t.Errorf("%s changed (checksum %s, was %s)", dev, after, before)
				}
			}
		})
	}
}
