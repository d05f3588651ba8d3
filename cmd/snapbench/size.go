package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes parseSize accepts, all binary (powers of 1024)
// as in dd, qemu-img and LVM: K = KiB = 1024.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tib": 1 << 40,
	"p": 1 << 50, "pib": 1 << 50,
}

// parseSize parses a byte count given on the command line: a whole number
// with an optional binary suffix, case-insensitive: K, M, G, T, P or KiB,
// MiB, GiB, TiB, PiB (all powers of 1024), or B. "64M" and "64MiB" are both
// 67108864. Decimal SI suffixes (KB, MB) are refused as ambiguous.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional suffix K, M, G, T (binary), e.g. 64M", s)
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown suffix %q (use K, M, G, T or KiB, MiB, GiB, TiB: powers of 1024)", s, t[i:])
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * unit, nil
}
