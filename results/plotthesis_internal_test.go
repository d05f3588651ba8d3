package results

import "testing"

// TestRegisterThesisRefuses: figures without a scenario, title, name or
// Draw, or a scenario or order already registered, are programming
// errors: RegisterThesis panics and registers nothing.
func TestRegisterThesisRefuses(t *testing.T) {
	reg := append([]ThesisScenario(nil), thesisScenarios.items...)
	if len(reg) == 0 {
		t.Fatal("no thesis figures registered (the scenarios declare them)")
	}
	fig := ThesisFigure{Name: "x", Draw: PhasesOverTime()}
	for _, tc := range []struct {
		name string
		ts   ThesisScenario
	}{
		{"no scenario", ThesisScenario{Title: "X", Order: -1, Figures: []ThesisFigure{fig}}},
		{"no title", ThesisScenario{Scenario: "test-x", Order: -1, Figures: []ThesisFigure{fig}}},
		{"figure without a name", ThesisScenario{Scenario: "test-x", Title: "X", Order: -1, Figures: []ThesisFigure{{Draw: PhasesOverTime()}}}},
		{"figure without a draw", ThesisScenario{Scenario: "test-x", Title: "X", Order: -1, Figures: []ThesisFigure{{Name: "x"}}}},
		{"same scenario", ThesisScenario{Scenario: reg[0].Scenario, Title: "X", Order: -1, Figures: []ThesisFigure{fig}}},
		{"same order", ThesisScenario{Scenario: "test-x", Title: "X", Order: reg[0].Order, Figures: []ThesisFigure{fig}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("RegisterThesis did not panic")
				}
				if n := len(thesisScenarios.items); n != len(reg) {
					t.Errorf("%d scenarios registered after the panic, want %d", n, len(reg))
				}
			}()
			RegisterThesis(tc.ts)
		})
	}
}
