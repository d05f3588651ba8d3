package results

import (
	"math"
	"strconv"
	"strings"
)

// unitSuffixes maps a Metrics key suffix to its unit, longest first.
var unitSuffixes = []struct{ suffix, unit string }{
	{"_per_s", "/s"},
	{"_bytes", "bytes"},
	{"_pct", "%"},
	{"_ns", "ns"},
	{"_us", "µs"},
	{"_ms", "ms"},
	{"_s", "s"},
}

// SplitUnit splits a Metrics key into its name and unit: "burst_s" gives
// ("burst", "s"), "space_per_clone_bytes" ("space_per_clone", "bytes"),
// "clones" ("clones", "").
func SplitUnit(key string) (name, unit string) {
	for _, u := range unitSuffixes {
		if strings.HasSuffix(key, u.suffix) && len(key) > len(u.suffix) {
			return strings.TrimSuffix(key, u.suffix), u.unit
		}
	}
	return key, ""
}

// nsPer is how many nanoseconds one unit of a duration unit holds.
var nsPer = map[string]float64{"ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}

// durationUnit picks the display unit for nanosecond values whose largest
// magnitude is max.
func durationUnit(max float64) (unit string, scale float64) {
	switch {
	case max >= 1e9:
		return "s", 1e9
	case max >= 1e6:
		return "ms", 1e6
	case max >= 1e3:
		return "µs", 1e3
	}
	return "ns", 1
}

// fmtNum formats a value with about three significant digits, without an
// exponent for the magnitudes benchmarks produce.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.001:
		return strconv.FormatFloat(v, 'f', 3+int(-math.Floor(math.Log10(a)))-1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fmtDuration formats nanoseconds with their own unit: "850ns", "12.3µs",
// "3.40ms", "1.23s".
func fmtDuration(ns float64) string {
	u, s := durationUnit(math.Abs(ns))
	return fmtNum(ns/s) + u
}

// fmtBytes formats a byte count with a binary unit: "512B", "1.50MiB".
func fmtBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(b) >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmtNum(b) + units[i]
}

// fmtRaw formats a value for machine-readable output: the shortest form
// that reads back exactly, without an exponent for ordinary magnitudes.
func fmtRaw(v float64) string {
	if a := math.Abs(v); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
