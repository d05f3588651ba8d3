package workloads

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is a suite of scenario runs read from a YAML file:
//
//	name: vdi                  # optional; defaults to the file name
//	description: ...           # optional
//	engines: [full, row, linked/row]  # optional; which engines to run (the caller
//	                           # checks the names); upper/lower stacks engines
//	options:                   # optional; engine options per engine (or stack layer)
//	  row: {journal: on}       # the keys snapbench engines lists
//	defaults:                  # optional; keys applied to every run first
//	  seed: 7
//	  verify: full
//	runs:                      # one or more
//	  - scenario: clonebush    # required
//	    name: vdi-1000         # optional label (Scenario.Label)
//	    clones: 1000           # any key of the scenario (see ParamDocs)
//	    bs: 4k:80,64k:20
//	  - scenario: sweep
//	    of: overwrite
//	    param: fanout
//	    values: [1, 10, 100, 1000]   # a list is joined with commas
//
// Unknown keys (at the top, in defaults and in runs), impossible values and
// duplicate keys are rejected with the file, line, key, value and why.
type Spec struct {
	Name        string
	Description string
	Engines     []string
	// Options are engine options per engine name (a stack's layers are
	// named alone): engine -> key -> value, as --opt engine.key=value
	// gives them. The caller checks the names and values.
	Options map[string]map[string]string
	Runs    []Scenario
	Source  string // the file it came from
	// Repeat is the number of trials of every (engine, run point) the
	// spec asks for ("repeat:"); 0 leaves it to the command line.
	Repeat int
}

type specFile struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Engines     []string    `yaml:"engines"`
	Options     yaml.Node   `yaml:"options"`
	Repeat      int         `yaml:"repeat"`
	Defaults    yaml.Node   `yaml:"defaults"`
	Runs        []yaml.Node `yaml:"runs"`
}

// LoadSpec reads and validates a spec file.
func LoadSpec(file string) (*Spec, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("workloads: spec file %s: %w (built-in specs: %s)", file, os.ErrNotExist, strings.Join(BuiltinSpecNames(), ", "))
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("workloads: spec file %s: %w", file, err)
	}
	return ParseSpec(data, file)
}

// ParseSpec parses and validates a spec; source names it in errors.
func ParseSpec(data []byte, source string) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f specFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("workloads: spec %s: empty file", source)
		}
		return nil, fmt.Errorf("workloads: spec %s%s", source, yamlProblem(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("workloads: spec %s: more than one YAML document", source)
	}
	sp := &Spec{Name: f.Name, Description: f.Description, Engines: f.Engines, Source: source, Repeat: f.Repeat}
	if f.Repeat < 0 {
		return nil, fmt.Errorf("workloads: spec %s: repeat: %d is negative", source, f.Repeat)
	}
	if sp.Name == "" {
		sp.Name = strings.TrimSuffix(path.Base(source), path.Ext(source))
	}
	for i, e := range f.Engines {
		for _, layer := range strings.Split(e, "/") {
			if strings.TrimSpace(layer) == "" || strings.ContainsAny(layer, " \t,") {
				return nil, fmt.Errorf("workloads: spec %s: engines[%d]=%q: not an engine name or upper/lower stack", source, i, e)
			}
		}
	}
	var err error
	if sp.Options, err = specOptions(&f.Options, source); err != nil {
		return nil, err
	}
	defaults, err := nodePairs(&f.Defaults, source, "defaults")
	if err != nil {
		return nil, err
	}
	if len(f.Runs) == 0 {
		return nil, fmt.Errorf("workloads: spec %s: no runs (want a list under \"runs:\")", source)
	}
	for i := range f.Runs {
		sc, err := specRun(&f.Runs[i], defaults, source, i+1)
		if err != nil {
			return nil, err
		}
		sp.Runs = append(sp.Runs, sc)
	}
	if err := uniqueRunNames(sp.Runs, source); err != nil {
		return nil, err
	}
	return sp, nil
}

// specOptions reads "options:", a mapping of engine names to mappings of
// option keys to values (nil when absent).
func specOptions(n *yaml.Node, source string) (map[string]map[string]string, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("workloads: spec %s:%d: options: want a mapping of engine names to their options", source, n.Line)
	}
	out := map[string]map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		eng := k.Value
		if strings.TrimSpace(eng) == "" || strings.ContainsAny(eng, " \t,/") {
			return nil, fmt.Errorf("workloads: spec %s:%d: options: %q: not an engine name (name a stack's layers one by one)", source, k.Line, eng)
		}
		if _, dup := out[eng]; dup {
			return nil, fmt.Errorf("workloads: spec %s:%d: options: engine %q given twice", source, k.Line, eng)
		}
		pairs, err := nodePairs(v, source, "options."+eng)
		if err != nil {
			return nil, err
		}
		if v.Kind == yaml.MappingNode && len(pairs) == 0 || v.Kind == 0 || v.Tag == "!!null" {
			return nil, fmt.Errorf("workloads: spec %s:%d: options: engine %q: want a mapping of option keys to values", source, k.Line, eng)
		}
		out[eng] = map[string]string{}
		for _, p := range pairs {
			out[eng][p.key] = p.value
		}
	}
	return out, nil
}

