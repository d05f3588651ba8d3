package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/snapbench/snapbench/runner"
)

// TestBuildRunConfigTargets checks what each run ends up with: plain --set
// keys reach every run, run.key only the runs of that name (after the plain
// ones), the fio aliases' values reach the scenarios, and a spec's engines
// and options apply unless the command line gives its own.
func TestBuildRunConfigTargets(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(spec, []byte(`engines: [row, linked/row]
options:
  row: {cache-mb: 8}
runs:
  - scenario: overwrite
    name: small
  - scenario: overwrite
    name: big
  - scenario: io
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		f       runFlags
		engines []string
		qd      map[string]int // run name -> queue depth
		rowOpt  string
	}{
		{name: "plain set reaches every run", f: runFlags{spec: spec, sets: []string{"qd=2"}},
			engines: []string{"row", "linked/row"}, qd: map[string]int{"small": 2, "big": 2, "io": 2}, rowOpt: "8"},
		{name: "targeted set reaches one run", f: runFlags{spec: spec, sets: []string{"qd=2", "big.qd=8"}},
			engines: []string{"row", "linked/row"}, qd: map[string]int{"small": 2, "big": 8, "io": 2}, rowOpt: "8"},
		{name: "targeted by scenario", f: runFlags{spec: spec, sets: []string{"io.qd=4"}},
			engines: []string{"row", "linked/row"}, qd: map[string]int{"small": 1, "big": 1, "io": 4}, rowOpt: "8"},
		{name: "engines and opt win over the spec", f: runFlags{spec: spec, engines: "raw,row", enginesGiven: true, opts: []string{"row.cache-mb=16"}},
			engines: []string{"raw", "row"}, qd: map[string]int{"small": 1, "big": 1, "io": 1}, rowOpt: "16"},
		{name: "scenario list", f: runFlags{scenario: "overwrite,io", engines: "row", sets: []string{"overwrite.qd=3"}},
			engines: []string{"row"}, qd: map[string]int{"overwrite": 3, "io": 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &runner.Config{}
			if err := buildRunConfig(cfg, c.f); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Engines, c.engines) {
				t.Errorf("engines %v, want %v", cfg.Engines, c.engines)
			}
			if got := cfg.EngineParams["row"]["cache-mb"]; got != c.rowOpt {
				t.Errorf("row cache-mb %q, want %q", got, c.rowOpt)
			}
			if len(cfg.Runs) != len(c.qd) {
				t.Fatalf("%d runs, want %d", len(cfg.Runs), len(c.qd))
			}
			for i := range cfg.Runs {
				name := runName(&cfg.Runs[i])
				if want, ok := c.qd[name]; !ok || cfg.Runs[i].QD != want {
					t.Errorf("run %s: qd %d, want %d", name, cfg.Runs[i].QD, want)
				}
			}
		})
	}
}
