package workloads

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte size: a plain number of bytes or a number with a
// binary suffix k, m, g, t (case-insensitive, optionally followed by "i",
// "b" or "ib"): "4096", "4k", "64KiB", "1M", "1g". Fractions are allowed
// when the result is a whole number of bytes ("1.5m").
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	t = strings.TrimSuffix(t, "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	if t == "" {
		return 0, fmt.Errorf("not a size (want bytes or a number with k, m, g or t)")
	}
	if v, err := strconv.ParseInt(t, 10, 64); err == nil {
		if v < 0 {
			return 0, fmt.Errorf("negative size")
		}
		if v > (1<<62)/mult {
			return 0, fmt.Errorf("size too large")
		}
		return v * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size (want bytes or a number with k, m, g or t)")
	}
	if f < 0 {
		return 0, fmt.Errorf("negative size")
	}
	b := f * float64(mult)
	if b > 1<<62 {
		return 0, fmt.Errorf("size too large")
	}
	if b != float64(int64(b)) {
		return 0, fmt.Errorf("not a whole number of bytes")
	}
	return int64(b), nil
}

// FormatSize prints a size with the largest binary suffix that divides it:
// 4096 -> "4k", 67108864 -> "64m", 1000 -> "1000". ParseSize reads it back.
func FormatSize(n int64) string {
	for _, u := range []struct {
		shift  uint
		suffix string
	}{{40, "t"}, {30, "g"}, {20, "m"}, {10, "k"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
