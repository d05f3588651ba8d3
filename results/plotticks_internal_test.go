package results

import (
	"reflect"
	"testing"
)

func TestPercentileTicks(t *testing.T) {
	for _, tc := range []struct {
		min, max float64
		want     []string // the labelled ticks, in order
	}{
		{1, 1000, []string{"0%", "50%", "90%", "99%", "99.9%"}},
		{1, 50, []string{"0%", "50%", "90%"}},
		{1, 1.5e5, []string{"0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"}},
	} {
		var got []string
		for _, tk := range (percentileTicks{}).Ticks(tc.min, tc.max) {
			if tk.Value < tc.min || tk.Value > tc.max {
				t.Errorf("[%g, %g]: tick %g outside the axis", tc.min, tc.max, tk.Value)
			}
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("[%g, %g]: labels %v, want %v", tc.min, tc.max, got, tc.want)
		}
	}
}

func TestZeroLogTicks(t *testing.T) {
	z := zeroLogTicks{zeroAt: 0.25, minPositive: 1}
	var got []string
	for _, tk := range z.Ticks(0.2, 130) {
		if tk.Label != "" {
			got = append(got, tk.Label)
		}
	}
	want := []string{"0", "1", "2", "5", "10", "20", "50", "100"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("labels %v, want %v", got, want)
	}
}

func TestLog10Ticks(t *testing.T) {
	for _, tk := range (log10Ticks{logTicks{}}).Ticks(0, 3) { // 1 to 1000
		if tk.Value < 0 || tk.Value > 3+1e-9 {
			t.Errorf("tick at log10 %g outside [0, 3]", tk.Value)
		}
	}
}

func TestHumanName(t *testing.T) {
	for in, want := range map[string]string{
		"base_write_p99": "base write p99 latency",
		"fanout":         "fan-out",
		"all_booted":     "all booted",
	} {
		if got := humanName(in); got != want {
			t.Errorf("humanName(%q) = %q, want %q", in, got, want)
		}
	}
}
