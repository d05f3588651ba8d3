package workloads

import (
	"strings"
	"testing"

	"github.com/snapbench/snapbench/results"
)

// TestHeadlineMetrics: every scenario's headline rows are registered, in
// order, each deterministic row before every timing row, and a growth row
// divides the most by the fewest of one quantity of its own scenario,
// both rows before it.
func TestHeadlineMetrics(t *testing.T) {
	ms := results.HeadlineMetrics()
	want := 0
	for _, d := range registry {
		want += len(d.headline)
	}
	if len(ms) != want || want == 0 {
		t.Fatalf("%d headline metrics registered, the scenarios declare %d", len(ms), want)
	}
	at := map[string]int{}
	timing := false
	for i, m := range ms {
		at[m.Key] = i
		if i > 0 && m.Order <= ms[i-1].Order {
			t.Errorf("%s: order %d after %d", m.Key, m.Order, ms[i-1].Order)
		}
		if timing && !m.Timing {
			t.Errorf("deterministic row %s after a timing row", m.Key)
		}
		timing = timing || m.Timing
		if _, err := lookupDef(m.Scenario); err != nil {
			t.Errorf("%s: scenario %q: %v", m.Key, m.Scenario, err)
		}
		if m.Get != nil {
			continue
		}
		hi, okHi := at[m.Growth[0]]
		lo, okLo := at[m.Growth[1]]
		if !okHi || !okLo {
			t.Errorf("growth row %s divides %q by %q: not both registered before it", m.Key, m.Growth[0], m.Growth[1])
			continue
		}
		stem := func(l string) string { return l[:strings.LastIndex(l, ",")] }
		if stem(ms[hi].Label) != stem(ms[lo].Label) || ms[hi].Scenario != m.Scenario || ms[lo].Scenario != m.Scenario ||
			!strings.Contains(ms[hi].Key, "high") || !strings.Contains(ms[lo].Key, "low") {
			t.Errorf("growth row %s divides %q by %q", m.Key, ms[hi].Label, ms[lo].Label)
		}
	}
}
