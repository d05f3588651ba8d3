package workloads

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// param is one settable key of a scenario, bound to a typed field.
type param struct {
	name string
	help string
	get  func() string
	set  func(string) error // parses and range-checks; the error says why
}

// ParamError is a rejected parameter: which key, which value, and why.
type ParamError struct {
	Scenario string
	Key      string
	Value    string
	Why      string
}

func (e *ParamError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("workloads: %s: %s: %s", e.Scenario, e.Key, e.Why)
	}
	return fmt.Sprintf("workloads: %s: %s=%q: %s", e.Scenario, e.Key, e.Value, e.Why)
}

func sizeParam(name, help string, p *int64, min int64) param {
	return param{name: name, help: help,
		get: func() string { return FormatSize(*p) },
		set: func(s string) error {
			v, err := ParseSize(s)
			if err != nil {
				return err
			}
			if v < min {
				return fmt.Errorf("must be at least %s", FormatSize(min))
			}
			*p = v
			return nil
		}}
}

func intParam(name, help string, p *int, lo, hi int) param {
	return param{name: name, help: help,
		get: func() string { return strconv.Itoa(*p) },
		set: func(s string) error {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("not an integer")
			}
			if v < lo || v > hi {
				return fmt.Errorf("must be from %d to %d", lo, hi)
			}
			*p = v
			return nil
		}}
}

func int64Param(name, help string, p *int64, lo int64) param {
	return param{name: name, help: help,
		get: func() string { return strconv.FormatInt(*p, 10) },
		set: func(s string) error {
			v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("not an integer")
			}
			if v < lo {
				return fmt.Errorf("must be at least %d", lo)
			}
			*p = v
			return nil
		}}
}

func uint64Param(name, help string, p *uint64) param {
	return param{name: name, help: help,
		get: func() string { return strconv.FormatUint(*p, 10) },
		set: func(s string) error {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("not an unsigned integer")
			}
			*p = v
			return nil
		}}
}

func floatParam(name, help string, p *float64, lo, hi float64) param {
	return param{name: name, help: help,
		get: func() string { return strconv.FormatFloat(*p, 'g', -1, 64) },
		set: func(s string) error {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("not a number")
			}
			if v < lo || v > hi {
				return fmt.Errorf("must be from %g to %g", lo, hi)
			}
			*p = v
			return nil
		}}
}

func boolParam(name, help string, p *bool) param {
	return param{name: name, help: help,
		get: func() string { return strconv.FormatBool(*p) },
		set: func(s string) error {
			v, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			*p = v
			return nil
		}}
}

func durationParam(name, help string, p *time.Duration) param {
	return param{name: name, help: help,
		get: func() string { return p.String() },
		set: func(s string) error {
			s = strings.TrimSpace(s)
			if s == "0" {
				*p = 0
				return nil
			}
			v, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("not a duration (e.g. 30s, 2m)")
			}
			if v < 0 {
				return fmt.Errorf("negative duration")
			}
			*p = v
			return nil
		}}
}

func enumParam(name, help string, p *string, choices ...string) param {
	return param{name: name, help: help + " (" + strings.Join(choices, ", ") + ")",
		get: func() string { return *p },
		set: func(s string) error {
			s = strings.ToLower(strings.TrimSpace(s))
			for _, c := range choices {
				if s == c {
					*p = c
					return nil
				}
			}
			return fmt.Errorf("want one of %s", strings.Join(choices, ", "))
		}}
}

// intListParam reads an ascending list of integers, "0,1,10,100".
func intListParam(name, help string, p *[]int, lo, hi int) param {
	return param{name: name, help: help,
		get: func() string {
			parts := make([]string, len(*p))
			for i, v := range *p {
				parts[i] = strconv.Itoa(v)
			}
			return strings.Join(parts, ",")
		},
		set: func(s string) error {
			var out []int
			for _, f := range strings.Split(s, ",") {
				f = strings.TrimSpace(f)
				if f == "" {
					continue
				}
				v, err := strconv.Atoi(f)
				if err != nil {
					return fmt.Errorf("%q is not an integer", f)
				}
				if v < lo || v > hi {
					return fmt.Errorf("%d is outside [%d, %d]", v, lo, hi)
				}
				if len(out) > 0 && v <= out[len(out)-1] {
					return fmt.Errorf("values must be strictly ascending")
				}
				out = append(out, v)
			}
			if len(out) == 0 {
				return fmt.Errorf("empty list")
			}
			*p = out
			return nil
		}}
}

// Interval is "every N ops" or "every duration".
type Interval struct {
	Ops  int64
	Time time.Duration
}

func (iv Interval) String() string {
	if iv.Time > 0 {
		return iv.Time.String()
	}
	return strconv.FormatInt(iv.Ops, 10)
}

// ParseInterval reads an op count ("512") or a duration ("2s").
func ParseInterval(s string) (Interval, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return Interval{}, fmt.Errorf("must be a positive op count or a duration")
		}
		return Interval{Ops: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Interval{}, fmt.Errorf("want a positive op count (512) or duration (2s)")
	}
	return Interval{Time: d}, nil
}

func intervalParam(name, help string, p *Interval) param {
	return param{name: name, help: help,
		get: func() string { return p.String() },
		set: func(s string) error {
			v, err := ParseInterval(s)
			if err != nil {
				return err
			}
			*p = v
			return nil
		}}
}
