package workloads

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func sortStrings(s []string) { sort.Strings(s) }

// Every example spec in workloads/specs loads, and is built in.
func TestExampleSpecsLoad(t *testing.T) {
	files, err := filepath.Glob("specs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	var names []string
	for _, f := range files {
		sp, err := LoadSpec(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(sp.Runs) == 0 || sp.Name == "" || sp.Description == "" {
			t.Errorf("%s: %+v", f, sp)
		}
		for _, r := range sp.Runs {
			if _, err := r.Points(); err != nil {
				t.Errorf("%s: %s: %v", f, r.Name, err)
			}
		}
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
		t.Logf("%s: %s: %d runs", f, sp.Name, len(sp.Runs))
	}
	if strings.Join(names, ",") != strings.Join(BuiltinSpecNames(), ",") {
		t.Fatalf("on disk %v, built in %v", names, BuiltinSpecNames())
	}
	def, err := BuiltinSpec("default")
	if err != nil || len(def.Runs) != 3 || def.Runs[0].Name != "snaptree" || def.Runs[1].Name != "clonebush" || def.Runs[2].Name != "overwrite" {
		t.Fatalf("default suite: %+v %v", def, err)
	}
	if _, err := BuiltinSpec("nosuch"); err == nil {
		t.Fatal("unknown built-in spec loaded")
	}
}

func TestSpecDefaultsAndLabels(t *testing.T) {
	sp, err := ParseSpec([]byte(`
name: t
defaults:
  seed: 9
  qd: 2
runs:
  - scenario: io
    name: first
    qd: 1
    bs: [4k, 64k]
  - scenario: sweep
    of: overwrite
    param: fanout
    values: [1, 2]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := sp.Runs[0], sp.Runs[1]
	if a.Label != "first" || a.Seed != 9 || a.QD != 1 || FormatBlockSizes(a.Pattern.BlockSizes) != "4k,64k" {
		t.Fatalf("run 1: %+v", a)
	}
	pts, err := b.Points()
	if err != nil || len(pts) != 2 || pts[1].Scenario.Seed != 9 || pts[1].Scenario.QD != 2 {
		t.Fatalf("run 2 points %+v %v", pts, err)
	}
}

// Bad specs are rejected with the file, the line, the key and why.
func TestBadSpecs(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"name: x\nrunz:\n  - scenario: io\n", "t.yaml:2: unknown key \"runz\" (known at the top: name, description, engines, options, repeat, defaults, runs)"},
		{"engines: {a: b}\nruns:\n  - scenario: io\n", "t.yaml:1: wrong kind of value: a YAML map"},
		{"runs:\n  - scenario: io\n    name: a\n  - scenario: overwrite\n    name: a\n", "runs[2]: name \"a\" already used by runs[1]"},
		{"runs:\n  - scenario: io\n    snapshots: 4\n", "t.yaml:3: runs[1]: workloads: io: snapshots=\"4\": unknown key"},
		{"runs:\n  - scenario: io\n    rate: -5\n", "t.yaml:3: runs[1]: workloads: io: rate=\"-5\": must be from 0"},
		{"runs:\n  - scenario: snaptree\n    bs: 1000\n", "t.yaml:3: runs[1]: workloads: snaptree: bs=\"1000\": block size 1000 is not a positive multiple of the 512-byte sector"},
		{"runs:\n  - scenario: io\n    working_set: 1g\n", "t.yaml:3: runs[1]: workloads: io: working_set=\"1g\": larger than the volume"},
		{"runs:\n  - qd: 2\n", "missing \"scenario:\""},
		{"runs:\n  - scenario: nosuch\n", "unknown scenario"},
		{"runs: []\n", "no runs"},
		{"", "empty file"},
		{"runs:\n  - scenario: io\n    qd: 1\n    qd: 2\n", "already defined"},
		{"runs:\n  - scenario: io\n    bs: {a: 1}\n", "not a mapping"},
		{"runs:\n  - scenario: io\n    bs:\n", "missing value"},
		{"defaults:\n  nope: 1\nruns:\n  - scenario: io\n", "t.yaml:2: runs[1]: workloads: io: nope=\"1\": unknown key"},
		{"engines: [\"a b\"]\nruns:\n  - scenario: io\n", "not an engine name"},
		{"runs:\n  - scenario: io\n---\nruns: []\n", "more than one YAML document"},
		{"repeat: -1\nruns:\n  - scenario: io\n", "repeat: -1 is negative"},
		{"repeat: many\nruns:\n  - scenario: io\n", "wrong kind of value"},
		{"engines: [linked/]\nruns:\n  - scenario: io\n", "not an engine name or upper/lower stack"},
		{"options: [row]\nruns:\n  - scenario: io\n", "t.yaml:1: options: want a mapping of engine names"},
		{"options:\n  linked/row: {a: 1}\nruns:\n  - scenario: io\n", "t.yaml:2: options: \"linked/row\": not an engine name"},
		{"options:\n  row: 5\nruns:\n  - scenario: io\n", "options.row: want a mapping"},
		{"options:\n  row: {}\nruns:\n  - scenario: io\n", "engine \"row\": want a mapping of option keys"},
		{"options:\n  row: {a: {b: 1}}\nruns:\n  - scenario: io\n", "options.row: key \"a\": want a value"},
		{"options:\n  row: {a: 1}\n  row: {b: 1}\nruns:\n  - scenario: io\n", "engine \"row\" given twice"},
	} {
		_, err := ParseSpec([]byte(c.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("spec %q: error %v, want %q", c.yaml, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "workloads.spec")) {
			t.Errorf("spec %q: error %q: want one line without Go type names", c.yaml, err)
		}
	}
	sp, err := ParseSpec([]byte("engines: [row, linked/row]\noptions:\n  row: {journal: on}\n  linked: {x: [1, 2]}\nruns:\n  - scenario: io\n"), "t.yaml")
	if err != nil || len(sp.Engines) != 2 || sp.Engines[1] != "linked/row" ||
		sp.Options["row"]["journal"] != "on" || sp.Options["linked"]["x"] != "1,2" {
		t.Errorf("engines and options: %+v, err %v", sp, err)
	}
	if sp, err := ParseSpec([]byte("repeat: 5\nruns:\n  - scenario: io\n"), "t.yaml"); err != nil || sp.Repeat != 5 {
		t.Errorf("repeat: 5: Repeat %v, err %v", sp, err)
	}
	if _, err := LoadSpec(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), "missing.yaml: file does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

// Runs of one scenario without a name get distinct labels (their result
// files are named by them), in file order; a named run keeps its name.
func TestSpecUniqueRunNames(t *testing.T) {
	sp, err := ParseSpec([]byte(`runs:
  - scenario: overwrite
  - scenario: overwrite
  - scenario: io
    name: overwrite-3
  - scenario: overwrite
  - scenario: io
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range sp.Runs {
		got = append(got, r.Name+"="+r.Label)
	}
	want := []string{"overwrite=", "overwrite=overwrite-2", "io=overwrite-3", "overwrite=overwrite-4", "io="}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("labels %v, want %v", got, want)
	}
}