// uniqueRunNames gives each run a distinct name, since a run's name names
// its result files: a run without "name:" whose scenario another unnamed
// run already uses is labelled <scenario>-2, -3, ... (in file order). Two
// runs given the same "name:" are refused.
func uniqueRunNames(runs []Scenario, source string) error {
	named := map[string]int{}
	for i, sc := range runs {
		if sc.Label == "" {
			continue
		}
		if first, dup := named[sc.Label]; dup {
			return fmt.Errorf("workloads: spec %s: runs[%d]: name %q already used by runs[%d]; result files would overwrite each other",
				source, i+1, sc.Label, first)
		}
		named[sc.Label] = i + 1
	}
	count := map[string]int{}
	for i := range runs {
		if runs[i].Label != "" {
			continue
		}
		name := runs[i].Name
		count[name]++
		if count[name] == 1 {
			if _, clash := named[name]; !clash {
				continue
			}
		}
		for k := count[name]; ; k++ {
			l := fmt.Sprintf("%s-%d", name, k)
			if _, used := named[l]; !used {
				runs[i].Label = l
				named[l] = i + 1
				count[name] = k
				break
			}
		}
	}
	return nil
}

// yamlFieldRE matches the decoder's message for an unknown key.
var yamlFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type`)

// yamlProblem turns a YAML decoding error into ":LINE: what" without the Go
// type names the decoder mentions; only the first problem is kept (one line).
func yamlProblem(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return ": " + strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msg := te.Errors[0]
	if m := yamlFieldRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf(":%s: unknown key %q (known at the top: name, description, engines, options, repeat, defaults, runs)", m[1], m[2])
	}
	line, rest, ok := strings.Cut(strings.TrimPrefix(msg, "line "), ": ")
	if !ok {
		line, rest = "", msg
	}
	if i := strings.Index(rest, " into "); i >= 0 {
		rest = rest[:i] // "cannot unmarshal !!map into []string": drop the Go type
	}
	rest = strings.ReplaceAll(strings.TrimPrefix(rest, "cannot unmarshal "), "!!", "a YAML ")
	if line != "" {
		return fmt.Sprintf(":%s: wrong kind of value: %s", line, rest)
	}
	return ": wrong kind of value: " + rest
}

// pair is one key: value of a spec mapping, with its line.
type pair struct {
	key, value string
	line       int
}

// nodePairs flattens a mapping of scalars (or lists of scalars) into pairs.
func nodePairs(n *yaml.Node, source, where string) ([]pair, error) {
	if n.Kind == 0 { // absent
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("workloads: spec %s:%d: %s: want a mapping of keys to values", source, n.Line, where)
	}
	var out []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			return nil, fmt.Errorf("workloads: spec %s:%d: %s: key %q already defined at line %d", source, k.Line, where, k.Value, first)
		}
		seen[k.Value] = k.Line
		val, err := scalarValue(v)
		if err != nil {
			return nil, fmt.Errorf("workloads: spec %s:%d: %s: key %q: %v", source, v.Line, where, k.Value, err)
		}
		out = append(out, pair{key: k.Value, value: val, line: k.Line})
	}
	return out, nil
}

func scalarValue(v *yaml.Node) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", fmt.Errorf("missing value")
		}
		return v.Value, nil
	case yaml.SequenceNode:
		var parts []string
		for _, c := range v.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return "", fmt.Errorf("a list may hold only plain values")
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	case yaml.AliasNode:
		return scalarValue(v.Alias)
	}
	return "", fmt.Errorf("want a value or a list of values, not a mapping")
}

func specRun(n *yaml.Node, defaults []pair, source string, idx int) (Scenario, error) {
	where := fmt.Sprintf("runs[%d]", idx)
	pairs, err := nodePairs(n, source, where)
	if err != nil {
		return Scenario{}, err
	}
	set := map[string]string{}
	lines := map[string]int{}
	for _, p := range defaults {
		set[p.key], lines[p.key] = p.value, p.line
	}
	var name, label string
	for _, p := range pairs {
		switch p.key {
		case "scenario":
			name = p.value
		case "name":
			label = p.value
		default:
			set[p.key], lines[p.key] = p.value, p.line
		}
	}
	if name == "" {
		return Scenario{}, fmt.Errorf("workloads: spec %s:%d: %s: missing \"scenario:\" (one of %s)", source, n.Line, where, strings.Join(Names(), ", "))
	}
	if _, err := lookupDef(name); err != nil {
		return Scenario{}, fmt.Errorf("workloads: spec %s:%d: %s: %w", source, n.Line, where, err)
	}
	sc, err := NewScenario(name, set)
	if err != nil {
		line := n.Line
		var pe *ParamError
		if errors.As(err, &pe) {
			if l, ok := lines[pe.Key]; ok {
				line = l
			}
		}
		return Scenario{}, fmt.Errorf("workloads: spec %s:%d: %s: %w", source, line, where, err)
	}
	sc.Label = label
	return sc, nil
}

//go:embed specs/*.yaml
var builtinSpecs embed.FS

// BuiltinSpecNames lists the specs shipped in workloads/specs, by name.
func BuiltinSpecNames() []string {
	ents, _ := builtinSpecs.ReadDir("specs")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// BuiltinSpec loads a shipped spec by name ("default", "quick", ...).
func BuiltinSpec(name string) (*Spec, error) {
	data, err := builtinSpecs.ReadFile("specs/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("workloads: no built-in spec %q (have: %s)", name, strings.Join(BuiltinSpecNames(), ", "))
	}
	return ParseSpec(data, "specs/"+name+".yaml")
}
