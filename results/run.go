package results

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// SweepParamKey is the Params key naming the swept parameter of a run that
// is one point of a sweep; Params[that name] holds the value.
const SweepParamKey = "sweep_param"

// The engines as the program describes them (SetEngines): results names
// none itself.
var (
	engineOrder    []string // tables and legends list these first, in order
	baselineEngine string   // compare divides timings by this engine's
)

// SetEngines tells results how to present engines: order lists the engines
// tables and legends show first, in that order (others follow by name),
// and baseline is the engine compare divides timings by (the bare device:
// strategies.Ranked and strategies.Baseline). Call it once at program
// start, before any table, plot or comparison.
func SetEngines(order []string, baseline string) {
	engineOrder, baselineEngine = append([]string(nil), order...), baseline
}

// SweepPoint returns the swept parameter and its value ("", "" if r is not
// part of a sweep).
func (r *Run) SweepPoint() (param, value string) {
	p := r.Params[SweepParamKey]
	if p == "" {
		return "", ""
	}
	return p, r.Params[p]
}

// SweepValue is the numeric value of the sweep point (ok false when r is
// not a sweep point or the value is not a number).
func (r *Run) SweepValue() (float64, bool) {
	_, v := r.SweepPoint()
	return parseNumber(v)
}

// parseNumber reads a number, accepting size suffixes K, M, G (binary) as
// in chunk sizes "64K".
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	mult := 1.0
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult != 1 {
		s = strings.TrimSuffix(strings.TrimSuffix(s[:len(s)-1], "i"), "I")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v * mult, true
}

// LabelKey is the Params key of the name a spec file gave a run
// ("clonebush-refresh"); runs of one scenario with different labels are
// different runs for every reader.
const LabelKey = "label"

// Name is the run's scenario as readers group it: Params["label"] when
// set, else Scenario.
func (r *Run) Name() string {
	if l := r.Params[LabelKey]; l != "" {
		return l
	}
	return r.Scenario
}

// Label names the run for humans: "cow", or "cow fanout=100" for a sweep
// point.
func (r *Run) Label() string {
	if p, v := r.SweepPoint(); p != "" {
		return r.Engine + " " + p + "=" + v
	}
	return r.Engine
}

// Key identifies a run across run sets: name (label or scenario), engine
// and sweep point.
func (r *Run) Key() string {
	k := r.Name() + "/" + r.Engine
	if p, v := r.SweepPoint(); p != "" {
		k += "/" + p + "=" + v
	}
	return k
}

// PhaseRef is one phase of a run with the identity readers give it. A
// scenario may run a phase several times (overwrite at each fan-out, read
// at each depth): ID tells the occurrences apart by the Metrics values that
// differ between them ("overwrite fanout=4"), or by their number
// ("check #2") when none does. A name that occurs once is its own ID.
type PhaseRef struct {
	*Phase
	ID    string
	Index int      // occurrence of Phase.Name in the run, from 0
	Keys  []string // the Metrics keys that tell the occurrences apart
}

// PhaseRefs returns the run's phases in order with their IDs, telling
// occurrences apart by what differs within this run alone. Readers of
// several runs use PhaseRefsIn so that one phase gets one ID in all.
func (r *Run) PhaseRefs() []PhaseRef { return r.phaseRefs(instanceKeys([]*Run{r})) }

// PhaseRefsIn returns the phases of r with IDs consistent across runs: a
// phase name that repeats in any of runs is told apart, in every run, by
// the Metrics that differ between its occurrences in any run ("read
// depth=0" even in a run that reached only depth 0).
func PhaseRefsIn(runs []*Run, r *Run) []PhaseRef { return r.phaseRefs(instanceKeys(runs)) }

