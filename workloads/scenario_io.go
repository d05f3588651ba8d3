package workloads

// IOParams are the keys of the "io" scenario.
type IOParams struct {
	Prefill bool // write the working set once before the io phase
}

func init() { register(ioDef()) }

func ioDef() *scenarioDef {
	return &scenarioDef{
		order: 80,
		name:  "io",
		doc: "A plain IO pattern on one base volume, as fio would run it: the baseline that every engine, " +
			"raw included, supports. Phases: create, prefill (optional), io.",
		opsHelp: "ops of the io phase",
		usesOps: true,
		defaults: func(sc *Scenario) {
			sc.Ops, sc.Pattern.ReadPct = 100000, 50
			sc.Params = &IOParams{}
		},
		params: func(sc *Scenario) []param {
			p := sc.Params.(*IOParams)
			return []param{boolParam("prefill", "write the working set once before the io phase", &p.Prefill)}
		},
		writes: func(sc *Scenario) []int64 { return prefillWrites(sc, sc.Params.(*IOParams).Prefill) },
		run:    runIOScenario,
	}
}

func runIOScenario(s *session) error {
	p := s.sc.Params.(*IOParams)
	ws := s.sc.workingSet()
	base, err := s.createBase("base", p.Prefill, ws)
	if err != nil {
		return err
	}
	return s.phase("io", func(*phaseState) error { return s.mainIO(base, ws) })
}
