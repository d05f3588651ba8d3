package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/snapbench/snapbench/runner"
	"github.com/snapbench/snapbench/workloads"
)

// runFlags are the run verb's flags that buildRunConfig reads.
type runFlags struct {
	size, engines, scenario, spec, chunk string
	enginesGiven                         bool // --engines was given (else a spec's engines: apply)
	sets, opts                           []string
}

// buildRunConfig turns run's flags into engines, options and scenarios. A
// --set key is either a scenario parameter, applied to every run, or
// run.key, applied to the runs of that name (a spec run's name:, or its
// scenario) after the plain ones; a run.key that names no run is an
// error. A spec's engines: apply unless --engines is given; its options:
// apply under --opt (which wins, key by key).
func buildRunConfig(cfg *runner.Config, f runFlags) error {
	if f.size != "" {
		n, err := parseSize(f.size)
		if err != nil {
			return fmt.Errorf("--size: %v", err)
		}
		if n <= 0 {
			return fmt.Errorf("--size %s: must be positive (leave it out to size the temporary device for the suite, at least 1G)", f.size)
		}
		cfg.Size = n
	}
	if f.chunk != "" {
		n, err := parseSize(f.chunk)
		if err != nil {
			return fmt.Errorf("--chunk: %v", err)
		}
		if n <= 0 {
			return fmt.Errorf("--chunk %s: must be a power of two from 4k to 1m (leave it out for the default, 64k)", f.chunk)
		}
		cfg.ChunkSize = int(n)
	}
	cfg.EngineParams = map[string]map[string]string{}
	for _, o := range f.opts {
		eng, kv, ok := strings.Cut(o, ".")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || eng == "" || k == "" {
			return fmt.Errorf("--opt %q: want engine.key=value", o)
		}
		if cfg.EngineParams[eng] == nil {
			cfg.EngineParams[eng] = map[string]string{}
		}
		cfg.EngineParams[eng][k] = v
	}
	set, err := workloads.ParseSet(f.sets)
	if err != nil {
		return err
	}
	plain, targeted := splitTargeted(set)
	if f.scenario != "" && f.spec != "" {
		return fmt.Errorf("--scenario and --spec exclude each other")
	}
	engines := f.engines
	if f.scenario != "" {
		seen := map[string]bool{}
		for _, name := range strings.Split(f.scenario, ",") {
			if name = strings.TrimSpace(name); seen[name] {
				return fmt.Errorf("--scenario: %q given twice (its result files would overwrite each other)", name)
			}
			seen[name] = true
			sc, err := workloads.NewScenario(name, plain)
			if err != nil {
				return err
			}
			cfg.Runs = append(cfg.Runs, sc)
		}
	} else {
		var s *workloads.Spec
		switch {
		case f.spec == "":
			s, err = workloads.BuiltinSpec("default")
		case fileExists(f.spec) || looksLikePath(f.spec):
			s, err = workloads.LoadSpec(f.spec) // a missing file is reported as such
		default:
			s, err = workloads.BuiltinSpec(f.spec)
		}
		if err != nil {
			return err
		}
		if cfg.Repeat == 0 {
			cfg.Repeat = s.Repeat
		}
		if len(s.Engines) > 0 && !f.enginesGiven {
			engines = strings.Join(s.Engines, ",")
		}
		for eng, kv := range s.Options {
			if cfg.EngineParams[eng] == nil {
				cfg.EngineParams[eng] = map[string]string{}
			}
			for k, v := range kv {
				if _, given := cfg.EngineParams[eng][k]; !given {
					cfg.EngineParams[eng][k] = v
				}
			}
		}
		for _, sc := range s.Runs {
			for _, k := range sortedKeys(plain) {
				if err := sc.Set(k, plain[k]); err != nil {
					return err
				}
			}
			cfg.Runs = append(cfg.Runs, sc)
		}
	}
	if err := applyTargeted(cfg.Runs, targeted); err != nil {
		return err
	}
	for _, e := range strings.Split(engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if slices.Contains(cfg.Engines, e) {
				return fmt.Errorf("--engines: %q given twice (its result files would overwrite each other)", e)
			}
			cfg.Engines = append(cfg.Engines, e)
		}
	}
	return nil
}

// splitTargeted separates --set keys that name a run ("overwrite.fanout":
// run, then the key after the last dot) from plain keys.
func splitTargeted(set map[string]string) (plain map[string]string, targeted map[string]map[string]string) {
	plain, targeted = map[string]string{}, map[string]map[string]string{}
	for k, v := range set {
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			plain[k] = v
			continue
		}
		run, key := k[:i], k[i+1:]
		if targeted[run] == nil {
			targeted[run] = map[string]string{}
		}
		targeted[run][key] = v
	}
	return plain, targeted
}

// applyTargeted sets run.key values on the runs named run (by label, or
// by scenario when the run has none).
func applyTargeted(runs []workloads.Scenario, targeted map[string]map[string]string) error {
	names := make([]string, 0, len(targeted))
	for run := range targeted {
		names = append(names, run)
	}
	slices.Sort(names)
	for _, run := range names {
		kv := targeted[run]
		if run == "" {
			return fmt.Errorf("--set .%s: want run.key=value or key=value", sortedKeys(kv)[0])
		}
		matched := false
		for i := range runs {
			if runName(&runs[i]) != run {
				continue
			}
			matched = true
			for _, k := range sortedKeys(kv) {
				if k == "" {
					return fmt.Errorf("--set %s.: want run.key=value", run)
				}
				if err := runs[i].Set(k, kv[k]); err != nil {
					return fmt.Errorf("--set %s.%s: %w", run, k, err)
				}
			}
		}
		if !matched {
			var known []string
			for i := range runs {
				known = append(known, runName(&runs[i]))
			}
			return fmt.Errorf("--set %s.%s: no run named %q (runs: %s)", run, sortedKeys(kv)[0], run, strings.Join(known, ", "))
		}
	}
	return nil
}

// runName is what --set run.key=value calls a run: its spec name, else its
// scenario.
func runName(sc *workloads.Scenario) string {
	if sc.Label != "" {
		return sc.Label
	}
	return sc.Name
}

// looksLikePath tells a spec file name from a built-in spec name.
func looksLikePath(s string) bool {
	return strings.ContainsRune(s, '/') || strings.HasSuffix(s, ".yaml") || strings.HasSuffix(s, ".yml")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func stdoutf(format string, args ...any) { fmt.Fprintf(stdout, format, args...) }

// vcsCommit is the source revision the toolchain recorded, if any.
func vcsCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
