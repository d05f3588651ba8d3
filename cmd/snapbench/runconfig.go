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

// buildRunConfig turns run's flags into engines, options and scenarios.
func buildRunConfig(cfg *runner.Config, size, engines, scenario, spec, chunk string, sets, opts []string) error {
	if size != "" {
		n, err := parseSize(size)
		if err != nil {
			return fmt.Errorf("--size: %v", err)
		}
		if n <= 0 {
			return fmt.Errorf("--size %s: must be positive (leave it out to size the temporary device for the suite, at least 1G)", size)
		}
		cfg.Size = n
	}
	if chunk != "" {
		n, err := parseSize(chunk)
		if err != nil {
			return fmt.Errorf("--chunk: %v", err)
		}
		if n <= 0 {
			return fmt.Errorf("--chunk %s: must be a power of two from 4k to 1m (leave it out for the default, 64k)", chunk)
		}
		cfg.ChunkSize = int(n)
	}
	for _, e := range strings.Split(engines, ",") {
		if e = strings.TrimSpace(e); e != "" {
			if slices.Contains(cfg.Engines, e) {
				return fmt.Errorf("--engines: %q given twice (its result files would overwrite each other)", e)
			}
			cfg.Engines = append(cfg.Engines, e)
		}
	}
	cfg.EngineParams = map[string]map[string]string{}
	for _, o := range opts {
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
	set, err := workloads.ParseSet(sets)
	if err != nil {
		return err
	}
	if scenario != "" && spec != "" {
		return fmt.Errorf("--scenario and --spec exclude each other")
	}
	if scenario != "" {
		seen := map[string]bool{}
		for _, name := range strings.Split(scenario, ",") {
			if name = strings.TrimSpace(name); seen[name] {
				return fmt.Errorf("--scenario: %q given twice (its result files would overwrite each other)", name)
			}
			seen[name] = true
			sc, err := workloads.NewScenario(strings.TrimSpace(name), set)
			if err != nil {
				return err
			}
			cfg.Runs = append(cfg.Runs, sc)
		}
		return nil
	}
	var s *workloads.Spec
	switch {
	case spec == "":
		s, err = workloads.BuiltinSpec("default")
	case fileExists(spec) || looksLikePath(spec):
		s, err = workloads.LoadSpec(spec) // a missing file is reported as such
	default:
		s, err = workloads.BuiltinSpec(spec)
	}
	if err != nil {
		return err
	}
	if cfg.Repeat == 0 {
		cfg.Repeat = s.Repeat
	}
	for _, sc := range s.Runs {
		for _, k := range sortedKeys(set) {
			if err := sc.Set(k, set[k]); err != nil {
				return err
			}
		}
		cfg.Runs = append(cfg.Runs, sc)
	}
	return nil
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
