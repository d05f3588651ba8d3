package workloads

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/snapbench/snapbench/results"
)

// Scenario is a resolved scenario configuration: which scenario, every
// parameter typed and validated. Build one with NewScenario (from key=value
// pairs, as a command line gives them) or LoadSpec (from a spec file); both
// start from the scenario's defaults and reject unknown keys and impossible
// values before anything touches a device.
//
// Mutating the typed fields directly is allowed; call Validate afterwards.
// Params is a pointer: copies of a Scenario share it (NewScenario(sc.Name,
// sc.Values()) makes an independent one).
type Scenario struct {
	Name  string // registered scenario name (see Names)
	Label string // optional name given in a spec file

	Seed     uint64        // every random choice derives from it
	Verify   VerifyMode    // how reads are checked
	QD       int           // queue depth: concurrent workers
	Ops      int64         // op budget of the main phase (see ParamDocs for each scenario)
	Duration time.Duration // time budget of the main phase; 0: none
	// HlogInterval is the length of the latency-over-time intervals each
	// phase records (results.Phase.Intervals, the .hlog's lines); 0: none
	// (the .hlog then has one interval per phase and op).
	HlogInterval time.Duration

	VolumeSize int64   // bytes of each volume the scenario creates
	WorkingSet int64   // IO goes to [0, WorkingSet) of each volume; 0: the whole volume
	Pattern    Pattern // the main phase's IO pattern

	// Params holds the scenario's own parameters: *SnaptreeParams,
	// *ClonebushParams, *OverwriteParams, *ChainreadParams,
	// *ExhaustParams, *IOParams, or an expander (*SweepParams).
	Params any

	// SweepParam and SweepValue are set on the points of a sweep (Points):
	// the swept parameter and its value at this point.
	SweepParam, SweepValue string
}

// ChunkParam is the sweep parameter that varies the engine's chunk size
// rather than a scenario parameter (see Point).
const ChunkParam = "chunk"

// scenarioDef is one registered scenario: its file defines it and
// registers it in an init function (register), as engines register their
// Factory. CONTRIBUTING.md says how to add one.
type scenarioDef struct {
	order    int // place in Names, help and tables: lower first
	name     string
	doc      string
	opsHelp  string
	defaults func(sc *Scenario)             // common overrides and sc.Params
	params   func(sc *Scenario) []param     // the scenario's own keys
	writes   func(sc *Scenario) []int64     // sizes written beyond the pattern's (fills)
	reads    func(sc *Scenario) []int64     // sizes only read (restore, boot)
	check    func(sc *Scenario) *ParamError // cross-field checks
	run      func(s *session) error         // the phases
	usesOps  bool
	// headline are the scenario's rows of the headline table (see
	// headline.go), registered with results.RegisterHeadline.
	headline []results.HeadlineMetric
	// figures are the scenario's figures in plot's default set (see
	// figures.go), registered with results.RegisterThesis.
	figures results.ThesisScenario
}

// registry lists the scenarios in display order (scenarioDef.order).
var registry []*scenarioDef

// register adds d to the registry, keeping it in display order. It panics
// on a second scenario of the same name or order: both are programming
// errors caught by any test of the package.
func register(d *scenarioDef) {
	for _, o := range registry {
		if o.name == d.name || o.order == d.order {
			panic(fmt.Sprintf("workloads: scenario %q registered with the name or order (%d) of %q", d.name, d.order, o.name))
		}
	}
	registry = append(registry, d)
	sort.SliceStable(registry, func(i, j int) bool { return registry[i].order < registry[j].order })
	results.RegisterHeadline(d.headline...)
	if len(d.figures.Figures) > 0 {
		d.figures.Scenario = d.name
		results.RegisterThesis(d.figures)
	}
}

func lookupDef(name string) (*scenarioDef, error) {
	for _, d := range registry {
		if d.name == name {
			return d, nil
		}
	}
	return nil, &ParamError{Scenario: name, Key: "scenario", Value: name,
		Why: "unknown scenario (known: " + strings.Join(Names(), ", ") + ")"}
}

// Names returns the scenario names.
func Names() []string {
	out := make([]string, len(registry))
	for i, d := range registry {
		out[i] = d.name
	}
	return out
}

// Doc returns a scenario's one-paragraph description.
func Doc(name string) (string, error) {
	d, err := lookupDef(name)
	if err != nil {
		return "", err
	}
	return d.doc, nil
}