// instanceKeys maps each phase name that repeats in some run to the sorted
// Metrics keys that tell its occurrences apart (empty: none does).
func instanceKeys(runs []*Run) map[string][]string {
	out := map[string][]string{}
	for _, r := range runs {
		byName := map[string][]int{}
		for i := range r.Phases {
			byName[r.Phases[i].Name] = append(byName[r.Phases[i].Name], i)
		}
		for name, idx := range byName {
			if len(idx) < 2 {
				continue
			}
			keys := out[name]
			for _, k := range differingKeys(r.Phases, idx) {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			out[name] = keys
		}
	}
	return out
}

func (r *Run) phaseRefs(inst map[string][]string) []PhaseRef {
	refs := make([]PhaseRef, len(r.Phases))
	count := map[string]int{}
	seen := map[string]bool{}
	for i := range r.Phases {
		p := &r.Phases[i]
		n := count[p.Name]
		count[p.Name]++
		keys, repeats := inst[p.Name]
		refs[i] = PhaseRef{Phase: p, ID: p.Name, Index: n}
		if !repeats {
			continue
		}
		var parts []string
		for _, k := range keys {
			if v, ok := p.Metrics[k]; ok {
				parts = append(parts, k+"="+fmtRaw(v))
				refs[i].Keys = append(refs[i].Keys, k)
			}
		}
		refs[i].ID = p.Name + " " + strings.Join(parts, ",")
		if len(parts) == 0 || seen[refs[i].ID] {
			refs[i].ID, refs[i].Keys = p.Name+" #"+strconv.Itoa(n+1), nil
		}
		seen[refs[i].ID] = true
	}
	return refs
}

// differingKeys lists, sorted, the Metrics keys that every phase of idx has
// and whose values are not all equal.
func differingKeys(phases []Phase, idx []int) []string {
	if len(idx) < 2 {
		return nil
	}
	var keys []string
	first := phases[idx[0]].Metrics
	for k, v := range first {
		differs, everywhere := false, true
		for _, i := range idx[1:] {
			w, ok := phases[i].Metrics[k]
			everywhere = everywhere && ok
			differs = differs || ok && w != v
		}
		if differs && everywhere {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var steps []string
	for _, k := range keys {
		if slices.Contains(StepKeys, k) {
			steps = append(steps, k)
		}
	}
	if len(steps) > 0 {
		return steps // a measurement that happens to differ is not a name
	}
	return keys
}

// StepKeys are the Metrics keys by which scenarios tell apart the repeats
// of a phase (overwrite's phase at each fan-out, chainread's at each depth).
// When a repeated phase has any of them, only they name its instances;
// otherwise every Metrics key whose value differs between the repeats does.
var StepKeys = []string{"fanout", "depth", "levels", "round", "step"}

// phaseIndex finds phases by run and ID (see PhaseRefsIn) within a set of
// runs, and lists the IDs in order.
type phaseIndex struct {
	byRun map[*Run]map[string]*Phase
	ids   []string
}

func indexPhases(runs []*Run) phaseIndex {
	inst := instanceKeys(runs)
	x := phaseIndex{byRun: make(map[*Run]map[string]*Phase, len(runs))}
	seen := map[string]bool{}
	for _, r := range runs {
		m := map[string]*Phase{}
		for _, p := range r.phaseRefs(inst) {
			m[p.ID] = p.Phase
			if !seen[p.ID] {
				seen[p.ID] = true
				x.ids = append(x.ids, p.ID)
			}
		}
		x.byRun[r] = m
	}
	return x
}

// get returns r's phase with that ID, or nil.
func (x phaseIndex) get(r *Run, id string) *Phase { return x.byRun[r][id] }

// Phase returns the first phase named name, or nil.
func (r *Run) Phase(name string) *Phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// param returns a numeric value for name from the phase's Metrics, else
// from the run's Params.
func (r *Run) param(p *Phase, name string) (float64, bool) {
	if p != nil {
		if v, ok := p.Metrics[name]; ok {
			return v, true
		}
	}
	return parseNumber(r.Params[name])
}

// engineRank orders engine names by the order SetEngines gives.
func engineRank(name string) int {
	for i, e := range engineOrder {
		if e == name {
			return i
		}
	}
	return len(engineOrder)
}

func compareEngines(a, b string) int {
	ra, rb := engineRank(a), engineRank(b)
	switch {
	case ra != rb:
		return ra - rb
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareRuns orders runs by name, engine, sweep parameter and value.
func compareRuns(a, b *Run) int {
	if a.Name() != b.Name() {
		return strings.Compare(a.Name(), b.Name())
	}
	if c := compareEngines(a.Engine, b.Engine); c != 0 {
		return c
	}
	pa, va := a.SweepPoint()
	pb, vb := b.SweepPoint()
	if pa != pb {
		return strings.Compare(pa, pb)
	}
	na, oka := parseNumber(va)
	nb, okb := parseNumber(vb)
	switch {
	case oka && okb && na != nb:
		if na < nb {
			return -1
		}
		return 1
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	}
	return strings.Compare(va, vb)
}

// SortRuns sorts runs as LoadAll does (stable for equal keys).
func SortRuns(runs []*Run) {
	sort.SliceStable(runs, func(i, j int) bool { return compareRuns(runs[i], runs[j]) < 0 })
}

// opOrder lists the operation kinds in display order.
var opOrder = []Op{OpWrite, OpRead, OpFlush, OpCreate, OpSnapshot, OpClone, OpDelete, OpMerge, OpExpire, OpReplica, OpBoot}

// sortOps orders operation kinds: the known ones in opOrder, then others.
func sortOps(ops []Op) {
	rank := func(o Op) int {
		for i, k := range opOrder {
			if k == o {
				return i
			}
		}
		return len(opOrder)
	}
	sort.Slice(ops, func(i, j int) bool {
		ri, rj := rank(ops[i]), rank(ops[j])
		if ri != rj {
			return ri < rj
		}
		return ops[i] < ops[j]
	})
}
