package workloads

import (
	"context"
	"fmt"
	"strings"

	"github.com/snapbench/snapbench/results"
	"github.com/snapbench/snapbench/strategies"
)

// SweepParams are the keys of the "sweep" scenario: run scenario Of once
// per value of one of its parameters (or of the engine's chunk size, key
// "chunk"). Every other key given to a sweep is a key of Of.
type SweepParams struct {
	Of     string   // the swept scenario
	Param  string   // the swept key, or ChunkParam
	Values []string // its values, one run each
	Base   Scenario // Of with every other key set
}

func init() { register(sweepDef()) }

func sweepDef() *scenarioDef {
	return &scenarioDef{
		order: 70,
		name:  "sweep",
		doc: "Runs another scenario (key of) once per value of one of its parameters (key param; " +
			"\"chunk\" sweeps the engine's chunk size) over a list (key values), one result per point: " +
			"fan-out 1,10,100,1000; depth; chunk size.",
		// No params: a sweep's keys are its expander's (SweepParams.table).
		defaults: func(sc *Scenario) { sc.Params = &SweepParams{} },
	}
}

var _ expander = (*SweepParams)(nil)

func (sp *SweepParams) table() []param {
	ps := []param{
		{name: "of", help: "the scenario to sweep", get: func() string { return sp.Of }},
		{name: "param", help: "the key to sweep, or \"chunk\" for the engine's chunk size", get: func() string { return sp.Param }},
		{name: "values", help: "comma-separated values of param, one run each", get: func() string { return strings.Join(sp.Values, ",") }},
	}
	if sp.Base.Name != "" {
		ps = append(ps, sp.Base.table()...)
	}
	return ps
}

func (sp *SweepParams) set(key, value string) error {
	bad := func(why string) error { return &ParamError{Scenario: "sweep", Key: key, Value: value, Why: why} }
	switch key {
	case "of":
		name := strings.TrimSpace(value)
		if name == "sweep" {
			return bad("a sweep cannot sweep a sweep")
		}
		base, err := Defaults(name)
		if err != nil {
			return bad("unknown scenario (known: " + strings.Join(Names(), ", ") + ")")
		}
		sp.Of, sp.Base = name, base
		return nil
	case "param":
		sp.Param = strings.TrimSpace(value)
		return nil
	case "values":
		sp.Values = nil
		for _, v := range strings.Split(value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				sp.Values = append(sp.Values, v)
			}
		}
		if len(sp.Values) == 0 {
			return bad("empty list")
		}
		return nil
	}
	if sp.Base.Name == "" {
		return bad("unknown key (set \"of\" first: the sweep's other keys belong to the swept scenario)")
	}
	if err := sp.Base.Set(key, value); err != nil {
		if pe, ok := err.(*ParamError); ok {
			pe.Scenario = "sweep of " + sp.Of
		}
		return err
	}
	return nil
}

func (sp *SweepParams) validate(sc *Scenario) error {
	bad := func(key, value, why string) error {
		return &ParamError{Scenario: "sweep", Key: key, Value: value, Why: why}
	}
	if sp.Of == "" {
		return bad("of", "", "required: the scenario to sweep")
	}
	if sp.Param == "" {
		return bad("param", "", "required: the key to sweep")
	}
	if len(sp.Values) == 0 {
		return bad("values", "", "required: the values of "+sp.Param)
	}
	if sp.Param != ChunkParam {
		known := false
		for _, k := range sp.Base.keys() {
			known = known || k == sp.Param
		}
		if !known {
			return bad("param", sp.Param, "not a key of "+sp.Of+" (known: "+strings.Join(sp.Base.keys(), ", ")+", or chunk)")
		}
	}
	_, err := sc.Points()
	return err
}

func (sp *SweepParams) clone() (expander, error) {
	base, err := copyScenario(sp.Base)
	if err != nil {
		return nil, err
	}
	return &SweepParams{Of: sp.Of, Param: sp.Param, Values: append([]string(nil), sp.Values...), Base: base}, nil
}

func (sp *SweepParams) points(sc Scenario) ([]Point, error) {
	var out []Point
	for _, v := range sp.Values {
		p, err := copyScenario(sp.Base)
		if err != nil {
			return nil, err
		}
		p.Label = sc.Label
		pt := Point{}
		if sp.Param == ChunkParam {
			n, err := ParseSize(v)
			if err != nil || n < strategies.MinChunkSize || n > strategies.MaxChunkSize || n&(n-1) != 0 {
				return nil, &ParamError{Scenario: "sweep", Key: "values", Value: v,
					Why: "chunk sizes must be powers of two from 4k to 1m"}
			}
			pt.ChunkSize = int(n)
		} else if err := p.Set(sp.Param, v); err != nil {
			return nil, err
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("sweep point %s=%s: %w", sp.Param, v, err)
		}
		p.SweepParam, p.SweepValue = sp.Param, v
		pt.Scenario = p
		out = append(out, pt)
	}
	return out, nil
}

// RunSweep runs every point of sc (a sweep, or any scenario as one point),
// each on the fresh Env that newEnv returns for it (format the engine there,
// with Point.ChunkSize when it is set). It goes on after an unsupported
// point and stops at the first failed or interrupted one. It returns the
// runs made, and the first error.
func RunSweep(ctx context.Context, sc Scenario, newEnv func(Point) (Env, error)) ([]*results.Run, error) {
	pts, err := sc.Points()
	if err != nil {
		return nil, err
	}
	var runs []*results.Run
	for _, pt := range pts {
		env, err := newEnv(pt)
		if err != nil {
			return runs, err
		}
		run, err := RunScenario(ctx, env, pt.Scenario)
		if run != nil {
			runs = append(runs, run)
		}
		if err != nil {
			return runs, err
		}
	}
	return runs, nil
}