// Defaults returns scenario name with every parameter at its default.
func Defaults(name string) (Scenario, error) {
	d, err := lookupDef(name)
	if err != nil {
		return Scenario{}, err
	}
	sc := Scenario{Name: name, Seed: 1, Verify: VerifyStamp, QD: 1, Ops: 10000, VolumeSize: 64 << 20,
		HlogInterval: time.Second, Pattern: Pattern{BlockSizes: []BlockSize{{Size: 4096, Weight: 1}}, Access: Random}}
	d.defaults(&sc)
	return sc, nil
}

// NewScenario returns scenario name with the given keys set (see ParamDocs),
// validated. Keys are applied in sorted order, except that a sweep's "of"
// comes first (it decides which keys exist).
func NewScenario(name string, set map[string]string) (Scenario, error) {
	sc, err := Defaults(name)
	if err != nil {
		return Scenario{}, err
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "of") != (keys[j] == "of") {
			return keys[i] == "of"
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		if err := sc.Set(k, set[k]); err != nil {
			return Scenario{}, err
		}
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// ParseSet turns "key=value" strings (repeated --set flags) into a map. A
// key given twice is an error.
func ParseSet(kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("workloads: %q: want key=value", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("workloads: key %q given twice", k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// expander is the Params of a scenario that is not run itself but expands
// into runs of other scenarios (a sweep: sweep.go). It owns all of the
// scenario's keys (none of the common ones apply), its validation and its
// copy, and says what runs it makes; the generic code below asks for it
// rather than naming a scenario.
type expander interface {
	table() []param
	set(key, value string) error
	validate(sc *Scenario) error
	points(sc Scenario) ([]Point, error)
	clone() (expander, error)
}

// Point is one run of a sweep: the scenario with the swept value set, and
// for a chunk-size sweep the chunk size to format the engine with.
type Point struct {
	Scenario  Scenario
	ChunkSize int // 0: whatever the caller formats with
}

// Points expands a scenario into its runs: a sweep's, in the order of its
// values, each validated; any other scenario is its own single point.
func (sc Scenario) Points() ([]Point, error) {
	if x, ok := sc.Params.(expander); ok {
		return x.points(sc)
	}
	return []Point{{Scenario: sc}}, nil
}

// table is every key of sc, bound to its fields.
func (sc *Scenario) table() []param {
	if x, ok := sc.Params.(expander); ok {
		return x.table()
	}
	d, err := lookupDef(sc.Name)
	if err != nil {
		return nil
	}
	return append(sc.commonParams(d), d.params(sc)...)
}

func (sc *Scenario) commonParams(d *scenarioDef) []param {
	ps := []param{
		uint64Param("seed", "seed of every random choice: same seed, same op sequence at qd 1", &sc.Seed),
		{name: "verify", help: "read verification: stamp (headers), full (every byte) or off",
			get: func() string { return sc.Verify.String() },
			set: func(s string) error {
				m, err := ParseVerifyMode(s)
				if err == nil {
					sc.Verify = m
				}
				return err
			}},
		intParam("qd", "queue depth: concurrent workers", &sc.QD, 1, 1024),
		int64Param("ops", d.opsHelp, &sc.Ops, 0),
		durationParam("duration", "time budget of the main phase (0: use ops; with both, whichever ends first)", &sc.Duration),
		sizeParam("volume_size", "size of each volume the scenario creates", &sc.VolumeSize, 1<<20),
		sizeParam("working_set", "IO goes to the first working_set bytes of each volume (0: the whole volume)", &sc.WorkingSet, 0),
		floatParam("read_pct", "percent of the main phase's ops that are reads", &sc.Pattern.ReadPct, 0, 100),
		{name: "bs", help: "block size or split: 4k, or 4k:80,64k:20",
			get: func() string { return FormatBlockSizes(sc.Pattern.BlockSizes) },
			set: func(s string) error {
				b, err := ParseBlockSizes(s)
				if err == nil {
					sc.Pattern.BlockSizes = b
				}
				return err
			}},
		{name: "access", help: "random or seq",
			get: func() string { return sc.Pattern.Access.String() },
			set: func(s string) error {
				a, err := ParseAccess(s)
				if err == nil {
					sc.Pattern.Access = a
				}
				return err
			}},
		{name: "dist", help: "where random ops land: uniform, zipf:THETA, hotspot:OPS_PCT:SPACE_PCT",
			get: func() string { return sc.Pattern.Dist.String() },
			set: func(s string) error {
				dd, err := ParseDistribution(s)
				if err == nil {
					sc.Pattern.Dist = dd
				}
				return err
			}},
		floatParam("rate", "ops/s over all workers (0: unlimited)", &sc.Pattern.Rate, 0, 1e12),
		{name: "hlog_interval", help: "latency-over-time interval of every phase's ops, in the result and its .hlog (0: one per phase; at least 1ms)",
			get: func() string { return sc.HlogInterval.String() },
			set: func(s string) error {
				var d time.Duration
				if err := durationParam("", "", &d).set(s); err != nil {
					return err
				}
				if d != 0 && d < time.Millisecond {
					return fmt.Errorf("must be 0 or at least 1ms")
				}
				sc.HlogInterval = d
				return nil
			}},
	}
	return ps
}

// Set sets one key. The error is a *ParamError naming the key, the value
// and why it was refused.
func (sc *Scenario) Set(key, value string) error {
	if x, ok := sc.Params.(expander); ok {
		return x.set(key, value)
	}
	for _, p := range sc.table() {
		if p.name == key {
			if err := p.set(value); err != nil {
				return &ParamError{Scenario: sc.Name, Key: key, Value: value, Why: err.Error()}
			}
			return nil
		}
	}
	return &ParamError{Scenario: sc.Name, Key: key, Value: value, Why: "unknown key (known: " + strings.Join(sc.keys(), ", ") + ")"}
}

func (sc *Scenario) keys() []string {
	var out []string
	for _, p := range sc.table() {
		out = append(out, p.name)
	}
	return out
}

// Values returns every parameter as a string, as results.Run.Params stores
// them: the full configuration, defaults included, plus "label" and the
// sweep point's keys when set.
func (sc Scenario) Values() map[string]string {
	out := make(map[string]string)
	for _, p := range sc.table() {
		out[p.name] = p.get()
	}
	if sc.Label != "" {
		out["label"] = sc.Label
	}
	if sc.SweepParam != "" {
		out[results.SweepParamKey] = sc.SweepParam
		out[sc.SweepParam] = sc.SweepValue
	}
	return out
}

// ParamDoc describes one key of a scenario.
type ParamDoc struct {
	Name    string
	Default string
	Help    string
}

// ParamDocs lists the keys of a scenario with their defaults, common keys
// first. For "sweep" it lists the sweep's own keys; the swept scenario's
// keys are accepted too.
func ParamDocs(name string) ([]ParamDoc, error) {
	sc, err := Defaults(name)
	if err != nil {
		return nil, err
	}
	var out []ParamDoc
	for _, p := range sc.table() {
		out = append(out, ParamDoc{Name: p.name, Default: p.get(), Help: p.help})
	}
	return out, nil
}

// workingSet is the resolved working set.
func (sc *Scenario) workingSet() int64 {
	if sc.WorkingSet == 0 {
		return sc.VolumeSize
	}
	return sc.WorkingSet
}

// fillBlock is the block size used to fill a region: up to 1 MiB, a power
// of two dividing the region, never below the pattern's largest block.
func fillBlock(region, atLeast int64) int64 {
	b := int64(1 << 20)
	for b > atLeast && region%b != 0 {
		b /= 2
	}
	return max(b, atLeast)
}

// blockSizes returns every block size the scenario will use.
func (sc *Scenario) blockSizes() []int64 {
	out := sc.patternSizes()
	if d, err := lookupDef(sc.Name); err == nil {
		if d.writes != nil {
			out = append(out, d.writes(sc)...)
		}
		if d.reads != nil {
			out = append(out, d.reads(sc)...)
		}
	}
	return out
}

func (sc *Scenario) patternSizes() []int64 {
	var out []int64
	for _, b := range sc.Pattern.BlockSizes {
		out = append(out, b.Size)
	}
	return out
}

// geometry returns the oracle unit, the largest power of two dividing every
// size written, and the ownership granule, the least common multiple of
// the pattern's block sizes: concurrent workers writing one volume own
// whole granules (see GenConfig.Granule).
func (sc *Scenario) geometry() (unit, granule int64) {
	g, l := int64(0), int64(1)
	for _, b := range sc.patternSizes() {
		g = gcd64(g, b)
		l = l / gcd64(l, b) * b
		if l > 1<<30 {
			return 0, l
		}
	}
	if d, err := lookupDef(sc.Name); err == nil && d.writes != nil {
		for _, b := range d.writes(sc) {
			g = gcd64(g, b)
		}
	}
	return g & -g, l
}

func gcd64(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Validate checks the whole configuration. Errors are *ParamError.
func (sc *Scenario) Validate() error {
	if x, ok := sc.Params.(expander); ok {
		return x.validate(sc)
	}
	d, err := lookupDef(sc.Name)
	if err != nil {
		return err
	}
	bad := func(key, why string) error {
		val := ""
		for _, p := range sc.table() {
			if p.name == key {
				val = p.get()
			}
		}
		return &ParamError{Scenario: sc.Name, Key: key, Value: val, Why: why}
	}
	if sc.QD < 1 || sc.QD > 1024 {
		return bad("qd", "must be from 1 to 1024")
	}
	if sc.Ops < 0 {
		return bad("ops", "must not be negative")
	}
	if sc.Duration < 0 {
		return bad("duration", "must not be negative")
	}
	if d.usesOps && sc.Ops == 0 && sc.Duration == 0 {
		return bad("ops", "ops and duration are both 0: the main phase would never end")
	}
	if sc.VolumeSize <= 0 || sc.VolumeSize%(1<<20) != 0 {
		return bad("volume_size", "must be a positive multiple of 1m (the largest engine chunk size)")
	}
	if sc.WorkingSet < 0 {
		return bad("working_set", "must not be negative")
	}
	if sc.WorkingSet > sc.VolumeSize {
		return bad("working_set", fmt.Sprintf("larger than the volume (volume_size=%s)", FormatSize(sc.VolumeSize)))
	}
	p := sc.Pattern
	if p.ReadPct < 0 || p.ReadPct > 100 {
		return bad("read_pct", "must be from 0 to 100")
	}
	if p.Rate < 0 {
		return bad("rate", "must not be negative")
	}
	if err := validBlockSizes(p.BlockSizes); err != nil {
		return bad("bs", err.Error())
	}
	if err := p.Dist.Validate(); err != nil {
		return bad("dist", err.Error())
	}
	if d.check != nil {
		if e := d.check(sc); e != nil {
			if e.Value == "" {
				for _, pp := range sc.table() {
					if pp.name == e.Key {
						e.Value = pp.get()
					}
				}
			}
			e.Scenario = sc.Name
			return e
		}
	}
	unit, gran := sc.geometry()
	if gran > 64<<20 {
		return bad("bs", "the block sizes have a least common multiple above 64m")
	}
	ws := sc.workingSet()
	if ws%gran != 0 {
		return bad("working_set", fmt.Sprintf("must be a multiple of %s, the least common multiple of the block sizes (bs=%s)",
			FormatSize(gran), FormatBlockSizes(sc.Pattern.BlockSizes)))
	}
	if ws/gran < int64(sc.QD) {
		return bad("qd", fmt.Sprintf("the working set (%s) holds %d slots of %s, fewer than qd workers: lower qd or raise working_set",
			FormatSize(ws), ws/gran, FormatSize(gran)))
	}
	if unit < 512 {
		return bad("bs", "block sizes must be multiples of 512")
	}
	return nil
}

func sizesString(bs []int64) string {
	seen := map[int64]bool{}
	var parts []string
	for _, b := range bs {
		if !seen[b] {
			seen[b] = true
			parts = append(parts, FormatSize(b))
		}
	}
	return strings.Join(parts, ", ")
}

// copyScenario returns an independent copy of sc (Params included).
func copyScenario(sc Scenario) (Scenario, error) {
	out, err := Defaults(sc.Name)
	if err != nil {
		return Scenario{}, err
	}
	if x, ok := sc.Params.(expander); ok {
		if out.Params, err = x.clone(); err != nil {
			return Scenario{}, err
		}
	} else {
		for _, p := range sc.table() {
			if err := out.Set(p.name, p.get()); err != nil {
				return Scenario{}, err
			}
		}
	}
	out.Label, out.SweepParam, out.SweepValue = sc.Label, sc.SweepParam, sc.SweepValue
	return out, nil
}
