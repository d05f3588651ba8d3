package workloads

// IOParams are the keys of the "io" scenario.
type IOParams struct {
	Prefill bool // write the working set once before the io phase
}

func ioDef() *scenarioDef {
	return &scenarioDef{
		name: "io",
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
		writes: func(sc *Scenario) []int64 {
			if sc.Params.(*IOParams).Prefill {
				return []int64{fillBlock(sc.workingSet(), sc.Pattern.MaxBlock())}
			}
			return nil
		},
		run: runIOScenario,
	}
}

func runIOScenario(s *session) error {
	p := s.sc.Params.(*IOParams)
	ws := s.sc.workingSet()
	var base *vol
	if err := s.phase("create", func(*phaseState) (err error) {
		base, err = s.create("base")
		return err
	}); err != nil {
		return err
	}
	if p.Prefill {
		if err := s.phase("prefill", func(*phaseState) error { return s.fill(base, ws) }); err != nil {
			return err
		}
	}
	return s.phase("io", func(ph *phaseState) error {
		t, err := s.target(base)
		if err != nil {
			return err
		}
		ops := s.sc.Ops
		if ops == 0 {
			ops = -1
		}
		st, err := s.patternStreams(s.sc.Pattern, t, 0, ws, ops, s.sc.QD)
		if err != nil {
			return err
		}
		_, err = s.io(ioRun{streams: st, total: max(ops, 0), deadline: deadlineAfter(s.sc.Duration), rate: s.sc.Pattern.Rate})
		return err
	})
}
